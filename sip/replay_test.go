package sip

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// newRawUAFrom is newRawUA bound to another loopback address (a second host).
func newRawUAFrom(t *testing.T, srv netip.AddrPort, ip string) *rawUA {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawUA{t: t, conn: c, srv: srv}
}

func toUser(m, user string) string {
	return strings.Replace(m, "To: <sip:2000@", "To: <sip:"+user+"@", 1)
}

// registerCreds registers alice from u and returns the Authorization value that worked.
func registerCreds(t *testing.T, u *rawUA, user, pw string) string {
	t.Helper()
	uri := "sip:2000@" + u.srv.String()
	u.send(toUser(u.req("REGISTER", "reg-"+user+u.local(), "a", "", 1, ""), user))
	ch := u.expect(401).GetHeader("WWW-Authenticate").Value()
	creds := answerChallenge(t, ch, user, pw, "REGISTER", uri)
	u.send(toUser(u.req("REGISTER", "reg-"+user+u.local(), "a", "", 2, "", "Authorization: "+creds), user))
	u.expect(200)
	return creds
}

// TestDigestReplayRegister: a REGISTER's Authorization copied into a new
// REGISTER (new Call-ID) is refused, from the same and from another address.
func TestDigestReplayRegister(t *testing.T) {
	s := newTestServer(t, nil)
	u := newRawUA(t, s.Addr("udp"))
	creds := registerCreds(t, u, "alice", "alicepw")

	u.send(toUser(u.req("REGISTER", "replay-same", "b", "", 1, "", "Authorization: "+creds), "alice"))
	u.expect(401)

	other := newRawUAFrom(t, s.Addr("udp"), "127.0.0.2")
	other.send(toUser(other.req("REGISTER", "replay-other", "c", "", 1, "", "Authorization: "+creds), "alice"))
	other.expect(401)

	// the honest phone goes on: its next request with a higher nc is accepted
	next := strings.Replace(creds, "nc=00000001", "nc=00000002", 1)
	p, _ := parseAuthParams(strings.TrimPrefix(creds, "Digest "))
	resp, _ := digestResponse("MD5", "alice", p["realm"], "alicepw", "REGISTER", p["uri"], p["nonce"], "00000002", "abcdef", "auth")
	next = strings.Replace(next, p["response"], resp, 1)
	u.send(toUser(u.req("REGISTER", "reg-alice"+u.local(), "a", "", 3, "", "Authorization: "+next), "alice"))
	u.expect(200)
}

// TestDigestReplayInvite: an INVITE's Proxy-Authorization copied into a new
// INVITE (new Call-ID) gets 407 again, from the same and another address; no
// second call reaches the handler.
func TestDigestReplayInvite(t *testing.T) {
	s := newTestServer(t, nil)
	app := &controlledApp{dialogs: make(chan *Dialog, 4)}
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp"))
	uri := "sip:2000@" + u.srv.String()
	u.send(u.req("INVITE", "inv-1", "a", "", 1, rawSDP("sendrecv")))
	r407 := u.expect(407)
	u.ackNon2xx(r407)
	creds := answerChallenge(t, r407.GetHeader("Proxy-Authenticate").Value(), "alice", "alicepw", "INVITE", uri)
	u.send(u.req("INVITE", "inv-1", "a", "", 2, rawSDP("sendrecv"), "Proxy-Authorization: "+creds))
	res := u.expect(200)
	tag, _ := res.To().Params.Get("tag")
	u.send(u.req("ACK", "inv-1", "a", tag, 2, ""))
	select {
	case <-app.dialogs:
	case <-time.After(5 * time.Second):
		t.Fatal("first call not answered")
	}

	for i, ua := range []*rawUA{u, newRawUAFrom(t, s.Addr("udp"), "127.0.0.2")} {
		cid := fmt.Sprintf("inv-replay-%d", i)
		ua.send(ua.req("INVITE", cid, "r", "", 1, rawSDP("sendrecv"), "Proxy-Authorization: "+creds))
		r := ua.expect(407)
		ua.ackNon2xx(r)
	}
	select {
	case <-app.dialogs:
		t.Fatal("replayed INVITE placed a second call")
	default:
	}
}

// answerChallengeNC is answerChallenge with nonce-count nc: the next request a
// client sends with the same nonce.
func answerChallengeNC(t *testing.T, chal, user, pw, method, uri string, nc int) string {
	t.Helper()
	p, err := parseAuthParams(strings.TrimPrefix(chal, "Digest "))
	if err != nil {
		t.Fatal(err)
	}
	ncs := fmt.Sprintf("%08x", nc)
	resp, err := digestResponse(p["algorithm"], user, p["realm"], pw, method, uri, p["nonce"], ncs, "abcdef", "auth")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s, qop=auth, nc=%s, cnonce="abcdef"`,
		user, p["realm"], p["nonce"], uri, resp, p["algorithm"], ncs)
}
