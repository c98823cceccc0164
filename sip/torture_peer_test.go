package sip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// tortureResult is what a raw message sent to the server got back.
type tortureResult struct {
	// finals are the final status codes of the responses received for the
	// message (not the probe), one per (Call-ID, CSeq, code): retransmissions
	// are counted once. Sorted.
	finals []int
	// closed reports that the server closed the TCP connection.
	closed bool
}

func (r tortureResult) String() string {
	s := fmt.Sprint(r.finals)
	if r.closed {
		s += " closed"
	}
	return s
}

// topViaRe finds the sent-by of a Via header line (long or compact name, any
// version and transport token, folded or not).
var topViaRe = regexp.MustCompile(`(?im)^((?:via|v)[ \t]*:\s*SIP\s*/\s*\d+\.\d+\s*/\s*[A-Za-z]+\s+)([^;,\s]+)`)

// retargetTopVia rewrites the sent-by of the first Via header of raw's header
// section to local, so that a UDP response comes back to the test's socket.
func retargetTopVia(raw []byte, local string) []byte {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(raw)
	}
	loc := topViaRe.FindSubmatchIndex(raw[:end])
	if loc == nil {
		return raw
	}
	out := append([]byte(nil), raw[:loc[4]]...)
	out = append(out, local...)
	return append(out, raw[loc[5]:]...)
}

// probeOptions is an OPTIONS request from local over transport ("UDP"/"TCP").
func probeOptions(srv netip.AddrPort, local, transport, callID string) []byte {
	return []byte(fmt.Sprintf("OPTIONS sip:ynagw@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/%s %s;branch=z9hG4bK-probe-%s\r\n"+
		"From: <sip:probe@127.0.0.1>;tag=probe\r\nTo: <sip:ynagw@%s>\r\nCall-ID: %s\r\n"+
		"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", srv, transport, local, callID, srv, callID))
}

// finalSet collects final responses, once per (Call-ID, CSeq, code).
type finalSet struct {
	mu    sync.Mutex
	seen  map[string]bool
	codes []int
}

func (f *finalSet) add(res *sip.Response) {
	if res.StatusCode < 200 {
		return
	}
	k := fmt.Sprintf("%v|%v|%d", res.CallID(), res.CSeq(), res.StatusCode)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	if !f.seen[k] {
		f.seen[k] = true
		f.codes = append(f.codes, res.StatusCode)
	}
}

func (f *finalSet) sorted() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]int(nil), f.codes...)
	sort.Ints(out)
	return out
}

// tortureQuiet is how long a sender keeps listening, after the server answered
// a probe sent behind the message, for answers it should not get. The probe is
// handled after the message was read, so a reply to the message is normally
// already there; this only bounds the wait for a reply that must not come.
const tortureQuiet = 200 * time.Millisecond

// tortureDeadline bounds the wait for expected answers (a busy machine).
const tortureDeadline = 10 * time.Second

// sendTortureUDP sends raw from a fresh UDP socket, waits until the server
// answered want final responses and a probe OPTIONS sent behind it, then
// listens tortureQuiet for more.
func sendTortureUDP(t *testing.T, srv netip.AddrPort, raw []byte, want int) tortureResult {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	if _, err := c.WriteToUDPAddrPort(retargetTopVia(raw, local), srv); err != nil {
		t.Fatal(err)
	}
	probeID := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	if _, err := c.WriteToUDPAddrPort(probeOptions(srv, local, "UDP", probeID), srv); err != nil {
		t.Fatal(err)
	}
	var finals finalSet
	probed := false
	deadline := time.Now().Add(tortureDeadline)
	buf := make([]byte, 65535)
	for {
		if probed && len(finals.sorted()) >= want {
			// enough: listen a little more for answers that must not come
			if d := time.Now().Add(tortureQuiet); d.Before(deadline) {
				deadline = d
			}
		}
		_ = c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		msg, err := sip.NewParser().ParseSIP(append([]byte(nil), buf[:n]...))
		if err != nil {
			t.Errorf("unparsable datagram from the server: %v\n%s", err, buf[:n])
			continue
		}
		res, ok := msg.(*sip.Response)
		if !ok {
			continue
		}
		if id := res.CallID(); id != nil && id.Value() == probeID {
			if res.StatusCode == 200 {
				probed = true
			}
			continue
		}
		finals.add(res)
	}
	if !probed {
		t.Fatalf("server did not answer the probe OPTIONS over UDP")
	}
	return tortureResult{finals: finals.sorted()}
}

// tcpPeer reads SIP messages from a TCP connection in the background.
type tcpPeer struct {
	conn   net.Conn
	msgs   chan sip.Message
	closed chan struct{} // closed when the server closed the connection (EOF/reset)
}

func dialTCPPeer(t *testing.T, srv netip.AddrPort) *tcpPeer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpPeer{conn: conn, msgs: make(chan sip.Message, 64), closed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(p.closed)
		par := sip.NewParser().NewSIPStream()
		buf := make([]byte, 65535)
		for {
			n, err := conn.Read(buf)
			if n > 0 {
				perr := par.ParseSIPStream(buf[:n], func(m sip.Message) {
					select {
					case p.msgs <- m:
					default:
					}
				})
				if perr != nil && !errors.Is(perr, sip.ErrParseSipPartial) {
					t.Errorf("unparsable TCP data from the server: %v", perr)
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isConnReset(err) {
					t.Logf("tcp read: %v", err)
				}
				return
			}
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); <-done })
	return p
}

func isConnReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// sendTortureTCP sends raw on a fresh TCP connection and waits for want final
// responses (or the server closing the connection); a probe OPTIONS on a second
// connection must be answered; then it listens tortureQuiet for more.
func sendTortureTCP(t *testing.T, srv netip.AddrPort, raw []byte, want int) tortureResult {
	t.Helper()
	p := dialTCPPeer(t, srv)
	local := p.conn.LocalAddr().String()
	if _, err := p.conn.Write(retargetTopVia(raw, local)); err != nil {
		t.Fatal(err)
	}
	probeTCP(t, srv)
	var finals finalSet
	deadline := time.NewTimer(tortureDeadline)
	defer deadline.Stop()
	var quiet <-chan time.Time
	closed := false
	for !closed {
		if quiet == nil && len(finals.sorted()) >= want {
			quiet = time.After(tortureQuiet)
		}
		select {
		case m := <-p.msgs:
			if res, ok := m.(*sip.Response); ok {
				finals.add(res)
			}
			continue
		case <-p.closed:
			closed = true
		case <-quiet:
		case <-deadline.C:
		}
		if !closed {
			break
		}
	}
	// messages parsed just before the close
	for drained := false; !drained; {
		select {
		case m := <-p.msgs:
			if res, ok := m.(*sip.Response); ok {
				finals.add(res)
			}
		default:
			drained = true
		}
	}
	return tortureResult{finals: finals.sorted(), closed: closed}
}

// probeTCP checks that the server answers an OPTIONS on a new TCP connection.
func probeTCP(t *testing.T, srv netip.AddrPort) {
	t.Helper()
	p := dialTCPPeer(t, srv)
	id := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	if _, err := p.conn.Write(probeOptions(srv, p.conn.LocalAddr().String(), "TCP", id)); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(tortureDeadline)
	for {
		select {
		case m := <-p.msgs:
			if res, ok := m.(*sip.Response); ok && res.CallID() != nil && res.CallID().Value() == id && res.StatusCode == 200 {
				_ = p.conn.Close()
				return
			}
		case <-p.closed:
			t.Fatal("server closed the probe's TCP connection")
		case <-deadline:
			t.Fatal("server did not answer the probe OPTIONS over TCP")
		}
	}
}
