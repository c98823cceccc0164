package rtpmedia

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readSDP(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sdp", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func codecNames(cs []Codec) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.String())
	}
	return strings.Join(s, " ")
}

func TestParseSDPRealWorld(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		file      string
		addr      netip.AddrPort
		codecs    string
		dtmfPT    int // -1 = none
		dir       Direction
		ptime     int
		rtcp      netip.AddrPort
		mux, held bool
		proto     string
	}{
		{"sipp_uac.sdp", ap("127.0.0.1:6000"), "PCMU/8000(0)", -1, SendRecv, 0, ap("127.0.0.1:6001"), false, false, "RTP/AVP"},
		{"sipp_uac_pcap.sdp", ap("127.0.0.1:7000"), "PCMA/8000(8) telephone-event/8000(101)", 101, SendRecv, 0, ap("127.0.0.1:7001"), false, false, "RTP/AVP"},
		{"baresip.sdp", ap("127.0.0.1:10000"), "PCMU/8000(0) PCMA/8000(8) telephone-event/8000(101)", 101, SendRecv, 20, ap("127.0.0.1:10001"), false, false, "RTP/AVP"},
		{"cisco_session_sendonly.sdp", ap("127.0.0.1:24580"), "PCMU/8000(0) PCMA/8000(8) G729/8000(18) telephone-event/8000(101)", 101, SendOnly, 0, ap("127.0.0.1:24581"), false, true, "RTP/AVP"},
		{"polycom_hold_zero_addr.sdp", ap("0.0.0.0:2222"), "G722/8000(9) PCMU/8000(0) PCMA/8000(8) G729/8000(18) telephone-event/8000(127)", 127, SendRecv, 0, ap("0.0.0.0:2223"), false, true, "RTP/AVP"},
		{"port_zero_with_video.sdp", ap("127.0.0.1:0"), "PCMU/8000(0) PCMA/8000(8)", -1, SendRecv, 0, netip.AddrPort{}, false, true, "RTP/AVP"},
		{"rtcp_attribute.sdp", ap("127.0.0.1:53000"), "PCMA/8000(8) PCMU/8000(0) telephone-event/8000(101)", 101, RecvOnly, 30, ap("127.0.0.2:53011"), false, false, "RTP/AVP"},
		{"no_trailing_crlf.sdp", ap("127.0.0.1:40000"), "PCMA/8000(8) telephone-event/8000(101)", 101, SendRecv, 0, ap("127.0.0.1:40001"), false, false, "RTP/AVP"},
		{"video_first.sdp", ap("127.0.0.1:5002"), "PCMU/8000(0) telephone-event/8000(101)", 101, SendRecv, 0, ap("127.0.0.1:5003"), false, false, "RTP/AVP"},
		{"webrtc_opus_savpf.sdp", ap("0.0.0.0:9"), "opus/48000(111) red/48000(63) G722/8000(9) PCMU/8000(0) PCMA/8000(8) telephone-event/48000(110) telephone-event/8000(126)", 110, SendRecv, 0, ap("0.0.0.0:9"), true, true, "UDP/TLS/RTP/SAVPF"},
		{"ipv6_inactive.sdp", ap("[::1]:30000"), "PCMU/8000(0) opus/48000(96)", -1, Inactive, 0, ap("[::1]:30001"), false, true, "RTP/AVP"},
		{"dynamic_no_rtpmap.sdp", ap("127.0.0.1:31000"), "/0(97) PCMU/8000(0)", -1, SendRecv, 0, ap("127.0.0.1:31001"), false, false, "RTP/AVP"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			md, err := ParseSDP(readSDP(t, tt.file))
			if err != nil {
				t.Fatalf("ParseSDP: %v", err)
			}
			if md.Addr != tt.addr {
				t.Errorf("Addr = %v, want %v", md.Addr, tt.addr)
			}
			if got := codecNames(md.Codecs); got != tt.codecs {
				t.Errorf("Codecs = %q, want %q", got, tt.codecs)
			}
			switch {
			case tt.dtmfPT < 0 && md.DTMF != nil:
				t.Errorf("DTMF = %v, want none", md.DTMF)
			case tt.dtmfPT >= 0 && (md.DTMF == nil || int(md.DTMF.PayloadType) != tt.dtmfPT):
				t.Errorf("DTMF = %v, want PT %d", md.DTMF, tt.dtmfPT)
			}
			if md.Direction != tt.dir {
				t.Errorf("Direction = %v, want %v", md.Direction, tt.dir)
			}
			if md.PTime != tt.ptime {
				t.Errorf("PTime = %d, want %d", md.PTime, tt.ptime)
			}
			if md.RTCPAddr != tt.rtcp {
				t.Errorf("RTCPAddr = %v, want %v", md.RTCPAddr, tt.rtcp)
			}
			if md.RTCPMux != tt.mux || md.Held != tt.held {
				t.Errorf("RTCPMux/Held = %v/%v, want %v/%v", md.RTCPMux, md.Held, tt.mux, tt.held)
			}
			if md.Proto != tt.proto {
				t.Errorf("Proto = %q, want %q", md.Proto, tt.proto)
			}
		})
	}
}

func TestParseSDPErrors(t *testing.T) {
	tests := []struct {
		name   string
		sdp    string
		want   error
		status int
	}{
		{"empty", "", ErrMalformedSDP, 400},
		{"garbage", "hello world", ErrMalformedSDP, 400},
		{"bad version", "v=1\r\n", ErrMalformedSDP, 400},
		{"bad port", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio abc RTP/AVP 0\r\n", ErrMalformedSDP, 400},
		{"short m line", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 5000\r\n", ErrMalformedSDP, 400},
		{"hostname conn", "v=0\r\nc=IN IP4 pbx.example.com\r\nm=audio 5000 RTP/AVP 0\r\n", ErrMalformedSDP, 400},
		{"ip6 marked ip4", "v=0\r\nc=IN IP4 ::1\r\nm=audio 5000 RTP/AVP 0\r\n", ErrMalformedSDP, 400},
		{"no conn", "v=0\r\nm=audio 5000 RTP/AVP 0\r\n", ErrMalformedSDP, 400},
		{"bad rtcp", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\na=rtcp:x\r\n", ErrMalformedSDP, 400},
		{"no audio", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n", ErrNoAudio, 488},
		{"session only", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", ErrNoAudio, 488},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSDP([]byte(tt.sdp))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var se interface{ SIPStatus() int }
			if !errors.As(err, &se) || se.SIPStatus() != tt.status {
				t.Fatalf("SIPStatus of %v, want %d", err, tt.status)
			}
		})
	}
}

func TestBuildOfferRoundTrip(t *testing.T) {
	cfg := OfferConfig{
		Addr: netip.MustParseAddrPort("127.0.0.1:40002"), PTime: 20, SessionID: 42, Version: 7,
		Username: "ynagw", Direction: SendOnly,
	}
	b, err := BuildOffer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"v=0\r\n", "o=ynagw 42 7 IN IP4 127.0.0.1\r\n", "m=audio 40002 RTP/AVP 0 8 9 101\r\n",
		"a=rtpmap:101 telephone-event/8000\r\n", "a=fmtp:101 0-16\r\n", "a=ptime:20\r\n", "a=sendonly\r\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("offer lacks %q:\n%s", want, s)
		}
	}
	if !strings.HasSuffix(s, "\r\n") {
		t.Error("offer does not end with CRLF")
	}
	md, err := ParseSDP(b)
	if err != nil {
		t.Fatal(err)
	}
	if md.Addr != cfg.Addr || md.Direction != SendOnly || md.PTime != 20 || md.SessionID() != 42 ||
		codecNames(md.Codecs) != "PCMU/8000(0) PCMA/8000(8) G722/8000(9) telephone-event/8000(101)" {
		t.Fatalf("round trip mismatch: %+v", md)
	}
	if _, err := BuildOffer(OfferConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("BuildOffer without address: %v", err)
	}
	v6, err := BuildOffer(OfferConfig{Addr: netip.MustParseAddrPort("[::1]:40004"), Codecs: []Codec{{Name: "opus", PayloadType: 111, ClockRate: 48000, Channels: 2}}})
	if err != nil || !strings.Contains(string(v6), "c=IN IP6 ::1\r\n") || !strings.Contains(string(v6), "a=rtpmap:111 opus/48000/2\r\n") {
		t.Fatalf("IPv6 opus offer: %v\n%s", err, v6)
	}
}

func TestAnswer(t *testing.T) {
	local := OfferConfig{Addr: netip.MustParseAddrPort("127.0.0.1:41000"), SessionID: 1, Version: 1}
	opusLocal := local
	opusLocal.Codecs = []Codec{{Name: "opus", PayloadType: 96, ClockRate: 48000, Channels: 2}, {Name: "PCMA", PayloadType: 8, ClockRate: 8000}, {Name: "telephone-event", PayloadType: 101, ClockRate: 8000}}
	noDTMF := local
	noDTMF.Codecs = []Codec{{Name: "PCMU", ClockRate: 8000}}
	holding := local
	holding.Direction = SendOnly
	const head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	tests := []struct {
		name    string
		offer   string // body after head, or a testdata file name
		local   OfferConfig
		chosen  string
		dtmfPT  int // -1 none
		dir     Direction
		port    uint16
		mlines  int
		wantErr error
	}{
		{"offerer preference PCMA first", "m=audio 5000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n", local, "PCMA/8000(8)", 101, SendRecv, 41000, 1, nil},
		{"G722 with dtmf", "polycom_hold_zero_addr.sdp", local, "G722/8000(9)", 127, RecvOnly, 41000, 1, nil},
		{"baresip", "baresip.sdp", local, "PCMU/8000(0)", 101, SendRecv, 41000, 1, nil},
		{"sendonly hold → recvonly", "cisco_session_sendonly.sdp", local, "PCMU/8000(0)", 101, RecvOnly, 41000, 1, nil},
		{"recvonly → sendonly", "rtcp_attribute.sdp", local, "PCMA/8000(8)", 101, SendOnly, 41000, 1, nil},
		{"inactive → inactive", "m=audio 5000 RTP/AVP 0\r\na=inactive\r\n", local, "PCMU/8000(0)", -1, Inactive, 41000, 1, nil},
		{"we hold: sendrecv ∩ sendonly", "m=audio 5000 RTP/AVP 0\r\n", holding, "PCMU/8000(0)", -1, SendOnly, 41000, 1, nil},
		{"opus with dtmf at 48000", "m=audio 5000 RTP/AVP 111 8 110 126\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n", opusLocal, "opus/48000(111)", 110, SendRecv, 41000, 1, nil},
		{"dtmf only at other rate", "m=audio 5000 RTP/AVP 8 110\r\na=rtpmap:110 telephone-event/48000\r\n", local, "PCMA/8000(8)", -1, SendRecv, 41000, 1, nil},
		{"local without dtmf", "m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n", noDTMF, "PCMU/8000(0)", -1, SendRecv, 41000, 1, nil},
		{"video rejected, audio kept", "video_first.sdp", local, "PCMU/8000(0)", 101, SendRecv, 41000, 2, nil},
		{"disabled stream", "port_zero_with_video.sdp", local, "", -1, SendRecv, 0, 2, nil},
		{"no common codec", "m=audio 5000 RTP/AVP 18 101\r\na=rtpmap:101 telephone-event/8000\r\n", local, "", -1, 0, 0, 0, ErrNoCommonCodec},
		{"unknown dynamic only", "dynamic_no_rtpmap.sdp", opusLocal, "", -1, 0, 0, 0, ErrNoCommonCodec},
		{"SRTP refused", "webrtc_opus_savpf.sdp", local, "", -1, 0, 0, 0, ErrUnsupportedTransport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if strings.HasSuffix(tt.offer, ".sdp") {
				body = readSDP(t, tt.offer)
			} else {
				body = []byte(head + tt.offer)
			}
			offer, err := ParseSDP(body)
			if err != nil {
				t.Fatal(err)
			}
			ans, chosen, dtmf, err := Answer(offer, tt.local)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var se interface{ SIPStatus() int }
				if !errors.As(err, &se) || se.SIPStatus() != 488 {
					t.Fatalf("err %v does not carry 488", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.chosen != "" && chosen.String() != tt.chosen {
				t.Errorf("chosen = %v, want %v", chosen, tt.chosen)
			}
			if tt.chosen == "" && chosen != (Codec{}) {
				t.Errorf("chosen = %v, want none", chosen)
			}
			switch {
			case tt.dtmfPT < 0 && dtmf != nil:
				t.Errorf("dtmf = %v, want none", dtmf)
			case tt.dtmfPT >= 0 && (dtmf == nil || int(dtmf.PayloadType) != tt.dtmfPT):
				t.Errorf("dtmf = %v, want PT %d", dtmf, tt.dtmfPT)
			}
			if n := strings.Count(string(ans), "\nm="); n != tt.mlines {
				t.Errorf("answer has %d m-lines, want %d:\n%s", n, tt.mlines, ans)
			}
			got, err := ParseSDP(ans)
			if err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, ans)
			}
			if got.Addr.Port() != tt.port {
				t.Errorf("answer port %d, want %d", got.Addr.Port(), tt.port)
			}
			if tt.port != 0 {
				if got.Direction != tt.dir {
					t.Errorf("answer direction %v, want %v", got.Direction, tt.dir)
				}
				want := 1
				if tt.dtmfPT >= 0 {
					want = 2
				}
				if len(got.Codecs) != want || got.Codecs[0].PayloadType != chosen.PayloadType {
					t.Errorf("answer codecs %s, want chosen first and %d formats", codecNames(got.Codecs), want)
				}
			}
		})
	}
}

func TestDirection(t *testing.T) {
	tests := []struct {
		d       Direction
		s       string
		answer  Direction
		sends   bool
		recvs   bool
		withRec Direction // Intersect(RecvOnly)
	}{
		{SendRecv, "sendrecv", SendRecv, true, true, RecvOnly},
		{SendOnly, "sendonly", RecvOnly, true, false, Inactive},
		{RecvOnly, "recvonly", SendOnly, false, true, RecvOnly},
		{Inactive, "inactive", Inactive, false, false, Inactive},
	}
	for _, tt := range tests {
		if tt.d.String() != tt.s || tt.d.Answer() != tt.answer || tt.d.Sends() != tt.sends ||
			tt.d.Receives() != tt.recvs || tt.d.Intersect(RecvOnly) != tt.withRec {
			t.Errorf("%v: String %q Answer %v Sends %v Receives %v Intersect %v", tt.d, tt.d.String(), tt.d.Answer(), tt.d.Sends(), tt.d.Receives(), tt.d.Intersect(RecvOnly))
		}
		if d, ok := ParseDirection(tt.s); !ok || d != tt.d {
			t.Errorf("ParseDirection(%q) = %v, %v", tt.s, d, ok)
		}
	}
	if _, ok := ParseDirection("sendrecvx"); ok {
		t.Error("ParseDirection accepted garbage")
	}
}

func FuzzParseSDP(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "sdp"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", "sdp", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	local := OfferConfig{Addr: netip.MustParseAddrPort("127.0.0.1:41000")}
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := ParseSDP(b)
		if err != nil {
			var se interface{ SIPStatus() int }
			if !errors.As(err, &se) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		ans, _, _, err := Answer(md, local)
		if err == nil {
			if _, err := ParseSDP(ans); err != nil {
				t.Fatalf("our answer does not parse: %v\n%s", err, ans)
			}
		}
	})
}

// TestSDPOutcomes: every bad body maps to one clear outcome a UA can send:
// unparseable → ErrMalformedSDP (400), parseable but nothing we can take →
// ErrNoAudio / ErrNoCommonCodec / ErrUnsupportedTransport (488).
func TestSDPOutcomes(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	local := OfferConfig{Addr: netip.MustParseAddrPort("127.0.0.1:41000")}
	tests := []struct {
		name   string
		sdp    string
		want   error
		status int
	}{
		// unparseable: 400
		{"truncated after o=", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n", ErrMalformedSDP, 400},
		{"no s= line", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n", ErrMalformedSDP, 400},
		{"no t= line", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\n", ErrMalformedSDP, 400},
		{"lines out of order", "v=0\r\ns=-\r\no=- 1 1 IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n", ErrMalformedSDP, 400},
		{"line without =", head + "m=audio 5000 RTP/AVP 0\r\nhello\r\n", ErrMalformedSDP, 400},
		{"port out of range", head + "m=audio 70000 RTP/AVP 0\r\n", ErrMalformedSDP, 400},
		{"unknown transport", head + "m=audio 5000 XYZ 0\r\n", ErrMalformedSDP, 400},
		{"unknown media type", head + "m=hologram 5000 RTP/AVP 0\r\n", ErrMalformedSDP, 400},
		// pion only knows the IANA protos of RTP/SCTP/MSRP/BFCP: a T.38 offer does not parse.
		{"T.38 image stream", head + "m=image 5000 udptl t38\r\n", ErrMalformedSDP, 400},
		{"binary junk", "v=0\r\n\x00\x01\x02", ErrMalformedSDP, 400},
		{"oversized", head + "a=x:" + strings.Repeat("y", maxSDPSize) + "\r\n", ErrMalformedSDP, 400},
		{"bad media c= address", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\nc=IN IP4 999.1.1.1\r\n", ErrMalformedSDP, 400},
		{"c= network type", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=XX IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n", ErrMalformedSDP, 400},
		// parseable, nothing acceptable: 488
		{"video only", head + "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n", ErrNoAudio, 488},
		{"no m= line", head, ErrNoAudio, 488},
		{"only G729", head + "m=audio 5000 RTP/AVP 18\r\n", ErrNoCommonCodec, 488},
		{"only telephone-event", head + "m=audio 5000 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n", ErrNoCommonCodec, 488},
		{"no formats", head + "m=audio 5000 RTP/AVP\r\n", ErrNoCommonCodec, 488},
		{"DTLS-SRTP", head + "m=audio 5000 UDP/TLS/RTP/SAVPF 0\r\n", ErrUnsupportedTransport, 488},
		{"TCP RTP", head + "m=audio 5000 TCP/RTP/AVP 0\r\n", ErrUnsupportedTransport, 488},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := ParseSDP([]byte(tt.sdp))
			if err == nil {
				_, _, _, err = Answer(md, local)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var se *Error
			if !errors.As(err, &se) || se.SIPStatus() != tt.status {
				t.Fatalf("SIPStatus of %v, want %d", err, tt.status)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error text spans lines: %q", err)
			}
		})
	}
}

// TestParseSDPWrapsCause: pion's parse error stays reachable through errors.Is/As.
func TestParseSDPWrapsCause(t *testing.T) {
	_, err := ParseSDP([]byte("v=0\r\no=- x 1 IN IP4 127.0.0.1\r\n"))
	var se *Error
	if !errors.As(err, &se) || se.Cause == nil || !errors.Is(err, se.Cause) || !errors.Is(err, ErrMalformedSDP) {
		t.Fatalf("err %v: want ErrMalformedSDP wrapping pion's error", err)
	}
}
