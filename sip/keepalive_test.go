package sip

import (
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

func TestRegistrarKeepAliveAndExpiry(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		c.Registrar.KeepAlive = 100 * time.Millisecond
		c.Registrar.MinExpires = time.Second
	})
	u := newRawUA(t, s.Addr("udp"))
	registerRaw(t, u, "2")
	if cs := s.Contacts("sip:alice@ynagw"); len(cs) != 1 || cs[0].Source.String() != u.local() {
		t.Fatalf("contacts %+v", cs)
	}
	opt := u.expectRequest("OPTIONS")
	u.reply(opt, 200, "")
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
