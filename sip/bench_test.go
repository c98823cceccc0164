package sip

import (
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
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := n.check(n.make(now), now); !ok {
			b.Fatal("nonce rejected")
		}
	}
}
