package sip

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// registerAs sends REGISTER as user with password pw (answering the 401) and
// returns the final status code.
func registerAs(t *testing.T, u *rawUA, user, pw, callID string, cseq int) int {
	t.Helper()
	to := func(m string) string { return strings.Replace(m, "To: <sip:2000@", "To: <sip:"+user+"@", 1) }
	u.send(to(u.req("REGISTER", callID, "r", "", cseq, "", "Expires: 600")))
	ch := u.expect(401).GetHeader("WWW-Authenticate").Value()
	creds := answerChallenge(t, ch, user, pw, "REGISTER", "sip:2000@"+u.srv.String())
	u.send(to(u.req("REGISTER", callID, "r", "", cseq+1, "", "Expires: 600", "Authorization: "+creds)))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if res, ok := u.recv(time.Until(deadline)).(*sip.Response); ok && res.StatusCode >= 200 {
			return res.StatusCode
		}
	}
	t.Fatal("no final response to REGISTER")
	return 0
}

func TestSetUsersValidation(t *testing.T) {
	s := newTestServer(t, nil)
	for _, bad := range [][]User{
		{{Username: "x"}},
		{{Username: "x", Password: "p"}, {Username: "x", Password: "q"}},
		{{Password: "p"}},
	} {
		if err := s.SetUsers(bad); err == nil {
			t.Errorf("SetUsers(%v) accepted", bad)
		}
	}
	// a refused list changes nothing
	if s.userByName("alice") == nil || s.userByName("alice").Password != "alicepw" {
		t.Fatal("refused SetUsers changed the users")
	}
	if err := s.SetUsers([]User{{Username: "carol", Password: "c"}}); err != nil {
		t.Fatal(err)
	}
	if u := s.userByName("carol"); u == nil || u.AOR != "sip:carol@ynagw" {
		t.Fatalf("carol = %+v, want default AOR", u)
	}
}

// TestSetUsersReload: a password change applies to the next REGISTER, the old
// password is refused, a removed user's registration is dropped and an
// established call of a kept user survives.
func TestSetUsersReload(t *testing.T) {
	s := newTestServer(t, nil)
	app := &controlledApp{dialogs: make(chan *Dialog, 1)}
	s.SetHandler(app)
	alice := newRawUA(t, s.Addr("udp"))
	bob := newRawUA(t, s.Addr("udp"))
	if code := registerAs(t, alice, "alice", "alicepw", "su-a", 1); code != 200 {
		t.Fatalf("alice REGISTER = %d", code)
	}
	if code := registerAs(t, bob, "bob", "bobpw", "su-b", 1); code != 200 {
		t.Fatalf("bob REGISTER = %d", code)
	}

	// alice's call, authenticated with the old password
	alice.send(alice.req("INVITE", "su-call", "ft", "", 1, rawSDP("sendrecv")))
	r407 := alice.expect(407)
	alice.ackNon2xx(r407)
	creds := answerChallenge(t, r407.GetHeader("Proxy-Authenticate").Value(), "alice", "alicepw", "INVITE", "sip:2000@"+alice.srv.String())
	alice.send(alice.req("INVITE", "su-call", "ft", "", 2, rawSDP("sendrecv"), "Proxy-Authorization: "+creds))
	tag, _ := alice.expect(200).To().Params.Get("tag")
	alice.send(alice.req("ACK", "su-call", "ft", tag, 2, ""))
	var d *Dialog
	select {
	case d = <-app.dialogs:
	case <-time.After(5 * time.Second):
		t.Fatal("no dialog")
	}

	if err := s.SetUsers([]User{{Username: "alice", Password: "newpw"}}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Contacts("bob")); n != 0 {
		t.Errorf("removed user bob still has %d contacts", n)
	}
	if n := len(s.Contacts("alice")); n != 1 {
		t.Errorf("kept user alice has %d contacts, want 1", n)
	}
	if code := registerAs(t, alice, "alice", "alicepw", "su-a", 3); code != 403 {
		t.Errorf("old password: REGISTER = %d, want 403", code)
	}
	if code := registerAs(t, alice, "alice", "newpw", "su-a", 5); code != 200 {
		t.Errorf("new password: REGISTER = %d, want 200", code)
	}
	if code := registerAs(t, bob, "bob", "bobpw", "su-b", 3); code != 403 {
		t.Errorf("removed user: REGISTER = %d, want 403", code)
	}

	// the call is still up: an in-dialog request is answered, then BYE ends it
	select {
	case <-d.Done():
		t.Fatalf("dialog ended by SetUsers: %v", d.Err())
	default:
	}
	alice.send(alice.req("OPTIONS", "su-call", "ft", tag, 3, ""))
	alice.expect(200)
	alice.send(alice.req("BYE", "su-call", "ft", tag, 4, ""))
	alice.expect(200)
	select {
	case <-d.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("BYE did not end the dialog")
	}
}
