package rtpmedia

import (
	"strconv"
	"strings"
)

// alignAnswerFmtp returns the view of the network's answer that the leg hands
// to pion: each payload format of the audio section that is one of ours (same
// name, clock rate and channels) carries the fmtp we offered for it (none if
// we offered none). The SDP the bridge keeps is not changed.
//
// fmtp parameters of opus, telephone-event, G722 and G.711 are receiver
// preferences, not negotiation constraints (RFC 7587 §7; fact sheet §18.9:
// the YNA SDK answers with its own opus fmtp). pion/webrtc v4 treats a
// differing fmtp as a partial match and, as soon as any other format matches
// exactly (telephone-event does), drops the partial ones: the leg would keep
// opus as its codec while pion discards every opus packet the network sends.
// On failure to read the SDP, answer is returned unchanged (pion then reports
// the error itself).
func alignAnswerFmtp(answer string, ours []Codec) string {
	m, err := parseWebRTCSDP(answer)
	if err != nil {
		return answer
	}
	want := map[string]*Codec{} // payload type -> our format
	for _, o := range m.Codecs {
		for i := range ours {
			if ours[i].Matches(o) {
				want[strconv.Itoa(int(o.PayloadType))] = &ours[i]
				break
			}
		}
	}
	lines, eol := sdpLines(answer)
	out := make([]string, 0, len(lines))
	inAudio, changed := false, false
	for _, l := range lines {
		if strings.HasPrefix(l, "m=") {
			inAudio = strings.HasPrefix(l, "m=audio ")
		}
		if v, ok := strings.CutPrefix(l, "a=fmtp:"); ok && inAudio {
			pt, _, _ := strings.Cut(v, " ")
			if c := want[pt]; c != nil {
				changed = true
				if c.Fmtp == "" {
					continue
				}
				l = "a=fmtp:" + pt + " " + c.Fmtp
			}
		}
		out = append(out, l)
	}
	if !changed {
		return answer
	}
	return strings.Join(out, eol) + eol
}
