package sip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// sourceChecker reads everything u receives and fails the test for any datagram
// that did not come from the listener.
type sourceChecker struct {
	t        *testing.T
	u        *rawUA
	listener netip.AddrPort
	seen     int
}

// next returns the next message matching want (others are checked and skipped).
func (c *sourceChecker) next(what string, want func(sip.Message) bool) sip.Message {
	c.t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(5 * time.Second)
	_ = c.u.conn.SetReadDeadline(deadline)
	for {
		n, from, err := c.u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			c.t.Fatalf("no %s: %v", what, err)
		}
		msg, err := sip.NewParser().ParseSIP(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		c.seen++
		if from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port()); from != c.listener {
			c.t.Errorf("message came from %s, not the listener %s:\n%s", from, c.listener, msg)
		}
		if want(msg) {
			return msg
		}
	}
}

func (c *sourceChecker) response(code int, method string) *sip.Response {
	c.t.Helper()
	return c.next(method+" "+StatusText(code), func(m sip.Message) bool {
		r, ok := m.(*sip.Response)
		return ok && r.StatusCode == code && r.CSeq() != nil && string(r.CSeq().MethodName) == method
	}).(*sip.Response)
}

func (c *sourceChecker) request(method string) *sip.Request {
	c.t.Helper()
	return c.next(method, func(m sip.Message) bool {
		r, ok := m.(*sip.Request)
		return ok && string(r.Method) == method
	}).(*sip.Request)
}

// udpReaders counts sipgo's readers of UDP sockets it bound itself (one per
// throwaway socket; the listener's reader is readListenerConnection).
func udpReaders() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "(*TransportUDP).readUDPConnection(")
}

// dropPoolEntry simulates sipgo losing the pool entry of a peer (replaced by,
// then deleted with, a throwaway connection): before the fix, sipgo's listener
// reader re-added the peer only when the previous datagram came from elsewhere,
// so every later answer to the peer left from a new 0.0.0.0 socket.
func dropPoolEntry(s *Server, peer string) { s.ua.TransportLayer().Pool("udp").Delete(peer) }

// TestEverythingLeavesFromListener: over a whole inbound call (INVITE, re-INVITE
// both ways, a retransmitted BYE) every response and request the peer receives
// comes from the UDP listener, also after sipgo lost the peer's pool entry, and
// sipgo binds no extra UDP socket.
func TestEverythingLeavesFromListener(t *testing.T) {
	base := udpReaders()
	s := newTestServer(t, trunkLoopback)
	app := &controlledApp{dialogs: make(chan *Dialog, 1)}
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp"))
	c := &sourceChecker{t: t, u: u, listener: s.Addr("udp")}

	dropPoolEntry(s, u.local()) // harmless before the first datagram; and again below
	u.send(u.req("INVITE", "pin1", "ft", "", 1, rawSDP("sendrecv")))
	tag, _ := c.response(200, "INVITE").To().Params.Get("tag")
	u.send(u.req("ACK", "pin1", "ft", tag, 1, ""))
	var d *Dialog
	select {
	case d = <-app.dialogs:
	case <-time.After(5 * time.Second):
		t.Fatal("no dialog")
	}

	// the peer's re-INVITE, answered after the pool entry was lost
	dropPoolEntry(s, u.local())
	u.send(u.req("INVITE", "pin1", "ft", tag, 2, rawSDP("sendonly")))
	ev, ok := nextEvent(t, d).(*OfferEvent)
	if !ok {
		t.Fatalf("want OfferEvent, got %#v", ev)
	}
	if err := ev.Respond(200, appSDP(40002, RecvOnly, 2)); err != nil {
		t.Fatal(err)
	}
	c.response(200, "INVITE")
	u.send(u.req("ACK", "pin1", "ft", tag, 2, ""))
	if _, ok := nextEvent(t, d).(*AckEvent); !ok {
		t.Fatal("no AckEvent")
	}

	// our re-INVITE and its ACK
	dropPoolEntry(s, u.local())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reinv := make(chan error, 1)
	go func() { _, err := d.ReInvite(ctx, appSDP(40002, SendRecv, 3)); reinv <- err }()
	inv := c.request("INVITE")
	u.reply(inv, 200, rawSDP("sendrecv"))
	c.request("ACK")
	if err := <-reinv; err != nil {
		t.Fatalf("ReInvite: %v", err)
	}

	// the peer's BYE, sent twice (a retransmission gets the same 200 again)
	dropPoolEntry(s, u.local())
	bye := u.req("BYE", "pin1", "ft", tag, 3, "")
	u.send(bye)
	c.response(200, "BYE")
	u.send(bye)
	c.response(200, "BYE")
	for {
		if _, ok := nextEvent(t, d).(*TerminatedEvent); ok {
			break
		}
	}
	if c.seen < 6 {
		t.Errorf("peer got %d messages, want at least 6", c.seen)
	}
	if n := udpReaders() - base; n != 0 {
		t.Errorf("sipgo bound %d extra UDP sockets", n)
	}
}

// TestCloseKeepsUDPPoolEntries: sipgo handles each request in a goroutine of
// its own and looks up the connection to answer on only there; one that runs
// after Close used to find an empty pool and bind a socket whose reader nothing
// stopped. After Close the pool still answers for the listener and every peer
// it heard from, with a connection whose writes fail.
func TestCloseKeepsUDPPoolEntries(t *testing.T) {
	base := udpReaders()
	s := newTestServer(t, trunkLoopback)
	u := newRawUA(t, s.Addr("udp"))
	c := &sourceChecker{t: t, u: u, listener: s.Addr("udp")}
	u.send(u.req("OPTIONS", "pin2", "ft", "", 1, ""))
	c.response(200, "OPTIONS")
	_ = s.Close()

	for _, addr := range []string{u.local(), s.Addr("udp").String()} {
		conn, err := s.ua.TransportLayer().GetConnection("udp", addr)
		if err != nil {
			t.Fatalf("no pool entry for %s after Close: %v", addr, err)
		}
		res := sip.NewResponse(200, "OK")
		res.SetDestination(u.local())
		if err := conn.WriteMsg(res); !errors.Is(err, net.ErrClosed) {
			t.Errorf("write on %s after Close: %v, want net.ErrClosed", addr, err)
		}
	}
	// a request after Close fails instead of binding a socket
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: u.conn.LocalAddr().(*net.UDPAddr).Port})
	req.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-pin2"))
	if _, err := (listenerRequester{s: s}).Request(context.Background(), req); err == nil {
		t.Error("request after Close succeeded")
	}
	if n := udpReaders() - base; n != 0 {
		t.Errorf("sipgo bound %d extra UDP sockets", n)
	}
}
