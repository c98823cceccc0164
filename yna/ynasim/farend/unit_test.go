package farend

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDTMFSenderPlan(t *testing.T) {
	var d dtmfSender
	evs, err := parseDigits("1#")
	if err != nil {
		t.Fatal(err)
	}
	d.queue = evs
	var r dtmfReceiver
	var got []byte
	ts := uint32(1000)
	events := 0
	for tick := 0; tick < 40; tick++ {
		p := d.next(ts, 160)
		if p.active {
			events++
			ev, ok := parseTelephoneEvent(p.payload)
			if !ok {
				t.Fatal("unparsable event")
			}
			if p.marker != (ev.Duration == 160 && !ev.End) {
				t.Errorf("tick %d: marker %v for %+v", tick, p.marker, ev)
			}
			if digit, ok := r.packet(p.ts, p.payload); ok {
				got = append(got, digit)
			}
		}
		ts += 160
	}
	if string(got) != "1#" {
		t.Errorf("digits %q", got)
	}
	if want := 2 * (dtmfProgressPackets + dtmfEndPackets); events != want {
		t.Errorf("%d event packets, want %d", events, want)
	}
	if len(d.queue) != 0 || d.cur != 0 {
		t.Errorf("sender not idle: %+v", d)
	}
}

func TestDTMFReceiverDedupe(t *testing.T) {
	end := telephoneEvent{Event: 5, End: true, Duration: 800}.marshal()
	prog := telephoneEvent{Event: 5, Duration: 160}.marshal()
	var r dtmfReceiver
	var got []byte
	for _, p := range []struct {
		ts uint32
		b  []byte
	}{{100, prog}, {100, end}, {100, end}, {100, end}, {900, end}, {900, end}, {1700, []byte{1}}, {1800, telephoneEvent{Event: 200, End: true}.marshal()}} {
		if d, ok := r.packet(p.ts, p.b); ok {
			got = append(got, d)
		}
	}
	if string(got) != "55" {
		t.Errorf("digits %q, want 55", got)
	}
}

func TestParseDigits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
		err  bool
	}{
		{"0123456789", []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, false},
		{"*#ABCDabcd", []byte{10, 11, 12, 13, 14, 15, 12, 13, 14, 15}, false},
		{"", []byte{}, false},
		{"1,2", nil, true},
		{"E", nil, true},
	} {
		got, err := parseDigits(tc.in)
		if (err != nil) != tc.err || (err != nil && !errors.Is(err, ErrBadDigit)) {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if !tc.err && string(got) != string(tc.want) {
			t.Errorf("%q: %v", tc.in, got)
		}
	}
	for ev := byte(0); ev < 16; ev++ {
		d := eventDigit(ev)
		if back, ok := digitEvent(d); !ok || back != ev {
			t.Errorf("event %d -> %q -> %d", ev, d, back)
		}
	}
}

func TestRxStatsSequence(t *testing.T) {
	for _, tc := range []struct {
		name          string
		seqs          []uint16
		lost, ooo, dp uint64
	}{
		{"in order", []uint16{1, 2, 3, 4}, 0, 0, 0},
		{"wrap", []uint16{65534, 65535, 0, 1}, 0, 0, 0},
		{"gap", []uint16{1, 2, 5, 6}, 2, 0, 0},
		{"reorder", []uint16{1, 3, 2, 4}, 0, 1, 0},
		{"duplicate", []uint16{1, 2, 2, 3}, 0, 0, 1},
		{"reorder across wrap", []uint16{65535, 1, 0, 2}, 0, 1, 0},
		{"early reorder", []uint16{10, 9, 11}, 0, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRxStats()
			for i, q := range tc.seqs {
				p := make([]byte, 160)
				MarkPayload(p, uint32(i))
				s.audio(q, p, "PCMU")
			}
			var st Stats
			s.fill(&st)
			if st.Lost != tc.lost || st.OutOfOrder != tc.ooo || st.Duplicates != tc.dp {
				t.Errorf("lost=%d ooo=%d dup=%d", st.Lost, st.OutOfOrder, st.Duplicates)
			}
			if st.PacketsReceived != uint64(len(tc.seqs)) || st.PayloadOK != uint64(len(tc.seqs)) {
				t.Errorf("packets %d ok %d", st.PacketsReceived, st.PayloadOK)
			}
		})
	}
}

func TestRxStatsMarkers(t *testing.T) {
	s := newRxStats()
	for i, c := range []uint32{0, 1, 3, 2, 4, 4} {
		p := make([]byte, 160)
		MarkPayload(p, c)
		s.audio(uint16(i), p, "")
	}
	s.audio(6, []byte{0xF8, 0xFF, 0xFE}, "")
	var st Stats
	s.fill(&st)
	// 0 ok, 1 ok, 3 bad (gap), 2 bad (reorder), 4 ok (follows 3), 4 bad (repeat)
	if st.PayloadOK != 3 || st.PayloadBad != 3 || st.PayloadUnmarked != 1 || st.ToneHzDetected != 0 {
		t.Errorf("%+v", st)
	}
}

func TestDirections(t *testing.T) {
	for _, tc := range []struct{ offered, want string }{
		{DirSendRecv, DirSendRecv}, {DirSendOnly, DirRecvOnly}, {DirRecvOnly, DirSendOnly}, {DirInactive, DirInactive},
	} {
		if got := reverseDirection(tc.offered); got != tc.want {
			t.Errorf("reverse(%s) = %s", tc.offered, got)
		}
		if got := intersectDirection(DirSendRecv, tc.offered); got != tc.want {
			t.Errorf("intersect(sendrecv, %s) = %s", tc.offered, got)
		}
	}
	// We hold (sendonly) and the peer re-offers sendrecv: we stay sendonly.
	if got := intersectDirection(DirSendOnly, DirSendRecv); got != DirSendOnly {
		t.Errorf("got %s", got)
	}
	if got := intersectDirection(DirSendOnly, DirSendOnly); got != DirInactive {
		t.Errorf("got %s", got)
	}
}

func TestRewriteSDP(t *testing.T) {
	in := "v=0\r\no=- 42 7 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=setup:actpass\r\na=mid:0\r\na=sendrecv\r\n" +
		"a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n"
	out := rewriteSDP(in, DirSendOnly, "active")
	for _, want := range []string{"o=- 42 8 IN IP4", "a=sendonly\r\n", "a=setup:active\r\n", "a=mid:0\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "a=sendrecv") {
		t.Error("old direction kept")
	}
	// No direction attribute: one is added to the audio section; LF-only input stays LF.
	lf := "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nt=0 0\nm=audio 9 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"
	out = rewriteSDP(lf, DirInactive, "")
	if !strings.HasSuffix(out, "a=rtpmap:0 PCMU/8000\na=inactive\n") || strings.Contains(out, "\r") {
		t.Errorf("got %q", out)
	}
	def := withDefaultCandidate(in)
	for _, want := range []string{"m=audio 5000 ", "c=IN IP4 127.0.0.1\r\n", "o=- 42 7 IN IP4 127.0.0.1\r\n"} {
		if !strings.Contains(def, want) {
			t.Errorf("default candidate: missing %q in\n%s", want, def)
		}
	}
	if setupOf(in) != "actpass" || setupOf("v=0\r\n") != "" {
		t.Error("setupOf")
	}
}

func TestParseCodecs(t *testing.T) {
	got, err := parseCodecs(nil)
	if err != nil || len(got) != len(DefaultCodecs) || got[0].String() != "opus/48000/2" || got[5].String() != "telephone-event/8000" {
		t.Fatalf("defaults: %v %v", got, err)
	}
	got, err = parseCodecs([]string{"pcma", "PCMU/8000", "telephone-event"})
	if err != nil || got[0].Name != "PCMA" || got[1].Name != "PCMU" || got[2].Rate != 8000 {
		t.Errorf("got %v %v", got, err)
	}
	for _, bad := range []string{"G729", "PCMU/16000", "opus/8000"} {
		if _, err := parseCodecs([]string{bad}); !errors.Is(err, ErrUnknownCodec) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestChooseAnswerCodecs(t *testing.T) {
	ours, _ := parseCodecs(nil)
	te8 := offeredCodec{PT: 101, Name: "telephone-event", Rate: 8000, Fmtp: "0-16"}
	te48 := offeredCodec{PT: 110, Name: "telephone-event", Rate: 48000}
	pcmu := offeredCodec{PT: 0, Name: "PCMU", Rate: 8000}
	opus := offeredCodec{PT: 96, Name: "OPUS", Rate: 48000, Channels: 2}
	g729 := offeredCodec{PT: 18, Name: "G729", Rate: 8000}
	for _, tc := range []struct {
		name      string
		offered   []offeredCodec
		audio     string
		pt, tePT  uint8
		noTE, err bool
		prefer    []string
	}{
		{"client order: pcmu before opus", []offeredCodec{pcmu, opus, te8, te48}, "PCMU/8000", 0, 101, false, false, nil},
		{"prefer opus", []offeredCodec{pcmu, opus, te8, te48}, "opus/48000/2", 96, 110, false, false, []string{"opus/48000/2"}},
		{"prefer opus, none offered", []offeredCodec{g729, te8, pcmu}, "PCMU/8000", 0, 101, false, false, []string{"opus/48000/2"}},
		{"pcmu+te", []offeredCodec{pcmu, te8}, "PCMU/8000", 0, 101, false, false, nil},
		{"te first, rate match", []offeredCodec{te48, g729, pcmu, te8}, "PCMU/8000", 0, 101, false, false, nil},
		{"opus picks te48", []offeredCodec{opus, pcmu, te8, te48}, "opus/48000/2", 96, 110, false, false, nil},
		{"te other rate only", []offeredCodec{pcmu, te48}, "PCMU/8000", 0, 110, false, false, nil},
		{"no te", []offeredCodec{pcmu}, "PCMU/8000", 0, 0, true, false, nil},
		{"none", []offeredCodec{g729, te8}, "", 0, 0, true, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefer, _ := parseCodecs(tc.prefer)
			if tc.prefer == nil {
				prefer = nil
			}
			audio, te, spec, err := chooseAnswerCodecs(ours, tc.offered, prefer)
			if tc.err {
				if !errors.Is(err, ErrNoCommonCodec) {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err != nil || spec.String() != tc.audio || uint8(audio.PayloadType) != tc.pt {
				t.Fatalf("%v %v %v", spec, audio, err)
			}
			if (te == nil) != tc.noTE || (te != nil && uint8(te.PayloadType) != tc.tePT) {
				t.Errorf("te %+v", te)
			}
		})
	}
}

func TestParseAudio(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "offer-pcmu.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	sec, err := parseAudio(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(sec.Codecs) != 2 || sec.Codecs[0].Name != "PCMU" || sec.Codecs[1].Fmtp != "0-16" ||
		sec.Direction != DirSendRecv || sec.Ufrag != "abcdEFGH" {
		t.Errorf("%+v", sec)
	}
}

func FuzzParseAudio(f *testing.F) {
	for _, n := range []string{"offer-pcmu.sdp", "offer-g729.sdp", "offer-video.sdp"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	ours, _ := parseCodecs(nil)
	f.Fuzz(func(t *testing.T, raw string) {
		sec, err := parseAudio(raw)
		if err != nil {
			return
		}
		_, _, _, _ = chooseAnswerCodecs(ours, sec.Codecs, nil)
		_, _, _, _ = chooseAnswerCodecs(ours, sec.Codecs, ours[:1])
		_, _ = alignFmtp(raw, ours)
		out := rewriteSDP(raw, DirSendOnly, "active")
		if strings.Contains(raw, "m=audio ") && !strings.Contains(out, "a=sendonly") {
			t.Errorf("direction not written")
		}
		_ = withDefaultCandidate(raw)
	})
}
