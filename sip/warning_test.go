package sip

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// TestRejectWithWarning: the 488 carries the Warning header verbatim (text
// sanitised, agent = domain) besides the Reason; a bad warn code sends nothing.
func TestRejectWithWarning(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		trunkLoopback(c)
		c.Domain = "gw.test"
	})
	badErr := make(chan error, 1)
	s.SetHandler(HandlerFunc(func(ctx context.Context, c *InboundCall) {
		badErr <- c.RejectWithWarning(488, "", 200, "x")
		_ = c.RejectWithWarning(488, `SIP;cause=488;text="SRTP required"`, WarnIncompatibleTransport, "RTP/AVP offered, \"srtp\" required\r\nX-Injected: 1")
	}))
	u := newRawUA(t, s.Addr("udp"))
	u.send(u.req("INVITE", "warn1", "fw", "", 1, rawSDP("sendrecv")))
	res := u.expect(488)
	u.ackNon2xx(res)
	w := res.GetHeader("Warning")
	if w == nil || w.Value() != `302 gw.test "RTP/AVP offered,  srtp  required  X-Injected: 1"` {
		t.Fatalf("Warning = %v", w)
	}
	if r := res.GetHeader("Reason"); r == nil || r.Value() != `SIP;cause=488;text="SRTP required"` {
		t.Fatalf("Reason = %v", r)
	}
	if res.GetHeader("X-Injected") != nil {
		t.Fatal("header injected")
	}
	select {
	case err := <-badErr:
		if !errors.Is(err, ErrBadRequest) {
			t.Fatalf("warn code 200: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not report")
	}
}

// TestInboundCallTransportAndSRTP: the handler learns the transport from the
// connection (a Via claiming TLS over UDP does not count) and the srtp setting
// of the trunk or user the call came from.
func TestInboundCallTransportAndSRTP(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	s := newTestServer(t, func(c *Config) {
		c.Trunks = append(c.Trunks, Trunk{Name: "pbx", AllowFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, SRTP: "required"})
		c.Users = append(c.Users, User{Username: "carol", Password: "pw", SRTP: "optional"})
		c.Listen = append(c.Listen, ListenConfig{Network: "tls", Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile})
	})
	type seen struct{ transport, srtp string }
	got := make(chan seen, 2)
	s.SetHandler(HandlerFunc(func(ctx context.Context, c *InboundCall) {
		got <- seen{c.Transport(), c.SRTP()}
		_ = c.Reject(488, "test")
	}))
	wait := func() seen {
		t.Helper()
		select {
		case g := <-got:
			return g
		case <-time.After(5 * time.Second):
			t.Fatal("no call")
		}
		return seen{}
	}

	u := newRawUA(t, s.Addr("udp"))
	inv := strings.Replace(u.req("INVITE", "tp-udp", "f1", "", 1, rawSDP("sendrecv")), "SIP/2.0/UDP", "SIP/2.0/TLS", 1)
	u.send(inv)
	if g := wait(); g.transport != "udp" || g.srtp != "required" {
		t.Fatalf("udp call: %+v", g)
	}
	u.ackNon2xx(u.expect(488))

	conn, err := tls.Dial("tcp", s.Addr("tls").String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := rawSDP("sendrecv")
	msg := fmt.Sprintf("INVITE sip:2000@%s;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS %s;branch=z9hG4bK-tp-tls\r\n"+
		"From: <sip:pbx@127.0.0.1>;tag=f2\r\nTo: <sip:2000@127.0.0.1>\r\nCall-ID: tp-tls\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:pbx@%s;transport=tls>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		s.Addr("tls"), conn.LocalAddr(), conn.LocalAddr(), len(body), body)
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if g := wait(); g.transport != "tls" || g.srtp != "required" {
		t.Fatalf("tls call: %+v", g)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("no 488 over TLS: %v", err)
		}
		if strings.HasPrefix(line, "SIP/2.0 488") {
			break
		}
	}
	if s.UserSRTP("carol") != "optional" || s.UserSRTP("sip:carol@ynagw") != "optional" || s.UserSRTP("nobody") != "" {
		t.Fatalf("UserSRTP carol=%q nobody=%q", s.UserSRTP("carol"), s.UserSRTP("nobody"))
	}
}

// TestBuildInviteTargetOffer: a target's own offer replaces DialRequest.Offer.
func TestBuildInviteTargetOffer(t *testing.T) {
	req := &DialRequest{From: "<sip:gw@127.0.0.1>", Offer: []byte("shared")}
	var ruri sipmsg.Uri
	if err := sipmsg.ParseUri("sip:alice@127.0.0.1:5070", &ruri); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		target Target
		want   string
	}{
		{Target{URI: "sip:alice@127.0.0.1:5070"}, "shared"},
		{Target{URI: "sip:alice@127.0.0.1:5070", Offer: []byte("own")}, "own"},
	} {
		inv, err := buildInvite(req, tt.target, ruri)
		if err != nil {
			t.Fatal(err)
		}
		if string(inv.Body()) != tt.want || inv.GetHeader("Content-Type") == nil {
			t.Errorf("body %q, want %q", inv.Body(), tt.want)
		}
	}
}
