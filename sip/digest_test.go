package sip

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDigestResponseVectors(t *testing.T) {
	cases := []struct {
		name                                             string
		alg, user, realm, pw, method, uri, nonce, nc, cn string
		qop, want                                        string
	}{
		{"RFC2617 MD5 qop=auth", "MD5", "Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
			"dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth", "6629fae49393a05397450978507c4ef1"},
		{"RFC7616 MD5", "MD5", "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth",
			"8ca523f5e9506fed4657c9700eebdbec"},
		{"RFC7616 SHA-256", "SHA-256", "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth",
			"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
		{"RFC2069 no qop", "", "Mufasa", "testrealm@host.com", "CircleOfLife", "GET", "/dir/index.html",
			"dcd98b7102dd2f0e8b11d0f600bfb0c093", "", "", "", "1949323746fe6a43ef61f9606e7febea"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := digestResponse(tc.alg, tc.user, tc.realm, tc.pw, tc.method, tc.uri, tc.nonce, tc.nc, tc.cn, tc.qop)
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
			c := digestCreds{Username: tc.user, Realm: tc.realm, Nonce: tc.nonce, URI: tc.uri, Response: got,
				Algorithm: tc.alg, CNonce: tc.cn, QOP: tc.qop, NC: tc.nc}
			if !verifyDigest(c, tc.method, tc.pw) {
				t.Error("verifyDigest rejected the correct response")
			}
			if verifyDigest(c, tc.method, tc.pw+"x") {
				t.Error("verifyDigest accepted a wrong password")
			}
		})
	}
	if _, err := digestResponse("SHA-512-256", "a", "b", "c", "d", "e", "f", "", "", ""); err == nil {
		t.Error("unsupported algorithm accepted")
	}
}

func TestParseDigestCreds(t *testing.T) {
	h := `Digest username="alice", realm="ynagw", nonce="abc,def", uri="sip:ynagw", response="0123", algorithm=MD5, cnonce="xyz", qop=auth, nc=00000001`
	c, err := parseDigestCreds(h)
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != "alice" || c.Nonce != "abc,def" || c.QOP != "auth" || c.NC != "00000001" || c.Algorithm != "MD5" {
		t.Fatalf("parsed %+v", c)
	}
	for _, bad := range []string{"", "Basic abc", `Digest username="a`, `Digest username="a", nonce="n"`, "Digest ,,,=,"} {
		if _, err := parseDigestCreds(bad); err == nil {
			t.Errorf("parseDigestCreds(%q) want error", bad)
		}
	}
}

func TestNonce(t *testing.T) {
	n := newNonceMaker(time.Minute)
	now := time.Now()
	ip := netip.MustParseAddr("192.0.2.7")
	nonce := n.make(now, ip)
	cases := []struct {
		name  string
		nonce string
		ip    netip.Addr
		at    time.Time
		m     *nonceMaker
		want  nonceVerdict
	}{
		{"fresh", nonce, ip, now.Add(time.Second), n, nonceFresh},
		{"v4-mapped source is the same address", nonce, netip.AddrFrom16(ip.As16()), now, n, nonceFresh},
		{"old", nonce, ip, now.Add(2 * time.Minute), n, nonceStale},
		{"from the future", nonce, ip, now.Add(-2 * time.Minute), n, nonceStale},
		{"other address", nonce, netip.MustParseAddr("192.0.2.8"), now, n, nonceInvalid},
		{"tampered", nonce[:len(nonce)-2] + "AA", ip, now, n, nonceInvalid},
		{"foreign key", nonce, ip, now, newNonceMaker(time.Minute), nonceInvalid},
		{"short", nonce[:10], ip, now, n, nonceInvalid},
		{"not base64", strings.Repeat("*", len(nonce)), ip, now, n, nonceInvalid},
		{"empty", "", ip, now, n, nonceInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, _, _ := tc.m.check(tc.nonce, tc.ip, tc.at); got != tc.want {
				t.Fatalf("verdict %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseNC(t *testing.T) {
	for in, want := range map[string]uint32{"00000001": 1, "0000000a": 10, "FFFFFFFF": 0xffffffff} {
		if got, ok := parseNC(in); !ok || got != want {
			t.Errorf("parseNC(%q) = %d, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "1", "00000000", "0000000g", "000000001", "-0000001"} {
		if _, ok := parseNC(bad); ok {
			t.Errorf("parseNC(%q) accepted", bad)
		}
	}
}

func TestNCTracker(t *testing.T) {
	exp := time.Now().Add(time.Minute)
	var k1, k2 nonceKey
	k2[0] = 1
	steps := []struct {
		key  nonceKey
		nc   uint32
		want ncResult
	}{
		{k1, 1, ncOK},
		{k1, 1, ncReplay}, // the same header again
		{k1, 3, ncOK},
		{k1, 2, ncOK},     // overtaken on the wire, first use
		{k1, 2, ncReplay}, // and again
		{k1, 3, ncReplay},
		{k2, 1, ncOK}, // another nonce is independent
		{k1, 100, ncOK},
		{k1, 37, ncOK},     // 63 below the highest: still in the window
		{k1, 37, ncReplay}, // once
		{k1, 36, ncReplay}, // 64 below: outside the window, refused
		{k1, 300, ncOK},    // a jump beyond the window clears it
		{k1, 299, ncOK},
		{k1, 100, ncReplay},
	}
	tr := newNCTracker(2)
	for i, st := range steps {
		if got := tr.use(st.key, st.nc, exp); got != st.want {
			t.Fatalf("step %d (nc %d): %d, want %d", i, st.nc, got, st.want)
		}
	}
	var k3 nonceKey
	k3[0] = 3
	if got := tr.use(k3, 1, exp); got != ncFull {
		t.Fatalf("third nonce in a tracker of 2: %d, want ncFull", got)
	}
	tr.purge(exp.Add(time.Second))
	if tr.len() != 0 {
		t.Fatalf("purge kept %d", tr.len())
	}
	if got := tr.use(k3, 1, exp.Add(time.Hour)); got != ncOK {
		t.Fatalf("after purge: %d", got)
	}
}

func TestAuthGuardEscalation(t *testing.T) {
	g := newAuthGuard(3, 5*time.Minute, 24*time.Hour)
	k := guardKey{ip: netip.MustParseAddr("192.0.2.7"), user: "alice"}
	other := guardKey{ip: k.ip, user: "bob"}
	now := time.Unix(1_700_000_000, 0)
	var got []time.Duration
	for round := 0; round < 12; round++ {
		for i := 0; i < 2; i++ {
			if _, _, b := g.fail(k, now); b {
				t.Fatalf("round %d: blocked after %d failures", round, i+1)
			}
		}
		until, strikes, b := g.fail(k, now)
		if !b || strikes != round+1 {
			t.Fatalf("round %d: not blocked (strikes %d)", round, strikes)
		}
		if _, blocked := g.blockedUntil(k, now); !blocked {
			t.Fatal("blockedUntil says free during the block")
		}
		if _, blocked := g.blockedUntil(other, now); blocked {
			t.Fatal("another user behind the same address blocked")
		}
		got = append(got, until.Sub(now))
		now = until // the attacker comes back the moment the block ends
		if _, blocked := g.blockedUntil(k, now); blocked {
			t.Fatal("still blocked at the end of the block")
		}
	}
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute,
		160 * time.Minute, 320 * time.Minute, 640 * time.Minute, 1280 * time.Minute, 24 * time.Hour, 24 * time.Hour, 24 * time.Hour}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("block %d lasted %v, want %v (all: %v)", i+1, got[i], want[i], got)
		}
	}
	if l := g.list(now.Add(-time.Second)); len(l) != 1 || l[0].User != "alice" || l[0].Strikes != 12 {
		t.Fatalf("list = %+v", l)
	}
	if n := g.unblock(k.ip, "", true); n != 1 {
		t.Fatalf("unblock cleared %d", n)
	}
	if _, _, b := g.fail(k, now); b {
		t.Fatal("escalation survived unblock")
	}
	// a day without failures starts over
	g2 := newAuthGuard(1, time.Minute, time.Hour)
	g2.fail(k, now)
	g2.fail(k, now.Add(time.Minute))
	until, strikes, _ := g2.fail(k, now.Add(25*time.Hour))
	if strikes != 1 || until.Sub(now.Add(25*time.Hour)) != time.Minute {
		t.Fatalf("after a quiet day: strikes %d, block %v", strikes, until.Sub(now.Add(25*time.Hour)))
	}
	g2.purge(now.Add(50 * time.Hour))
	if len(g2.recs) != 0 {
		t.Fatal("purge kept records")
	}
}
