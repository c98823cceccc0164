package rtpmedia

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestAnswerSRTPPolicy walks the policy table of sdp_srtp.go: every (offer, srtp,
// signalling) case gives plain RTP, SDES-SRTP (our a=crypto repeats the chosen
// tag and suite) or ErrSRTP (488, also matching ErrUnsupportedTransport).
func TestAnswerSRTPPolicy(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	c80 := "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "\r\n"
	c32 := "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" + key30 + "\r\n"
	cMKI := "a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^20|1:4\r\n"
	cGCM := "a=crypto:4 AEAD_AES_256_GCM inline:" + key30 + "\r\n"
	savp := head + "m=audio 5000 RTP/SAVP 0\r\n"
	savpf := head + "m=audio 5000 RTP/SAVPF 0\r\n"
	avp := head + "m=audio 5000 RTP/AVP 0\r\n"
	const (
		plain = iota
		sdes
		refused
	)
	tests := []struct {
		name   string
		offer  string
		mode   SRTPMode
		secure bool
		want   int
		tag    uint32 // sdes: the tag answered
		proto  string // answer's m= transport
	}{
		{"SAVP off", savp + c80, SRTPOff, true, refused, 0, ""},
		{"SAVP optional", savp + c80, SRTPOptional, true, sdes, 1, "RTP/SAVP"},
		{"SAVP required", savp + c80, SRTPRequired, true, sdes, 1, "RTP/SAVP"},
		{"SAVPF required", savpf + c80, SRTPRequired, true, sdes, 1, "RTP/SAVPF"},
		{"SAVP 32 first", savp + c32 + c80, SRTPRequired, true, sdes, 2, "RTP/SAVP"},
		{"SAVP skips MKI and GCM", savp + cMKI + cGCM + c80, SRTPOptional, true, sdes, 1, "RTP/SAVP"},
		{"SAVP only unusable", savp + cMKI + cGCM, SRTPOptional, true, refused, 0, ""},
		{"SAVP no crypto", savp, SRTPRequired, true, refused, 0, ""},
		{"SAVP over UDP optional", savp + c80, SRTPOptional, false, refused, 0, ""},
		{"SAVP over UDP required", savp + c80, SRTPRequired, false, refused, 0, ""},
		{"AVP+crypto off", avp + c80, SRTPOff, true, plain, 0, "RTP/AVP"},
		{"AVP+crypto optional", avp + c80, SRTPOptional, true, sdes, 1, "RTP/AVP"},
		{"AVP+crypto required", avp + c80, SRTPRequired, true, sdes, 1, "RTP/AVP"},
		{"AVP+crypto over UDP optional", avp + c80, SRTPOptional, false, plain, 0, "RTP/AVP"},
		{"AVP+crypto over UDP required", avp + c80, SRTPRequired, false, refused, 0, ""},
		{"AVP+unusable optional", avp + cMKI, SRTPOptional, true, plain, 0, "RTP/AVP"},
		{"AVP+unusable required", avp + cMKI, SRTPRequired, true, refused, 0, ""},
		{"AVP off", avp, SRTPOff, false, plain, 0, "RTP/AVP"},
		{"AVP optional", avp, SRTPOptional, true, plain, 0, "RTP/AVP"},
		{"AVP required", avp, SRTPRequired, true, refused, 0, ""},
		{"AVP required over UDP", avp, SRTPRequired, false, refused, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := ParseSDP([]byte(tt.offer))
			if err != nil {
				t.Fatal(err)
			}
			local := OfferConfig{Addr: netip.MustParseAddrPort("127.0.0.1:41000"), SRTP: tt.mode, Secure: tt.secure}
			n, err := AnswerSDP(md, local)
			if tt.want == refused {
				var se *Error
				if !errors.Is(err, ErrSRTP) || !errors.Is(err, ErrUnsupportedTransport) || !errors.As(err, &se) || se.SIPStatus() != 488 {
					t.Fatalf("err = %v, want ErrSRTP with 488", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ans, err := ParseSDP(n.SDP)
			if err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, n.SDP)
			}
			if ans.Proto != tt.proto {
				t.Errorf("answer proto %q, want %q", ans.Proto, tt.proto)
			}
			if tt.want == plain {
				if n.SRTP != nil || len(ans.Crypto) != 0 {
					t.Fatalf("plain expected, got keys %+v crypto %+v", n.SRTP, ans.Crypto)
				}
				return
			}
			if n.SRTP == nil || len(ans.Crypto) != 1 {
				t.Fatalf("SDES expected, got keys %+v\n%s", n.SRTP, n.SDP)
			}
			ac := ans.Crypto[0]
			if ac.Tag != tt.tag || ac.Suite != n.SRTP.Suite || !bytes.Equal(ac.Key, n.SRTP.Local) || ac.Usable() != nil {
				t.Errorf("answer crypto %+v, keys %+v", ac, n.SRTP)
			}
			var offered Crypto
			for _, c := range md.Crypto {
				if c.Tag == tt.tag {
					offered = c
				}
			}
			if !bytes.Equal(n.SRTP.Remote, offered.Key) || bytes.Equal(n.SRTP.Local, n.SRTP.Remote) {
				t.Errorf("remote key is not the offer's, or local repeats it")
			}
		})
	}
}

// TestAnswerSRTPUsesOurKey: local.Crypto's key is what the answer carries.
func TestAnswerSRTPUsesOurKey(t *testing.T) {
	md, err := ParseSDP([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/SAVP 0\r\na=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := NewCrypto(1, "")
	n, err := AnswerSDP(md, OfferConfig{Addr: netip.MustParseAddrPort("127.0.0.1:41000"), SRTP: SRTPRequired, Secure: true, Crypto: ours})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(n.SRTP.Local, ours.Key) || !strings.Contains(string(n.SDP), "a=crypto:7 "+ours.Suite+" inline:") {
		t.Fatalf("answer:\n%s", n.SDP)
	}
}

// TestBuildOfferSRTP: our offers per policy, and AnswerSRTP on the peer's answers.
func TestBuildOfferSRTP(t *testing.T) {
	ours, _ := NewCrypto(1, "")
	addr := netip.MustParseAddrPort("127.0.0.1:40002")
	tests := []struct {
		mode   SRTPMode
		secure bool
		proto  string // "" = BuildOffer fails with ErrSRTP
		crypto bool
	}{
		{SRTPOff, true, "RTP/AVP", false},
		{SRTPOff, false, "RTP/AVP", false},
		{SRTPOptional, true, "RTP/AVP", true},
		{SRTPOptional, false, "RTP/AVP", false},
		{SRTPRequired, true, "RTP/SAVP", true},
		{SRTPRequired, false, "", false},
	}
	for _, tt := range tests {
		cfg := OfferConfig{Addr: addr, SRTP: tt.mode, Secure: tt.secure, Crypto: ours}
		b, err := BuildOffer(cfg)
		if tt.proto == "" {
			if !errors.Is(err, ErrSRTP) {
				t.Errorf("%v secure=%v: err %v, want ErrSRTP", tt.mode, tt.secure, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		md, err := ParseSDP(b)
		if err != nil {
			t.Fatal(err)
		}
		if md.Proto != tt.proto || (len(md.Crypto) == 1) != tt.crypto {
			t.Errorf("%v secure=%v: proto %s crypto %v\n%s", tt.mode, tt.secure, md.Proto, md.Crypto, b)
		}
		if tt.crypto && (md.Crypto[0].Tag != 1 || !bytes.Equal(md.Crypto[0].Key, ours.Key)) {
			t.Errorf("offered crypto %+v", md.Crypto[0])
		}
	}
	if _, err := BuildOffer(OfferConfig{Addr: addr, SRTP: SRTPRequired, Secure: true}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("SRTP offer without key: %v", err)
	}
}

func TestAnswerSRTPOfOurOffer(t *testing.T) {
	ours, _ := NewCrypto(1, "")
	theirs, _ := NewCrypto(1, "")
	const head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	cr := func(tag int, suite string) string {
		c := *theirs
		c.Tag, c.Suite = uint32(tag), suite
		return "a=crypto:" + c.String() + "\r\n"
	}
	addr := netip.MustParseAddrPort("127.0.0.1:40002")
	tests := []struct {
		name   string
		mode   SRTPMode
		secure bool
		answer string
		keys   bool
		err    bool
	}{
		{"required SAVP answer", SRTPRequired, true, "m=audio 6000 RTP/SAVP 0\r\n" + cr(1, SuiteAES128SHA1_80), true, false},
		{"required plain answer", SRTPRequired, true, "m=audio 6000 RTP/AVP 0\r\n", false, true},
		{"required wrong tag", SRTPRequired, true, "m=audio 6000 RTP/SAVP 0\r\n" + cr(2, SuiteAES128SHA1_80), false, true},
		{"required wrong suite", SRTPRequired, true, "m=audio 6000 RTP/SAVP 0\r\n" + cr(1, SuiteAES128SHA1_32), false, true},
		{"optional AVP+crypto answer", SRTPOptional, true, "m=audio 6000 RTP/AVP 0\r\n" + cr(1, SuiteAES128SHA1_80), true, false},
		{"optional plain answer", SRTPOptional, true, "m=audio 6000 RTP/AVP 0\r\n", false, false},
		{"optional SAVP answer to AVP offer", SRTPOptional, true, "m=audio 6000 RTP/SAVP 0\r\n" + cr(1, SuiteAES128SHA1_80), false, true},
		{"off SAVP answer", SRTPOff, true, "m=audio 6000 RTP/SAVP 0\r\n" + cr(1, SuiteAES128SHA1_80), false, true},
		{"off crypto ignored", SRTPOff, true, "m=audio 6000 RTP/AVP 0\r\n" + cr(1, SuiteAES128SHA1_80), false, false},
		{"optional over UDP plain", SRTPOptional, false, "m=audio 6000 RTP/AVP 0\r\n" + cr(1, SuiteAES128SHA1_80), false, false},
		{"rejected stream", SRTPRequired, true, "m=audio 0 RTP/AVP 0\r\n", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := ParseSDP([]byte(head + tt.answer))
			if err != nil {
				t.Fatal(err)
			}
			k, err := AnswerSRTP(OfferConfig{Addr: addr, SRTP: tt.mode, Secure: tt.secure, Crypto: ours}, md)
			if tt.err {
				if !errors.Is(err, ErrSRTP) {
					t.Fatalf("err = %v, want ErrSRTP", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (k != nil) != tt.keys {
				t.Fatalf("keys %+v, want keys %v", k, tt.keys)
			}
			if k != nil && (!bytes.Equal(k.Local, ours.Key) || !bytes.Equal(k.Remote, theirs.Key)) {
				t.Fatalf("keys %+v", k)
			}
		})
	}
}
