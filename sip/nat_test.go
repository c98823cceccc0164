package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// recvRequestFrom waits for a request of method on u and returns it with the
// address it came from.
func recvRequestFrom(t *testing.T, u *rawUA, method string) (*sip.Request, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(5 * time.Second)
	_ = u.conn.SetReadDeadline(deadline)
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no %s: %v", method, err)
		}
		msg, err := sip.NewParser().ParseSIP(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		if req, ok := msg.(*sip.Request); ok && string(req.Method) == method {
			return req, netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		}
	}
}

// answerInvite sends 200 OK with SDP to inv from u; extra are header lines.
func answerInvite(u *rawUA, inv *sip.Request, toTag string, extra ...string) {
	res := sip.NewResponseFromRequest(inv, 200, "OK", []byte(rawSDP("sendrecv")))
	res.To().Params.Add("tag", toTag)
	res.AppendHeader(sip.NewHeader("Contact", "<sip:alice@"+u.local()+">"))
	for _, h := range extra {
		name, val, _ := strings.Cut(h, ": ")
		res.AppendHeader(sip.NewHeader(name, val))
	}
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	u.send(res.String())
}

// TestInDialogRequestsLeaveFromListener: a "phone" behind NAT only gets what is
// sent from the address it registered to; the INVITE, ACK, re-INVITE and BYE of
// an outbound call, and the BYE of an inbound call, must leave from the UDP
// listener, also when the next hop (a Record-Route proxy) never sent us anything.
func TestInDialogRequestsLeaveFromListener(t *testing.T) {
	s := newTestServer(t, trunkLoopback)
	listener := s.Addr("udp")
	phone := newRawUA(t, listener)
	registerRaw(t, phone, "600")
	cs := s.Contacts("alice")
	if len(cs) != 1 {
		t.Fatalf("contacts = %v", cs)
	}
	check := func(what string, from netip.AddrPort) {
		t.Helper()
		if from != listener {
			t.Errorf("%s came from %s, want the listener %s", what, from, listener)
		}
	}

	t.Run("outbound", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		oc, err := s.Dial(ctx, DialRequest{
			From: "sip:2000@ynagw", Offer: appSDP(40010, SendRecv, 1),
			Targets: []Target{{URI: cs[0].URI, Destination: cs[0].Source.String()}},
		})
		if err != nil {
			t.Fatal(err)
		}
		inv, from := recvRequestFrom(t, phone, "INVITE")
		check("INVITE", from)
		answerInvite(phone, inv, "ph1")
		_, from = recvRequestFrom(t, phone, "ACK")
		check("ACK", from)
		var d *Dialog
		for ev := range oc.Events() {
			if a, ok := ev.(*AnsweredEvent); ok {
				d = a.Dialog
			}
		}
		if d == nil {
			t.Fatal("not answered")
		}
		reinvDone := make(chan error, 1)
		go func() { _, err := d.ReInvite(ctx, appSDP(40010, SendOnly, 2)); reinvDone <- err }()
		reinv, from := recvRequestFrom(t, phone, "INVITE")
		check("re-INVITE", from)
		phone.reply(reinv, 200, rawSDP("recvonly"))
		_, from = recvRequestFrom(t, phone, "ACK")
		check("re-INVITE ACK", from)
		if err := <-reinvDone; err != nil {
			t.Fatalf("re-INVITE: %v", err)
		}
		byeDone := make(chan error, 1)
		go func() { byeDone <- d.Hangup(ctx, "done") }()
		bye, from := recvRequestFrom(t, phone, "BYE")
		check("BYE", from)
		phone.reply(bye, 200, "")
		if err := <-byeDone; err != nil {
			t.Fatalf("Hangup: %v", err)
		}
	})

	t.Run("outbound via record-route proxy", func(t *testing.T) {
		// the 2xx carries a Record-Route to an edge proxy that never sent us a packet
		proxy := newRawUA(t, listener)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		oc, err := s.Dial(ctx, DialRequest{
			From: "sip:2000@ynagw", Offer: appSDP(40010, SendRecv, 1),
			Targets: []Target{{URI: cs[0].URI, Destination: cs[0].Source.String()}},
		})
		if err != nil {
			t.Fatal(err)
		}
		inv, _ := recvRequestFrom(t, phone, "INVITE")
		answerInvite(phone, inv, "ph2", fmt.Sprintf("Record-Route: <sip:%s;lr>", proxy.local()))
		_, from := recvRequestFrom(t, proxy, "ACK")
		check("ACK via proxy", from)
		var d *Dialog
		for ev := range oc.Events() {
			if a, ok := ev.(*AnsweredEvent); ok {
				d = a.Dialog
			}
		}
		if d == nil {
			t.Fatal("not answered")
		}
		byeDone := make(chan error, 1)
		go func() { byeDone <- d.Hangup(ctx, "done") }()
		bye, from := recvRequestFrom(t, proxy, "BYE")
		check("BYE via proxy", from)
		proxy.reply(bye, 200, "")
		if err := <-byeDone; err != nil {
			t.Fatalf("Hangup: %v", err)
		}
	})

	t.Run("inbound", func(t *testing.T) {
		app := &controlledApp{dialogs: make(chan *Dialog, 1)}
		s.SetHandler(app)
		caller := newRawUA(t, listener)
		d, tag := rawCall(t, caller, app, "nat-in")
		_ = tag
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		byeDone := make(chan error, 1)
		go func() { byeDone <- d.Hangup(ctx, "done") }()
		bye, from := recvRequestFrom(t, caller, "BYE")
		check("inbound BYE", from)
		caller.reply(bye, 200, "")
		if err := <-byeDone; err != nil {
			t.Fatalf("Hangup: %v", err)
		}
	})
}

// TestAdvertisedViaSentBy: behind a port-forward (Advertise), our in-dialog
// requests carry the advertised sent-by in Via and still leave from the listener.
func TestAdvertisedViaSentBy(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		trunkLoopback(c)
		c.Listen = []ListenConfig{{Network: "udp", Addr: "127.0.0.1:0", Advertise: "127.0.0.1:5999"}}
	})
	app := &controlledApp{dialogs: make(chan *Dialog, 1)}
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp"))
	d, _ := rawCall(t, u, app, "adv-via")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	byeDone := make(chan error, 1)
	go func() { byeDone <- d.Hangup(ctx, "done") }()
	bye, from := recvRequestFrom(t, u, "BYE")
	if from != s.Addr("udp") {
		t.Errorf("BYE from %s, want listener %s", from, s.Addr("udp"))
	}
	if v := bye.Via(); v == nil || v.Host != "127.0.0.1" || v.Port != 5999 {
		t.Errorf("BYE Via = %v, want sent-by 127.0.0.1:5999", v)
	}
	u.reply(bye, 200, "") // the raw UA always sends to the real listener
	if err := <-byeDone; err != nil {
		t.Fatalf("Hangup: %v", err)
	}
}

func TestUDPListenerCanReach(t *testing.T) {
	v4 := newUDPListener(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}, "")
	v6 := newUDPListener(&net.UDPAddr{IP: net.IPv6unspecified, Port: 5060}, "")
	for _, tc := range []struct {
		l    *udpListener
		dest string
		want bool
	}{
		{v4, "127.0.0.1:5062", true},
		{v4, "[::1]:5062", false},
		{v4, "[::ffff:127.0.0.1]:5062", true},
		{v4, "pbx.example.com:5060", true},
		{v6, "[::1]:5062", true},
		{v6, "127.0.0.1:5062", true},
	} {
		if got := tc.l.canReach(tc.dest); got != tc.want {
			t.Errorf("%s canReach(%s) = %v, want %v", tc.l.key, tc.dest, got, tc.want)
		}
	}
}
