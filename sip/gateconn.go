package sip

import (
	"io"
	"net"
	"strings"
	"sync"
	"time"

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

	key       string // in s.streams
	stateMu   sync.Mutex
	inflight  int           // requests passed to sipgo and not yet finished by wrap
	changed   chan struct{} // a request finished
	closed    chan struct{} // Close was called
	closeOnce sync.Once
	peerEnd   chan struct{} // the first read error (the peer closed): closed
	stop      chan struct{} // Server.Close: stop holding the end of the stream
	stopOnce  sync.Once
}

// streamHold bounds how long the end of a connection is kept from sipgo while
// requests read on it are still being handled (see gatedConn.waitIdle).
const streamHold = 10 * time.Second

func newGatedConn(c net.Conn, s *Server, network string) *gatedConn {
	g := &gatedConn{Conn: c, s: s, network: network, rbuf: make([]byte, 16<<10),
		key: streamKey(network, c.RemoteAddr().String()), changed: make(chan struct{}, 1), closed: make(chan struct{}),
		peerEnd: make(chan struct{}), stop: make(chan struct{})}
	s.mu.Lock()
	s.streams[g.key] = g
	s.mu.Unlock()
	return g
}

func streamKey(network, remote string) string { return strings.ToLower(network) + "|" + remote }

// streamOf is the gated connection req was read on, or nil.
func (s *Server) streamOf(req *sip.Request) *gatedConn {
	n := sip.NetworkToLower(req.Transport())
	if n != "tcp" && n != "tls" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[streamKey(n, req.Source())]
}

// Close closes the connection and wakes a Read waiting in waitIdle.
func (c *gatedConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.s.mu.Lock()
		if c.s.streams[c.key] == c {
			delete(c.s.streams, c.key)
		}
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// countsInflight: requests whose handling wrap reports back (begin/end).
// ACK and CANCEL are left out: sipgo absorbs those that match a transaction
// without a handler ever seeing them.
func countsInflight(method string) bool { return method != "" && method != "ACK" && method != "CANCEL" }

func (c *gatedConn) begin() {
	c.stateMu.Lock()
	c.inflight++
	c.stateMu.Unlock()
}

// end reports that wrap finished a request read on c (its transaction
// terminated: sipgo's reference to the connection is released).
func (c *gatedConn) end() {
	c.stateMu.Lock()
	if c.inflight > 0 {
		c.inflight--
	}
	c.stateMu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// waitIdle keeps the end of the stream (the peer closed it) from sipgo until
// the requests read on it have been handled, at most streamHold. sipgo's
// reader closes the connection hard when it reads the end, resetting its
// reference count while transactions still hold references: their responses
// were lost (a peer that half-closes after sending) and each late release
// logged "TCP ref went negative".
func (c *gatedConn) waitIdle() {
	t := time.NewTimer(streamHold)
	defer t.Stop()
	for {
		c.stateMu.Lock()
		n := c.inflight
		c.stateMu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-c.changed:
		case <-c.closed:
			return
		case <-c.stop:
			return
		case <-t.C:
			return
		}
	}
}

// closeStreams ends the accepted TCP/TLS connections at shutdown the way a
// peer's close does: their socket is closed and sipgo's reader releases the
// connection itself (each call of gatedConn.Close comes from sipgo); it waits
// for that at most 2 s. sipgo's pool.Clear would close them hard under their
// reader, whose own release then logged "TCP ref went negative". Call it after
// the transactions were terminated (they hold references too).
func (s *Server) closeStreams() {
	s.mu.Lock()
	list := make([]*gatedConn, 0, len(s.streams))
	for _, c := range s.streams {
		list = append(list, c)
	}
	s.mu.Unlock()
	for _, c := range list {
		c.stopOnce.Do(func() { close(c.stop) })
		_ = c.Conn.Close()
	}
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	for _, c := range list {
		select {
		case <-c.closed:
		case <-deadline.C:
			return
		}
	}
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
			c.waitIdle()
			return 0, c.err
		}
		n, err := c.Conn.Read(c.rbuf)
		c.in = append(c.in, c.rbuf[:n]...)
		if err != nil {
			c.err = err
			close(c.peerEnd) // once: c.err stays set
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
			if countsInflight(d.method) {
				c.begin()
			}
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
