package rtpmedia

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
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
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(answer); err != nil {
		return answer
	}
	changed := false
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		out := md.Attributes[:0]
		for _, a := range md.Attributes {
			if a.Key == "fmtp" {
				pt, _, _ := strings.Cut(a.Value, " ")
				if c := want[pt]; c != nil {
					changed = true
					if c.Fmtp == "" {
						continue
					}
					a.Value = pt + " " + c.Fmtp
				}
			}
			out = append(out, a)
		}
		md.Attributes = out
	}
	if !changed {
		return answer
	}
	b, err := sd.Marshal()
	if err != nil {
		return answer
	}
	return string(b)
}
