package sip

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzParseDigestCreds: the (Proxy-)Authorization parser never panics, and
// whatever it accepts has the mandatory fields and survives verification.
func FuzzParseDigestCreds(f *testing.F) {
	for _, s := range []string{
		`Digest username="alice", realm="ynagw", nonce="abc,def", uri="sip:ynagw", response="0123", algorithm=MD5, cnonce="xyz", qop=auth, nc=00000001`,
		`Digest username="a\"b", realm="r", nonce="n", uri="u", response="r"`,
		`digest username=alice,realm=ynagw,nonce=n,uri=sip:x,response=00`,
		`Digest ,,,=,`, `Digest username="`, `Digest a=b=c`, "Digest \t", `Digest username="x\`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		c, err := parseDigestCreds(h)
		if err != nil {
			return
		}
		if c.Username == "" || c.Nonce == "" || c.Response == "" || c.URI == "" {
			t.Fatalf("accepted without mandatory fields: %+v", c)
		}
		_ = verifyDigest(c, "REGISTER", "pw")
		_, _ = parseNC(c.NC)
	})
}

// FuzzNonceCheck: no input crashes the nonce check, none but the nonces we
// made pass it, and a nonce passes only from the address it was made for.
func FuzzNonceCheck(f *testing.F) {
	n := newNonceMaker(time.Minute)
	now := time.Unix(1_800_000_000, 0)
	ip := netip.MustParseAddr("192.0.2.1")
	good := n.make(now, ip)
	f.Add(good, []byte{192, 0, 2, 1})
	f.Add(good, []byte{192, 0, 2, 2})
	f.Add(good[:len(good)-1]+"A", []byte{192, 0, 2, 1})
	f.Add("", []byte{})
	f.Add(strings.Repeat("A", 43), []byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, nonce string, addr []byte) {
		a, ok := netip.AddrFromSlice(addr)
		if !ok {
			a = ip
		}
		v, _, issued := n.check(nonce, a, now)
		if v == nonceInvalid {
			return
		}
		if a.Unmap() != ip {
			t.Fatalf("nonce %q accepted from %v", nonce, a)
		}
		if v == nonceFresh && !issued.Equal(now) {
			t.Fatalf("forged fresh nonce %q (issued %v)", nonce, issued)
		}
	})
}
