package sip

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// registerRaw registers u as alice (digest) with the given Contact expiry.
func registerRaw(t *testing.T, u *rawUA, expires string) {
	t.Helper()
	toAlice := func(m string) string { return strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1) }
	u.send(toAlice(u.req("REGISTER", "ka-reg", "a", "", 1, "", "Expires: "+expires)))
	ch := u.expect(401).GetHeader("WWW-Authenticate").Value()
	creds := answerChallenge(t, ch, "alice", "alicepw", "REGISTER", "sip:2000@"+u.srv.String())
	u.send(toAlice(u.req("REGISTER", "ka-reg", "a", "", 2, "", "Expires: "+expires, "Authorization: "+creds)))
	u.expect(200)
}

func TestRegistrarExpiryPurge(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.Registrar.MinExpires = time.Second })
	start := time.Now()
	u := newRawUA(t, s.Addr("udp"))
	registerRaw(t, u, "2")
	if cs := s.Contacts("sip:alice@ynagw"); len(cs) != 1 || cs[0].Source.String() != u.local() {
		t.Fatalf("contacts %+v", cs)
	}
	// the binding expires after 2s and the housekeeping ticker purges it
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	stored := func() int {
		s.reg.mu.Lock()
		defer s.reg.mu.Unlock()
		return len(s.reg.bindings)
	}
	for stored() != 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("binding not purged after expiry (Registrations=%d)", s.Registrations())
		}
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Fatalf("binding gone after %v, before its 2s expiry", el)
	}
}

func TestRegistrarMultipleContactsAndWildcard(t *testing.T) {
	s := newTestServer(t, nil)
	u := newRawUA(t, s.Addr("udp"))
	toAlice := func(m string) string { return strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1) }
	u.send(toAlice(u.req("REGISTER", "mc", "a", "", 1, "")))
	ch := u.expect(401).GetHeader("WWW-Authenticate").Value()
	uri := "sip:2000@" + u.srv.String()
	creds := answerChallenge(t, ch, "alice", "alicepw", "REGISTER", uri)
	m := toAlice(u.req("REGISTER", "mc", "a", "", 2, "", "Authorization: "+creds,
		"Contact: <sip:alice@127.0.0.1:6001>;expires=100, <sip:alice@127.0.0.1:6002>"))
	u.send(m)
	res := u.expect(200)
	if got := len(res.GetHeaders("Contact")); got != 3 { // raw UA's own Contact + 2
		t.Fatalf("200 lists %d contacts, want 3: %s", got, res)
	}
	if n := len(s.Contacts("alice")); n != 3 {
		t.Fatalf("%d bindings, want 3", n)
	}
	// Contact: * with Expires: 0 removes them all
	// (the same nonce again needs the next nonce-count: nc=1 again would be a replay)
	creds = answerChallengeNC(t, ch, "alice", "alicepw", "REGISTER", uri, 2)
	wild := strings.Replace(toAlice(u.req("REGISTER", "mc", "a", "", 3, "", "Authorization: "+creds, "Expires: 0")),
		"Contact: <sip:raw@"+u.local()+">", "Contact: *", 1)
	u.send(wild)
	u.expect(200)
	if n := s.Registrations(); n != 0 {
		t.Fatalf("%d bindings after *", n)
	}
}

// TestNoAckTimerH: a 200 that is never ACKed is retransmitted, then the dialog is
// ended with BYE and Answer returns ErrNoAck.
func TestNoAckTimerH(t *testing.T) {
	t1, t2, t4 := sip.T1, sip.T2, sip.T4
	sip.SetTimers(10*time.Millisecond, 40*time.Millisecond, 50*time.Millisecond)
	defer sip.SetTimers(t1, t2, t4)
	s := newTestServer(t, trunkLoopback)
	app := newTestApp(t, "", false)
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp"))
	u.send(u.req("INVITE", "noack", "ft", "", 1, rawSDP("sendrecv")))
	u.expect(200)
	retrans := 0
	for {
		m := u.recv(3 * time.Second)
		if m == nil {
			t.Fatal("no BYE after Timer H")
		}
		if res, ok := m.(*sip.Response); ok && res.StatusCode == 200 {
			retrans++
			continue
		}
		if req, ok := m.(*sip.Request); ok && req.Method == sip.BYE {
			u.reply(req, 200, "")
			break
		}
	}
	if retrans < 3 {
		t.Errorf("only %d 2xx retransmissions", retrans)
	}
	r := app.next(t, 5*time.Second)
	if r.answerErr == nil || !strings.Contains(r.answerErr.Error(), "ACK") {
		t.Fatalf("answer err = %v, want ErrNoAck", r.answerErr)
	}
}

func TestRegisterSHA256(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.DigestAlgorithms = []string{"SHA-256", "MD5"} })
	u := newRawUA(t, s.Addr("udp"))
	toAlice := func(m string) string { return strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1) }
	u.send(toAlice(u.req("REGISTER", "sha", "a", "", 1, "")))
	chs := u.expect(401).GetHeaders("WWW-Authenticate")
	if len(chs) != 2 || !strings.Contains(chs[0].Value(), "algorithm=SHA-256") || !strings.Contains(chs[1].Value(), "algorithm=MD5") {
		t.Fatalf("challenges %v", chs)
	}
	creds := answerChallenge(t, chs[0].Value(), "alice", "alicepw", "REGISTER", "sip:2000@"+u.srv.String())
	u.send(toAlice(u.req("REGISTER", "sha", "a", "", 2, "", "Authorization: "+creds)))
	u.expect(200)
	if s.Registrations() != 1 {
		t.Fatal("no binding after SHA-256 REGISTER")
	}
}

// TestTrunkDigestAndLateOffer: a trunk that needs digest on top of its IP allow-list
// (407), sends an INVITE without SDP; our 200 carries the offer, the ACK the answer.
func TestTrunkDigestAndLateOffer(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		c.Trunks = []Trunk{{Name: "pbx-auth", AllowFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Username: "gw", Password: "gwpw"}}
	})
	app := &controlledApp{dialogs: make(chan *Dialog, 1)}
	trunkName := make(chan string, 1)
	s.SetHandler(HandlerFunc(func(ctx context.Context, c *InboundCall) {
		trunkName <- c.Trunk()
		if c.Offer() != nil {
			_ = c.Reject(488, "expected late offer")
			return
		}
		app.HandleInvite(ctx, c)
	}))
	u := newRawUA(t, s.Addr("udp"))
	u.send(u.req("INVITE", "late", "ft", "", 1, ""))
	r407 := u.expect(407)
	ch := r407.GetHeader("Proxy-Authenticate").Value()
	u.ackNon2xx(r407)
	creds := answerChallenge(t, ch, "gw", "gwpw", "INVITE", "sip:2000@"+u.srv.String())
	u.send(u.req("INVITE", "late", "ft", "", 2, "", "Proxy-Authorization: "+creds))
	res := u.expect(200)
	if !strings.Contains(string(res.Body()), "m=audio 40002") {
		t.Fatalf("200 without our offer: %s", res.Body())
	}
	tag, _ := res.To().Params.Get("tag")
	u.send(u.req("ACK", "late", "ft", tag, 2, rawSDP("sendrecv")))
	var d *Dialog
	select {
	case d = <-app.dialogs:
	case <-time.After(5 * time.Second):
		t.Fatal("no dialog")
	}
	if got := <-trunkName; got != "pbx-auth" {
		t.Errorf("Trunk() = %q", got)
	}
	if !strings.Contains(string(d.RemoteSDP()), "o=raw") {
		t.Errorf("RemoteSDP = %q, want the ACK's answer", d.RemoteSDP())
	}
	u.send(u.req("BYE", "late", "ft", tag, 3, ""))
	u.expect(200)
	<-d.Done()
}

func TestRejectWithReason(t *testing.T) {
	s := newTestServer(t, trunkLoopback)
	s.SetHandler(newTestApp(t, "reject", false))
	u := newRawUA(t, s.Addr("udp"))
	u.send(u.req("INVITE", "rej", "ft", "", 1, rawSDP("sendrecv")))
	res := u.expect(486)
	if h := res.GetHeader("Reason"); h == nil || !strings.Contains(h.Value(), `text="busy test"`) {
		t.Fatalf("Reason = %v", h)
	}
	u.ackNon2xx(res)
	// the ACK matched the INVITE transaction: no 486 retransmission follows (T1 = 500ms)
	if m := u.recv(1200 * time.Millisecond); m != nil {
		t.Fatalf("after ACK got %v", m)
	}
}

func TestProgress183WithSDP(t *testing.T) {
	s := newTestServer(t, trunkLoopback)
	answered := make(chan *Dialog, 1)
	s.SetHandler(HandlerFunc(func(ctx context.Context, c *InboundCall) {
		if err := c.Progress(ctx, 183, appSDP(40004, SendRecv, 1)); err != nil {
			t.Errorf("Progress: %v", err)
		}
		if err := c.Progress(ctx, 200, nil); err == nil {
			t.Error("Progress(200) accepted")
		}
		d, err := c.Answer(ctx, appSDP(40004, SendRecv, 1))
		if err != nil {
			t.Errorf("Answer: %v", err)
			return
		}
		if _, err := c.Answer(ctx, appSDP(40004, SendRecv, 1)); err == nil {
			t.Error("second Answer accepted")
		}
		answered <- d
	}))
	u := newRawUA(t, s.Addr("udp"))
	u.send(u.req("INVITE", "p183", "ft", "", 1, rawSDP("sendrecv")))
	res := u.expect(183)
	if !strings.Contains(string(res.Body()), "m=audio 40004") || res.GetHeader("Content-Type") == nil {
		t.Fatalf("183 without SDP: %s", res)
	}
	ok := u.expect(200)
	tag, _ := ok.To().Params.Get("tag")
	if t183, _ := res.To().Params.Get("tag"); t183 != tag {
		t.Errorf("183 to-tag %q != 200 to-tag %q", t183, tag)
	}
	u.send(u.req("ACK", "p183", "ft", tag, 1, ""))
	d := <-answered
	go func() { _ = d.Hangup(context.Background(), "") }()
	u.reply(u.expectRequest("BYE"), 200, "")
	<-d.Done()
}

// TestSessionRefreshFailureEndsDialog: we are the refresher; the peer answers our
// refresh UPDATE with 500, so the dialog is ended with BYE and TerminatedEvent.
func TestSessionRefreshFailureEndsDialog(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		trunkLoopback(c)
		c.SessionTimer = SessionTimerConfig{Enabled: true, Expires: 60 * time.Second, MinSE: time.Second}
	})
	app := &controlledApp{dialogs: make(chan *Dialog, 1)}
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp"))
	u.send(u.req("INVITE", "stfail", "ft", "", 1, rawSDP("sendrecv"), "Supported: timer", "Session-Expires: 2;refresher=uas", "Allow: INVITE, ACK, BYE, UPDATE"))
	res := u.expect(200)
	if h := res.GetHeader("Session-Expires"); h == nil || h.Value() != "2;refresher=uas" {
		t.Fatalf("Session-Expires = %v", h)
	}
	tag, _ := res.To().Params.Get("tag")
	u.send(u.req("ACK", "stfail", "ft", tag, 1, ""))
	d := <-app.dialogs
	upd := u.expectRequest("UPDATE")
	if !strings.Contains(string(upd.Body()), "m=audio 40002") {
		t.Errorf("refresh UPDATE does not carry our current SDP: %q", upd.Body())
	}
	u.reply(upd, 500, "")
	u.reply(u.expectRequest("BYE"), 200, "")
	var term *TerminatedEvent
	for ev := range d.Events() {
		if te, ok := ev.(*TerminatedEvent); ok {
			term = te
		}
	}
	if term == nil || !errors.Is(term.Err, ErrSessionExpired) || StatusOf(term.Err) != 500 {
		t.Fatalf("TerminatedEvent = %#v", term)
	}
}

func TestAdvertiseAndHandlerPanic(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		trunkLoopback(c)
		c.Listen = []ListenConfig{{Network: "udp", Addr: "127.0.0.1:0", Advertise: "127.0.0.1:5999"}}
	})
	s.SetHandler(HandlerFunc(func(ctx context.Context, c *InboundCall) { panic("handler bug") }))
	u := newRawUA(t, s.Addr("udp"))
	u.send(u.req("INVITE", "adv", "ft", "", 1, rawSDP("sendrecv")))
	u.expect(500)
	// the advertised address is what the Contact carries
	if c := s.dialogUA("udp").ContactHDR.Address; c.Host != "127.0.0.1" || c.Port != 5999 {
		t.Fatalf("contact %v", c)
	}
}

func TestKeepAliveDropsDeadContact(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		c.Registrar.KeepAlive = 100 * time.Millisecond
	})
	u := newRawUA(t, s.Addr("udp"))
	registerRaw(t, u, "600")
	if s.Registrations() != 1 {
		t.Fatal("not registered")
	}
	opt := u.expectRequest("OPTIONS")
	if opt.Recipient.Host != "127.0.0.1" {
		t.Errorf("keep-alive to %v", opt.Recipient)
	}
	u.reply(opt, 200, "")
	_ = u.conn.Close() // the phone disappears: keep-alives go unanswered
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for s.Registrations() != 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("dead contact kept after failed keep-alives")
		}
	}
}

// TestReAckRetransmitted2xx: a retransmitted 2xx to our re-INVITE is ACKed again.
func TestReAckRetransmitted2xx(t *testing.T) {
	s := newTestServer(t, trunkLoopback)
	app := &controlledApp{dialogs: make(chan *Dialog, 1)}
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp"))
	d, _ := rawCall(t, u, app, "reack")
	done := make(chan error, 1)
	go func() {
		_, err := d.ReInvite(context.Background(), appSDP(40002, SendOnly, 2))
		done <- err
	}()
	inv := u.expectRequest("INVITE")
	res := sip.NewResponseFromRequest(inv, 200, "OK", []byte(rawSDP("recvonly")))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	u.send(res.String())
	a1 := u.expectRequest("ACK")
	if err := <-done; err != nil {
		t.Fatalf("ReInvite: %v", err)
	}
	u.send(res.String()) // retransmission
	a2 := u.expectRequest("ACK")
	if a1.CSeq().SeqNo != inv.CSeq().SeqNo || a2.CSeq().SeqNo != inv.CSeq().SeqNo {
		t.Fatalf("ACK CSeqs %d/%d for INVITE %d", a1.CSeq().SeqNo, a2.CSeq().SeqNo, inv.CSeq().SeqNo)
	}
}
