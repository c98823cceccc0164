package rtpmedia

import (
	"strings"
	"testing"
)

// answerFmtp replaces the fmtp parameters of payload type pt in an SDP.
func answerFmtp(t *testing.T, sdp, pt, params string) string {
	t.Helper()
	lines, eol := sdpLines(sdp)
	found := false
	for i, l := range lines {
		if strings.HasPrefix(l, "a=fmtp:"+pt+" ") {
			lines[i], found = "a=fmtp:"+pt+" "+params, true
		}
	}
	if !found {
		t.Fatalf("no fmtp for %s in\n%s", pt, sdp)
	}
	return strings.Join(lines, eol) + eol
}

// TestWebRTCAnswerWithOtherFmtp: the network answers our offer with fmtp
// parameters that differ from ours (receiver preferences, RFC 7587 §7; the
// YNA SDK and so presumably the network write their own opus fmtp, fact sheet
// §10.2, §18.9). The leg must keep the codec the answer selected and carry it
// both ways. pion alone keeps only exact fmtp matches when there are any
// (telephone-event matches exactly), so without help it drops opus and the
// network's opus packets never reach the leg.
func TestWebRTCAnswerWithOtherFmtp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params string
	}{
		{"SDK opus fmtp", "minptime=20;useinbandfec=0;cbr=0;maxaveragebitrate=24576"},
		{"minptime only", "minptime=20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, nil)
			l := newTestWebRTCLeg(t, e, []Codec{opus, pcmu, te101})
			p := newNetPeer(t, []Codec{opus, pcmu, te101})
			offer, err := l.CreateOffer(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			answer := answerFmtp(t, p.answer(offer), "111", tc.params)
			if err := l.SetAnswer(answer); err != nil {
				t.Fatalf("SetAnswer: %v", err)
			}
			waitChan(t, l.Connected(), "leg connected")
			waitChan(t, p.connected, "peer connected")
			if c := l.Codec(); c.Name != "opus" || c.PayloadType != 111 {
				t.Fatalf("codec %v, want opus(111) as answered", c)
			}
			exchange(t, l, p, readLeg(l), 111, 20)
		})
	}
}
