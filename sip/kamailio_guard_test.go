package sip

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/ynagw/ynagw/internal/kamailio"
)

// newRawUAOn is newRawUA with its socket on the loopback address ip (Linux
// routes all of 127.0.0.0/8 on lo), so peers differ by address.
func newRawUAOn(t *testing.T, srv netip.AddrPort, ip string) *rawUA {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Skipf("cannot bind %s: %v", ip, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawUA{t: t, conn: c, srv: srv}
}

// failRegister sends a REGISTER for alice with a wrong password (answering the
// 401) and returns the final status; extra lines go into both requests.
func failRegister(t *testing.T, u *rawUA, callID string, extra ...string) int {
	t.Helper()
	toAlice := func(m string) string { return strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1) }
	u.send(toAlice(u.req("REGISTER", callID, "x", "", 1, "", extra...)))
	res := nextFinal(t, u)
	if res.StatusCode != 401 {
		return res.StatusCode
	}
	creds := answerChallenge(t, res.GetHeader("WWW-Authenticate").Value(), "alice", "wrong", "REGISTER", "sip:2000@"+u.srv.String())
	u.send(toAlice(u.req("REGISTER", callID, "x", "", 2, "", append(extra, "Authorization: "+creds)...)))
	return nextFinal(t, u).StatusCode
}

// TestKamailioGuardKeysOnPhone: behind Kamailio (Config.Proxies), wrong
// passwords for alice from one client block that client only: the real alice
// behind the same proxy still registers. A client cannot pick the address it
// is blocked under (Kamailio replaces a forged X-Ynagw-Source), and the header
// from a source that is not a proxy is ignored.
func TestKamailioGuardKeysOnPhone(t *testing.T) {
	k := newKamCluster(t, kamailio.Options{}, func(_ int, c *Config) {
		c.AuthFailLimit = 3
		c.Proxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	attacker := newRawUAOn(t, k.p.Addr(), "127.0.0.3")
	forged := "X-Ynagw-Source: sip:127.0.0.9:5060"
	for i := 0; i < 3; i++ {
		// one Call-ID: Kamailio's hash keeps the guesses on one node
		if code := failRegister(t, attacker, "guess", forged); code != 403 {
			t.Fatalf("wrong password %d through Kamailio: %d, want 403", i+1, code)
		}
	}
	if code := failRegister(t, attacker, "guess", forged); code != 403 {
		t.Fatalf("blocked client: %d, want 403", code)
	}
	var blocked []string
	for _, n := range k.nodes {
		for _, b := range n.AuthBlocks() {
			blocked = append(blocked, b.Source.String()+"/"+b.User)
		}
	}
	if len(blocked) == 0 {
		t.Fatal("no node blocked the guessing client")
	}
	for _, b := range blocked {
		if b != "127.0.0.3/alice" {
			t.Errorf("block %s, want only 127.0.0.3/alice (the client behind Kamailio, not a forged or the proxy's address)", b)
		}
	}

	phone := newRawUAOn(t, k.p.Addr(), "127.0.0.2")
	// the same Call-ID as the guesses: Kamailio sends it to the node that blocked
	if code := registerAs(t, phone, "alice", "alicepw", "guess", 10); code != 200 {
		t.Fatalf("the real alice behind the same proxy: %d, want 200", code)
	}

	// straight to a node (not through a proxy) the header counts for nothing
	direct := newRawUAOn(t, k.nodes[0].Addr("udp"), "127.0.0.4")
	for i := 0; i < 3; i++ {
		failRegister(t, direct, "direct-"+string(rune('a'+i)), "X-Ynagw-Source: 127.0.0.5:5060")
	}
	found := false
	for _, b := range k.nodes[0].AuthBlocks() {
		switch b.Source.String() {
		case "127.0.0.4":
			found = true
		case "127.0.0.5":
			t.Errorf("a direct client chose its block address with X-Ynagw-Source")
		}
	}
	if !found {
		t.Errorf("the direct client is not blocked under its own address: %+v", k.nodes[0].AuthBlocks())
	}
}
