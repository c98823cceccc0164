package sip

import (
	"io"
	"net"
	"sync"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// The gate on the sockets: gatedPacketConn wraps the UDP listener socket and
// gatedListener the accepted TCP/TLS connections, so that every message read
// goes through gate (gate.go) before sipgo parses it. Connections sipgo dials
// itself are not gated (sipgo's own handling applies to them).

// refused logs a message the gate did not pass and counts its reply (if any).
func (s *Server) refused(d gateDecision, network string, src net.Addr, replied bool) {
	code := 0
	if replied {
		code = d.code
		s.obs.Response(d.code)
	}
	s.log.Info("sip message refused", zap.String("transport", network), zap.Stringer("source", src),
		zap.Int("code", code), zap.String("reason", d.reason))
}

// isCRLFs reports whether b is only CR and LF bytes (a keep-alive).
func isCRLFs(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// gatedPacketConn passes only datagrams the gate lets through to sipgo and
// answers the refused requests itself.
type gatedPacketConn struct {
	net.PacketConn
	s *Server
}

func newGatedPacketConn(pc net.PacketConn, s *Server) *gatedPacketConn {
	return &gatedPacketConn{PacketConn: pc, s: s}
}

// ReadFrom returns the next datagram the gate passes (possibly normalised).
func (c *gatedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || isCRLFs(b[:n]) {
			return n, addr, err
		}
		d := gate(b[:n], c.s.cfg.UserAgent)
		if d.pass != nil {
			if len(d.pass) <= len(b) {
				n = copy(b, d.pass)
			}
			return n, addr, nil
		}
		replied := false
		if ua, ok := addr.(*net.UDPAddr); ok && d.reply != nil {
			_, werr := c.PacketConn.WriteTo(d.reply, replyUDPAddr(ua, d.via))
			replied = werr == nil
		}
		c.s.refused(d, "udp", addr, replied)
	}
}

// replyUDPAddr is where a response to a request from src with top Via via goes
// (RFC 3261 §18.2.2 with RFC 3581): the source address, at the source port
// when Via has rport, else at the Via port (default 5060).
func replyUDPAddr(src *net.UDPAddr, via *sip.ViaHeader) *net.UDPAddr {
	out := &net.UDPAddr{IP: src.IP, Port: src.Port, Zone: src.Zone}
	if via == nil {
		return out
	}
	if _, ok := via.Params.Get("rport"); ok {
		return out
	}
	out.Port = sip.DefaultUdpPort
	if via.Port > 0 {
		out.Port = via.Port
	}
	return out
}

// gatedListener wraps every accepted connection in a gatedConn.
type gatedListener struct {
	net.Listener
	s       *Server
	network string // "tcp" or "tls"
}

func newGatedListener(ln net.Listener, s *Server, network string) *gatedListener {
	return &gatedListener{Listener: ln, s: s, network: network}
}

// Accept returns the next connection, gated.
func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newGatedConn(c, l.s, l.network), nil
}

// gatedConn frames the stream it reads (streamframe.go) and hands sipgo, one
// Read at a time, each message the gate passes and each keep-alive. A refused
// message is answered here; when the framing is lost the connection ends (the
// peer's next message has no known start).
type gatedConn struct {
	net.Conn
	s       *Server
	network string

	mu     sync.Mutex // Read is called by sipgo's reader only; mu guards against a misuse
	in     []byte     // read and not yet framed
	out    []byte     // what the next Reads hand to sipgo
	outBuf []byte
	rbuf   []byte
	err    error // the read error, returned once in is used up
	broken bool  // framing lost: return io.EOF
}

func newGatedConn(c net.Conn, s *Server, network string) *gatedConn {
	return &gatedConn{Conn: c, s: s, network: network, rbuf: make([]byte, 16<<10)}
}

// Read hands sipgo the next passed message, keep-alive or error.
func (c *gatedConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.out) == 0 {
		if c.broken {
			return 0, io.EOF
		}
		if c.frameOne() {
			continue
		}
		if c.err != nil {
			return 0, c.err
		}
		n, err := c.Conn.Read(c.rbuf)
		c.in = append(c.in, c.rbuf[:n]...)
		if err != nil {
			c.err = err
		}
	}
	n := copy(b, c.out)
	c.out = c.out[n:]
	return n, nil
}

// frameOne takes the next frame from c.in; false when more data is needed.
func (c *gatedConn) frameOne() bool {
	f := nextFrame(c.in, sip.ParseMaxMessageLength)
	switch f.kind {
	case frameMore:
		return false
	case frameKeepAlive:
		c.setOut(c.in[:f.n])
	case frameSkip:
	case frameGarbage:
		c.s.refused(gateDecision{reason: f.reason}, c.network, c.RemoteAddr(), false)
	case frameMessage:
		d := gate(c.in[:f.n], c.s.cfg.UserAgent)
		if d.pass != nil {
			c.setOut(d.pass)
			break
		}
		c.s.refused(d, c.network, c.RemoteAddr(), d.reply != nil && c.write(d.reply))
	case frameBroken:
		start, lines, _, _ := splitHead(c.in)
		d := gateDecision{code: f.code, reason: f.reason + ": connection closed"}
		if classifyStart(start) == startRequest {
			d.reply, d.via = statelessReply(lines, f.code, f.reason, "", c.s.cfg.UserAgent)
		}
		c.s.refused(d, c.network, c.RemoteAddr(), d.reply != nil && c.write(d.reply))
		c.broken = true
		c.in = c.in[:0]
		return true
	}
	c.in = append(c.in[:0], c.in[f.n:]...)
	return true
}

func (c *gatedConn) setOut(b []byte) {
	c.outBuf = append(c.outBuf[:0], b...)
	c.out = c.outBuf
}

// write sends a reply on the connection (a single Write: net.Conn serialises
// it with sipgo's own writes).
func (c *gatedConn) write(b []byte) bool {
	_, err := c.Conn.Write(b)
	return err == nil
}
