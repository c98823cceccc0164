package rtpmedia

import (
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// answerFmtp replaces the fmtp parameters of payload type pt in an SDP.
func answerFmtp(t *testing.T, raw, pt, params string) string {
	t.Helper()
	found := false
	out, err := editSDP(raw, func(sd *sdp.SessionDescription) error {
		for _, md := range sd.MediaDescriptions {
			for i, a := range md.Attributes {
				if a.Key == "fmtp" && strings.HasPrefix(a.Value, pt+" ") {
					md.Attributes[i].Value, found = pt+" "+params, true
				}
			}
		}
		return nil
	})
	if err != nil || !found {
		t.Fatalf("no fmtp for %s (%v) in\n%s", pt, err, raw)
	}
	return out
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
