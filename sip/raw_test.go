package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// rawUA is a minimal UDP SIP peer for protocol edge cases sipp cannot express.
type rawUA struct {
	t    *testing.T
	conn *net.UDPConn
	srv  netip.AddrPort
	seq  atomic.Int64
}

func newRawUA(t *testing.T, srv netip.AddrPort) *rawUA {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawUA{t: t, conn: c, srv: srv}
}

func (u *rawUA) local() string { return u.conn.LocalAddr().String() }

func (u *rawUA) sendRaw(b []byte) {
	u.t.Helper()
	if _, err := u.conn.WriteToUDPAddrPort(b, u.srv); err != nil {
		u.t.Fatal(err)
	}
}

// req builds a request; hdrs are extra header lines ("Name: value").
func (u *rawUA) req(method, callID, fromTag, toTag string, cseq int, body string, hdrs ...string) string {
	to := "<sip:2000@" + u.srv.String() + ">"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:2000@%s SIP/2.0\r\n", method, u.srv)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-raw-%d;rport\r\n", u.local(), u.seq.Add(1))
	fmt.Fprintf(&b, "From: <sip:raw@127.0.0.1>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\n", fromTag, to, callID)
	cm := method
	if method == "ACK" || method == "CANCEL" {
		cm = method
	}
	fmt.Fprintf(&b, "CSeq: %d %s\r\nMax-Forwards: 70\r\nContact: <sip:raw@%s>\r\n", cseq, cm, u.local())
	for _, h := range hdrs {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func (u *rawUA) send(msg string) { u.sendRaw([]byte(msg)) }

// recv returns the next SIP message (nil on timeout).
func (u *rawUA) recv(timeout time.Duration) sip.Message {
	u.t.Helper()
	buf := make([]byte, 65535)
	_ = u.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		n, err := u.conn.Read(buf)
		if err != nil {
			return nil
		}
		msg, err := sip.NewParser().ParseSIP(append([]byte(nil), buf[:n]...))
		if err != nil {
			u.t.Logf("raw UA: unparsable datagram: %v", err)
			continue
		}
		return msg
	}
}

// expect waits for a response with code (skipping 1xx unless code is 1xx).
func (u *rawUA) expect(code int) *sip.Response {
	u.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m := u.recv(time.Until(deadline))
		res, ok := m.(*sip.Response)
		if !ok {
			continue
		}
		if res.StatusCode == code {
			return res
		}
		if res.StatusCode >= 200 {
			u.t.Fatalf("got %d %s, want %d\n%s", res.StatusCode, res.Reason, code, res)
		}
	}
	u.t.Fatalf("no %d response", code)
	return nil
}

// expectRequest waits for a request of method from the server.
func (u *rawUA) expectRequest(method string) *sip.Request {
	u.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if req, ok := u.recv(time.Until(deadline)).(*sip.Request); ok && string(req.Method) == method {
			return req
		}
	}
	u.t.Fatalf("no %s request", method)
	return nil
}

func (u *rawUA) reply(req *sip.Request, code int, body string) {
	res := sip.NewResponseFromRequest(req, code, StatusText(code), []byte(body))
	if body != "" {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	u.send(res.String())
}

// ackNon2xx acknowledges a final non-2xx response inside its INVITE transaction
// (same branch, To tag of the response), so the server stops retransmitting it.
func (u *rawUA) ackNon2xx(res *sip.Response) {
	var b strings.Builder
	fmt.Fprintf(&b, "ACK sip:2000@%s SIP/2.0\r\n", u.srv)
	fmt.Fprintf(&b, "Via: %s\r\n", res.Via().Value())
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\n", res.From().Value(), res.To().Value(), res.CallID().Value())
	fmt.Fprintf(&b, "CSeq: %d ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", res.CSeq().SeqNo)
	u.send(b.String())
}

func rawSDP(dir string) string {
	return "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8\r\na=" + dir + "\r\n"
}

func TestRawErrors(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		c.MaxConcurrentCalls = 1
		c.SessionTimer.MinSE = 90 * time.Second
	})
	u := newRawUA(t, s.Addr("udp"))

	t.Run("OPTIONS", func(t *testing.T) {
		u.t = t
		u.send(u.req("OPTIONS", "opt1", "a", "", 1, ""))
		res := u.expect(200)
		for _, h := range []string{"Allow", "Accept", "Supported"} {
			if res.GetHeader(h) == nil {
				t.Errorf("OPTIONS 200 without %s", h)
			}
		}
		if v, _ := res.Via().Params.Get("rport"); v == "" {
			t.Errorf("rport not filled in: %s", res.Via())
		}
	})
	t.Run("unknown method 405 Allow", func(t *testing.T) {
		u.t = t
		u.send(u.req("SUBSCRIBE", "sub1", "a", "", 1, ""))
		if res := u.expect(405); res.GetHeader("Allow") == nil {
			t.Error("405 without Allow")
		}
	})
	t.Run("Require 420 Unsupported", func(t *testing.T) {
		u.t = t
		u.send(u.req("OPTIONS", "req1", "a", "", 1, "", "Require: 100rel, timer"))
		if h := u.expect(420).GetHeader("Unsupported"); h == nil || h.Value() != "100rel" {
			t.Errorf("Unsupported = %v", h)
		}
	})
	t.Run("BYE unknown dialog 481", func(t *testing.T) {
		u.t = t
		u.send(u.req("BYE", "nodialog", "a", "b", 2, ""))
		u.expect(481)
	})
	t.Run("missing Call-ID 400", func(t *testing.T) {
		u.t = t
		m := strings.Replace(u.req("OPTIONS", "x", "a", "", 1, ""), "Call-ID: x\r\n", "", 1)
		u.send(m)
		u.expect(400)
	})
	t.Run("missing CSeq 400", func(t *testing.T) {
		u.t = t
		m := strings.Replace(u.req("OPTIONS", "x2", "a", "", 1, ""), "CSeq: 1 OPTIONS\r\n", "", 1)
		u.send(m)
		u.expect(400)
	})
	t.Run("garbage dropped", func(t *testing.T) {
		u.t = t
		u.sendRaw([]byte("\x00\x01garbage that is not SIP\r\n\r\n"))
		u.sendRaw([]byte("INVITE\r\n\r\n"))
		if m := u.recv(300 * time.Millisecond); m != nil {
			t.Errorf("garbage answered: %v", m)
		}
		u.send(u.req("OPTIONS", "after-garbage", "a", "", 1, ""))
		u.expect(200)
	})
	t.Run("REGISTER 423 Min-Expires", func(t *testing.T) {
		u.t = t
		toAlice := func(m string) string { return strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1) }
		u.send(toAlice(u.req("REGISTER", "reg423", "a", "", 1, "", "Expires: 5")))
		ch := u.expect(401).GetHeader("WWW-Authenticate").Value()
		creds := answerChallenge(t, ch, "alice", "alicepw", "REGISTER", "sip:2000@"+u.srv.String())
		u.send(toAlice(u.req("REGISTER", "reg423", "a", "", 2, "", "Expires: 5", "Authorization: "+creds)))
		if h := u.expect(423).GetHeader("Min-Expires"); h == nil || h.Value() != "30" {
			t.Errorf("Min-Expires = %v", h)
		}
	})
	t.Run("INVITE 407 then 422 Min-SE", func(t *testing.T) {
		u.t = t
		m := u.req("INVITE", "inv422", "a", "", 1, rawSDP("sendrecv"), "Session-Expires: 30", "Supported: timer")
		u.send(m)
		r407 := u.expect(407)
		ch := r407.GetHeader("Proxy-Authenticate").Value()
		u.ackNon2xx(r407)
		creds := answerChallenge(t, ch, "alice", "alicepw", "INVITE", "sip:2000@"+u.srv.String())
		u.send(u.req("INVITE", "inv422", "a", "", 2, rawSDP("sendrecv"), "Session-Expires: 30", "Supported: timer", "Proxy-Authorization: "+creds))
		if h := u.expect(422).GetHeader("Min-SE"); h == nil || h.Value() != "90" {
			t.Errorf("Min-SE = %v", h)
		}
	})
}

// answerChallenge computes an Authorization value for a Digest challenge.
func answerChallenge(t *testing.T, chal, user, pw, method, uri string) string {
	t.Helper()
	p, err := parseAuthParams(strings.TrimPrefix(chal, "Digest "))
	if err != nil {
		t.Fatal(err)
	}
	alg := p["algorithm"]
	resp, err := digestResponse(alg, user, p["realm"], pw, method, uri, p["nonce"], "00000001", "abcdef", "auth")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s, qop=auth, nc=00000001, cnonce="abcdef"`,
		user, p["realm"], p["nonce"], uri, resp, alg)
}

func TestRawAuthBlock(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.AuthFailLimit = 3; c.AuthBlockFor = time.Minute })
	u := newRawUA(t, s.Addr("udp"))
	uri := "sip:2000@" + u.srv.String()
	for i := 0; i < 3; i++ {
		toAlice := func(m string) string { return strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1) }
		u.send(toAlice(u.req("REGISTER", fmt.Sprintf("blk%d", i), "a", "", 1, "")))
		ch := u.expect(401).GetHeader("WWW-Authenticate").Value()
		creds := answerChallenge(t, ch, "alice", "WRONG", "REGISTER", uri)
		u.send(toAlice(u.req("REGISTER", fmt.Sprintf("blk%d", i), "a", "", 2, "", "Authorization: "+creds)))
		u.expect(403)
	}
	// now even the right password is refused for alice from this source...
	toAlice := func(m string) string { return strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1) }
	u.send(toAlice(u.req("REGISTER", "blk-ok", "a", "", 1, "")))
	ch := u.expect(401).GetHeader("WWW-Authenticate").Value()
	u.send(toAlice(u.req("REGISTER", "blk-ok", "a", "", 2, "", "Authorization: "+answerChallenge(t, ch, "alice", "alicepw", "REGISTER", uri))))
	if res := u.expect(403); res.Reason != "Blocked" {
		t.Fatalf("want 403 Blocked, got %d %s", res.StatusCode, res.Reason)
	}
	// ...while bob behind the same address, and requests without credentials, go on
	registerCreds(t, u, "bob", "bobpw")
	u.send(u.req("OPTIONS", "blk-opt", "a", "", 1, ""))
	u.expect(200)
	if b := s.AuthBlocks(); len(b) != 1 || b[0].User != "alice" || b[0].Strikes != 1 {
		t.Fatalf("AuthBlocks = %+v", b)
	}
	if n := s.Unblock(netip.MustParseAddr("127.0.0.1"), "alice"); n != 1 {
		t.Fatalf("Unblock = %d", n)
	}
	registerCreds(t, u, "alice", "alicepw")
}

func TestRawOverload503(t *testing.T) {
	s := newTestServer(t, func(c *Config) { trunkLoopback(c); c.MaxConcurrentCalls = 1 })
	app := newTestApp(t, "cancel", false) // holds the first call ringing
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp"))
	u.send(u.req("INVITE", "ov1", "a", "", 1, rawSDP("sendrecv")))
	u.expect(180)
	u.send(u.req("INVITE", "ov2", "b", "", 1, rawSDP("sendrecv")))
	if res := u.expect(503); res.GetHeader("Retry-After") == nil {
		t.Error("503 without Retry-After")
	}
	// Close ends the ringing call
	_ = s.Close()
	if r := app.next(t, 5*time.Second); r.callErr == nil {
		t.Fatalf("ringing call not ended by Close: %v", r)
	}
}

// controlledApp hands calls and dialog events to the test.
type controlledApp struct {
	dialogs chan *Dialog
}

func (a *controlledApp) HandleInvite(ctx context.Context, c *InboundCall) {
	d, err := c.Answer(ctx, appSDP(40002, SendRecv, 1))
	if err != nil {
		return
	}
	a.dialogs <- d
}

// rawCall establishes a call from u (trunk) and returns the dialog and the to-tag.
func rawCall(t *testing.T, u *rawUA, app *controlledApp, callID string) (*Dialog, string) {
	t.Helper()
	u.send(u.req("INVITE", callID, "ft", "", 1, rawSDP("sendrecv"), "Allow: INVITE, ACK, BYE, CANCEL, UPDATE"))
	res := u.expect(200)
	tag, _ := res.To().Params.Get("tag")
	u.send(u.req("ACK", callID, "ft", tag, 1, ""))
	select {
	case d := <-app.dialogs:
		return d, tag
	case <-time.After(5 * time.Second):
		t.Fatal("no dialog")
	}
	return nil, ""
}

func nextEvent(t *testing.T, d *Dialog) Event {
	t.Helper()
	select {
	case ev := <-d.Events():
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no dialog event")
	}
	return nil
}

func TestRawReInviteStateMachine(t *testing.T) {
	s := newTestServer(t, trunkLoopback)
	app := &controlledApp{dialogs: make(chan *Dialog, 4)}
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp"))
	d, tag := rawCall(t, u, app, "sm1")

	// 1. re-INVITE #1 (hold) is pending in the user's hands ...
	u.send(u.req("INVITE", "sm1", "ft", tag, 2, rawSDP("sendonly")))
	ev, ok := nextEvent(t, d).(*OfferEvent)
	if !ok || ev.Hold != HeldByRemote || ev.Method != "INVITE" {
		t.Fatalf("want hold OfferEvent, got %#v", ev)
	}
	// 2. ... so a second re-INVITE gets 500 + Retry-After, an UPDATE offer 500 too
	u.send(u.req("INVITE", "sm1", "ft", tag, 3, rawSDP("inactive")))
	if res := u.expect(500); res.GetHeader("Retry-After") == nil {
		t.Error("500 without Retry-After")
	}
	u.send(u.req("UPDATE", "sm1", "ft", tag, 4, rawSDP("inactive")))
	u.expect(500)
	// 3. our own re-INVITE is refused locally while the peer's offer is open
	if _, err := d.ReInvite(context.Background(), appSDP(40002, SendOnly, 2)); err == nil {
		t.Error("ReInvite during a pending remote offer succeeded")
	}
	// 4. the user answers: 200 with exactly the user's SDP
	if err := ev.Respond(200, appSDP(40002, RecvOnly, 2)); err != nil {
		t.Fatal(err)
	}
	if err := ev.Respond(200, appSDP(40002, RecvOnly, 2)); err == nil {
		t.Error("second Respond accepted")
	}
	res := u.expect(200)
	if !strings.Contains(string(res.Body()), "a=recvonly") {
		t.Fatalf("hold answered with %q", res.Body())
	}
	u.send(u.req("ACK", "sm1", "ft", tag, 2, ""))
	if _, ok := nextEvent(t, d).(*AckEvent); !ok {
		t.Fatal("no AckEvent")
	}

	// 5. glare: our re-INVITE is outstanding, the peer's re-INVITE gets 491
	type reRes struct {
		ans []byte
		err error
	}
	done := make(chan reRes, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a, err := d.ReInvite(ctx, appSDP(40002, SendOnly, 3))
		done <- reRes{a, err}
	}()
	ours := u.expectRequest("INVITE")
	u.send(u.req("INVITE", "sm1", "ft", tag, 5, rawSDP("sendonly")))
	u.expect(491)
	// answer ours; the dialog takes the answer
	u.reply(ours, 200, rawSDP("recvonly"))
	ack := u.expectRequest("ACK")
	if ack.CSeq().SeqNo != ours.CSeq().SeqNo {
		t.Errorf("ACK CSeq %d != INVITE CSeq %d", ack.CSeq().SeqNo, ours.CSeq().SeqNo)
	}
	r := <-done
	if r.err != nil || !strings.Contains(string(r.ans), "a=recvonly") {
		t.Fatalf("ReInvite = %q, %v", r.ans, r.err)
	}
	if !strings.Contains(string(d.LocalSDP()), "a=sendonly") {
		t.Errorf("LocalSDP not updated: %s", d.LocalSDP())
	}

	// 6. INFO DTMF (application/dtmf) and unknown INFO type
	info := strings.Replace(u.req("INFO", "sm1", "ft", tag, 6, ""), "Content-Length: 0\r\n\r\n", "Content-Type: application/dtmf\r\nContent-Length: 1\r\n\r\n#", 1)
	u.send(info)
	u.expect(200)
	if e, ok := nextEvent(t, d).(*DTMFEvent); !ok || e.Digit != '#' {
		t.Fatalf("want DTMF #, got %#v", e)
	}

	// 7. late-offer style re-INVITE without SDP: our offer in the 200, answer in the ACK
	u.send(u.req("INVITE", "sm1", "ft", tag, 7, ""))
	ev2, ok := nextEvent(t, d).(*OfferEvent)
	if !ok || ev2.SDP != nil {
		t.Fatalf("want offerless OfferEvent, got %#v", ev2)
	}
	_ = ev2.Respond(200, appSDP(40002, SendRecv, 4))
	u.expect(200)
	ackMsg := strings.Replace(u.req("ACK", "sm1", "ft", tag, 7, rawSDP("sendrecv")), "a=sendrecv", "a=sendrecv", 1)
	u.send(ackMsg)
	if a, ok := nextEvent(t, d).(*AckEvent); !ok || len(a.SDP) == 0 {
		t.Fatalf("want AckEvent with SDP, got %#v", a)
	}
	if !strings.Contains(string(d.RemoteSDP()), "o=raw") {
		t.Error("RemoteSDP not taken from the ACK")
	}

	// 8. old CSeq → 500; then our Hangup sends BYE with Reason
	u.send(u.req("UPDATE", "sm1", "ft", tag, 3, ""))
	u.expect(500)
	go func() { _ = d.Hangup(context.Background(), "test over") }()
	bye := u.expectRequest("BYE")
	if h := bye.GetHeader("Reason"); h == nil || !strings.Contains(h.Value(), "test over") {
		t.Errorf("BYE Reason = %v", h)
	}
	u.reply(bye, 200, "")
	if te, ok := nextEvent(t, d).(*TerminatedEvent); !ok || te.Err != nil {
		t.Fatalf("want TerminatedEvent{nil}, got %#v", te)
	}
	<-d.Done()
	if _, ok := <-d.Events(); ok {
		t.Error("Events not closed after TerminatedEvent")
	}
}
