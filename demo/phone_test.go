package demo

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// The phone sends every request (REGISTER, INVITE, the ACK of a failure) from
// its own listening socket, like a real desk phone: a raw UDP "gateway" checks
// the source port of each one and answers REGISTER 200 and INVITE 486.
func TestPhoneSendsFromListener(t *testing.T) {
	gw, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	p, err := NewPhone("201", "pw", "ynagw.local", gw.LocalAddr().(*net.UDPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	phonePort := p.laddr.Port

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		c   *Call
		err error
	}
	done := make(chan result, 1)
	go func() {
		if err := p.Register(ctx); err != nil {
			done <- result{err: err}
			return
		}
		c, err := p.Dial(ctx, "15551234567", nil)
		done <- result{c, err}
	}()

	for _, want := range []sipmsg.RequestMethod{sipmsg.REGISTER, sipmsg.INVITE, sipmsg.ACK} {
		req, src := readRequest(t, gw)
		if req.Method != want {
			t.Fatalf("got %s, want %s", req.Method, want)
		}
		if src.Port() != uint16(phonePort) {
			t.Errorf("%s came from port %d, want the phone's listener %d", want, src.Port(), phonePort)
		}
		code, reason := 200, "OK"
		switch want {
		case sipmsg.INVITE:
			code, reason = 486, "Busy Here"
		case sipmsg.ACK:
			continue
		}
		res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
		if _, err := gw.WriteTo([]byte(res.String()), net.UDPAddrFromAddrPort(src)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.c.Code != 486 {
			t.Errorf("call code %d, want 486", r.c.Code)
		}
	case <-ctx.Done():
		t.Fatal("Register/Dial did not finish")
	}
}

func readRequest(t *testing.T, c net.PacketConn) (*sipmsg.Request, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 65535)
	for {
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no request from the phone: %v", err)
		}
		msg, err := sipmsg.ParseMessage(buf[:n])
		if err != nil {
			t.Fatalf("bad message: %v", err)
		}
		if req, ok := msg.(*sipmsg.Request); ok {
			return req, from.(*net.UDPAddr).AddrPort()
		}
	}
}
