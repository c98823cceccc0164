package sip

import (
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
	nonce := n.make(now)
	if ok, stale := n.check(nonce, now.Add(time.Second)); !ok || stale {
		t.Fatalf("fresh nonce: ok=%v stale=%v", ok, stale)
	}
	if ok, stale := n.check(nonce, now.Add(2*time.Minute)); !ok || !stale {
		t.Fatalf("old nonce: ok=%v stale=%v", ok, stale)
	}
	if ok, _ := n.check(nonce[:len(nonce)-2]+"AA", now); ok {
		t.Fatal("tampered nonce accepted")
	}
	if ok, _ := newNonceMaker(time.Minute).check(nonce, now); ok {
		t.Fatal("foreign nonce accepted")
	}
}

func TestAuthGuard(t *testing.T) {
	g := newAuthGuard(3, time.Minute)
	ip := sourceAddrFromString("127.0.0.1:5060").Addr()
	now := time.Now()
	for i := 0; i < 2; i++ {
		if g.fail(ip, now) {
			t.Fatal("blocked too early")
		}
	}
	if !g.fail(ip, now) || !g.blocked(ip, now) {
		t.Fatal("not blocked after limit")
	}
	if g.blocked(ip, now.Add(2*time.Minute)) {
		t.Fatal("still blocked after AuthBlockFor")
	}
	g.purge(now.Add(5 * time.Minute))
	if len(g.recs) != 0 {
		t.Fatal("purge kept records")
	}
}
