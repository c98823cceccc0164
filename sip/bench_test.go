package sip

import (
	"net/netip"
	"testing"
	"time"
)

func BenchmarkDetectHold(b *testing.B) {
	sdp := mkSDP("c=IN IP4 127.0.0.1\r\n", "a=rtpmap:0 PCMU/8000\r\na=sendonly\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if h, err := DetectHold(sdp); err != nil || h != HeldByRemote {
			b.Fatal(h, err)
		}
	}
}

func BenchmarkVerifyDigestMD5(b *testing.B) {
	resp, _ := digestResponse("MD5", "alice", "ynagw", "pw", "REGISTER", "sip:ynagw", "nonce", "00000001", "c", "auth")
	c := digestCreds{Username: "alice", Realm: "ynagw", Nonce: "nonce", URI: "sip:ynagw", Response: resp, Algorithm: "MD5", CNonce: "c", QOP: "auth", NC: "00000001"}
	b.ReportAllocs()
	for b.Loop() {
		if !verifyDigest(c, "REGISTER", "pw") {
			b.Fatal("verify failed")
		}
	}
}

func BenchmarkNonce(b *testing.B) {
	n := newNonceMaker(time.Minute)
	now := time.Now()
	ip := netip.MustParseAddr("192.0.2.7")
	b.ReportAllocs()
	for b.Loop() {
		if v, _, _ := n.check(n.make(now, ip), ip, now); v != nonceFresh {
			b.Fatal("nonce rejected")
		}
	}
}

// BenchmarkNCTrackerUse is the per-request cost of the replay check.
func BenchmarkNCTrackerUse(b *testing.B) {
	tr := newNCTracker(0)
	var k nonceKey
	exp := time.Now().Add(time.Hour)
	nc := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		nc++
		if tr.use(k, nc, exp) != ncOK {
			b.Fatal("refused")
		}
	}
}
