package farend

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// sdkOpusFmtp is the opus fmtp the published SDK writes into every local SDP
// (fact sheet §10.2, §18.2).
const sdkOpusFmtp = "minptime=20;useinbandfec=0;cbr=0;maxaveragebitrate=24576"

// sdkWire returns sdp as the published SDK puts it on the wire (fact sheet
// §10.2 as corrected by §18.2): every b=AS line dropped and b=AS:80 put right
// after the m=audio line, the RED fmtp removed, the opus fmtp replaced. The
// browser keeps neither a=ice-lite nor a=ice-options:trickle (§18.2).
func sdkWire(sdp string) string {
	lines, eol := splitLines(sdp)
	opusPT, redPT := "", ""
	for _, l := range lines {
		if m := reRtpmap.FindStringSubmatch(l); m != nil {
			switch strings.ToLower(m[2]) {
			case "opus":
				opusPT = m[1]
			case "red":
				redPT = m[1]
			}
		}
	}
	out := make([]string, 0, len(lines)+1)
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "b=AS:"), l == "a=ice-options:trickle", l == "a=ice-lite":
			continue
		case redPT != "" && strings.HasPrefix(l, "a=fmtp:"+redPT+" "):
			continue
		case opusPT != "" && strings.HasPrefix(l, "a=fmtp:"+opusPT+" "):
			l = "a=fmtp:" + opusPT + " " + sdkOpusFmtp
		}
		out = append(out, l)
		if strings.HasPrefix(l, "m=audio ") {
			out = append(out, "b=AS:80")
		}
	}
	return strings.Join(out, eol) + eol
}

var reRtpmap = regexp.MustCompile(`^a=rtpmap:(\d+) ([^/]+)/`)

// setFmtp replaces (or adds) the fmtp line of payload type pt.
func setFmtp(sdp, pt, params string) string {
	lines, eol := splitLines(sdp)
	out := make([]string, 0, len(lines)+1)
	done := false
	for _, l := range lines {
		if strings.HasPrefix(l, "a=fmtp:"+pt+" ") {
			l, done = "a=fmtp:"+pt+" "+params, true
		}
		out = append(out, l)
		if !done && strings.HasPrefix(l, "a=rtpmap:"+pt+" ") {
			out = append(out, "a=fmtp:"+pt+" "+params)
			done = true
		}
	}
	return strings.Join(out, eol) + eol
}

// TestInboundAnswerWithOtherFmtp: the network offers (opus minptime=10;
// useinbandfec=1, G722, PCMU, PCMA, telephone-event 0-15) and the client
// answers with fmtp that differ from the offer, as the SDK does (§18.9). The
// far end must keep the codec the answer selected, send it, and receive what
// the client sends. Before the fix pion kept only the exact matches (G722,
// PCMU, PCMA), so the far end sent G722 and dropped the client's opus.
func TestInboundAnswerWithOtherFmtp(t *testing.T) {
	for _, tc := range []struct {
		name         string
		clientCodecs []string
		munge        func(string) string
		want         string
	}{
		{"opus rewritten by the SDK", nil, sdkWire, "opus/48000/2"},
		{"opus minptime only", []string{"opus/48000/2", "PCMU", "telephone-event/48000"},
			func(s string) string { return setFmtp(s, "111", "minptime=20") }, "opus/48000/2"},
		{"telephone-event 0-16", []string{"PCMU", "telephone-event/8000"},
			func(s string) string { return setFmtp(s, "126", "0-16") }, "PCMU/8000"},
		{"G722 with parameters", []string{"G722", "PCMA"},
			func(s string) string { return setFmtp(s, "9", "bitrate=64000") }, "G722/8000"},
		{"PCMA with ptime parameter", []string{"PCMA"},
			func(s string) string { return setFmtp(s, "8", "ptime=20") }, "PCMA/8000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			fe := newFarEnd(t, Config{})
			offer, err := fe.Offer(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(offer, "a=fmtp:111 minptime=10;useinbandfec=1") {
				t.Fatalf("network offer lacks the browser opus fmtp:\n%s", offer)
			}
			cl := newTestClient(t, clientHz, tc.clientCodecs...)
			answer := tc.munge(cl.answer(offer))
			t.Logf("client answer on the wire:\n%s", answer)
			if err := fe.SetAnswer(answer); err != nil {
				t.Fatalf("SetAnswer: %v", err)
			}
			connect(t, ctx, fe, cl)
			if err := fe.WaitPackets(ctx, 40); err != nil {
				t.Fatal(err)
			}
			cl.waitPackets(40)
			st := fe.Stats()
			if st.Codec != tc.want || st.CodecReceived != tc.want {
				t.Errorf("far end sends %s and receives %q, the answer selected %s", st.Codec, st.CodecReceived, tc.want)
			}
			if st.Lost != 0 || st.PacketsReceived < 40 {
				t.Errorf("far end received %d lost %d", st.PacketsReceived, st.Lost)
			}
			if pkts := cl.packets(); len(pkts) == 0 || pkts[len(pkts)-1].PayloadType != st.PayloadType {
				t.Errorf("client did not receive the negotiated payload type %d", st.PayloadType)
			}
		})
	}
}

func TestAlignFmtp(t *testing.T) {
	ours, _ := parseCodecs(nil)
	answer := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 9 63 126\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=rtpmap:111 opus/48000/2\r\na=fmtp:111 " + sdkOpusFmtp + "\r\na=rtpmap:9 G722/8000\r\na=fmtp:9 bitrate=64000\r\n" +
		"a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:126 telephone-event/8000\r\na=fmtp:126 0-16\r\na=sendrecv\r\n"
	got, err := alignFmtp(answer, ours)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"m=audio 9 UDP/TLS/RTP/SAVPF 111 9 63 126\r\n", "a=fmtp:111 minptime=10;useinbandfec=1\r\n",
		"a=fmtp:63 111/111\r\n", "a=fmtp:126 0-15\r\n", "a=rtpmap:9 G722/8000\r\na=rtpmap:63"} {
		if !strings.Contains(got, want) {
			t.Errorf("pion view lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "bitrate") || strings.Contains(got, sdkOpusFmtp) {
		t.Errorf("answer fmtp left in pion's view:\n%s", got)
	}
	plain := strings.Replace(strings.Replace(answer, "a=fmtp:111 "+sdkOpusFmtp+"\r\n", "", 1), "a=fmtp:9 bitrate=64000\r\n", "", 1)
	plain = strings.Replace(plain, "a=fmtp:126 0-16\r\n", "", 1)
	if got, _ := alignFmtp(plain, ours); got != plain {
		t.Errorf("an answer without our codecs' fmtp was rewritten:\n%s", got)
	}
}

// TestSetAnswerWithoutCommonCodec: an answer whose audio formats are none of
// the offered codecs (e.g. PCMU to a network that offered opus only) is
// refused with ErrNoCommonCodec, and the offer stays outstanding.
func TestSetAnswerWithoutCommonCodec(t *testing.T) {
	ctx := testCtx(t)
	fe := newFarEnd(t, Config{Codecs: []string{"opus/48000/2", "telephone-event/48000"}})
	offer, err := fe.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl := newTestClient(t, clientHz, "opus/48000/2", "telephone-event/48000")
	good := cl.answer(offer)
	bad := strings.Replace(strings.Replace(good, "a=rtpmap:111 opus/48000/2", "a=rtpmap:0 PCMU/8000", 1),
		" UDP/TLS/RTP/SAVPF 111 ", " UDP/TLS/RTP/SAVPF 0 ", 1)
	if bad == good {
		t.Fatalf("could not edit the answer:\n%s", good)
	}
	if err := fe.SetAnswer(bad); !errors.Is(err, ErrNoCommonCodec) {
		t.Fatalf("SetAnswer(PCMU to an opus-only offer) = %v, want ErrNoCommonCodec", err)
	}
	if err := fe.SetAnswer(good); err != nil {
		t.Fatalf("the offer did not stay outstanding: %v", err)
	}
	connect(t, ctx, fe, cl)
	if st := fe.Stats(); st.Codec != "opus/48000/2" {
		t.Errorf("codec %s", st.Codec)
	}
}
