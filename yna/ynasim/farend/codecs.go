package farend

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// codecSpec describes one audio codec this far end can offer or accept.
type codecSpec struct {
	Name     string // as in rtpmap, e.g. "PCMU"
	Rate     uint32
	Channels uint16 // 0 = mono (rtpmap without channel count)
	PT       uint8  // payload type used when we offer
	Fmtp     string // fmtp used when we offer
}

func (c codecSpec) isTE() bool { return strings.EqualFold(c.Name, "telephone-event") }

func (c codecSpec) String() string {
	s := c.Name + "/" + strconv.FormatUint(uint64(c.Rate), 10)
	if c.Channels > 1 {
		s += "/" + strconv.FormatUint(uint64(c.Channels), 10)
	}
	return s
}

// matches reports whether an offered rtpmap entry is this codec.
func (c codecSpec) matches(name string, rate uint32, channels uint16) bool {
	norm := func(ch uint16) uint16 {
		if ch == 0 {
			return 1
		}
		return ch
	}
	return strings.EqualFold(c.Name, name) && c.Rate == rate && norm(c.Channels) == norm(channels)
}

func (c codecSpec) params(pt uint8, fmtp string) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType:    "audio/" + c.Name,
			ClockRate:   c.Rate,
			Channels:    c.Channels,
			SDPFmtpLine: fmtp,
		},
		PayloadType: webrtc.PayloadType(pt),
	}
}

// knownCodecs are the codecs this package knows, with the payload types and
// fmtp lines Chromium uses (the real network's offer is modelled on the SDK's
// browser offer, fact sheet §10.3).
var knownCodecs = []codecSpec{
	{Name: "opus", Rate: 48000, Channels: 2, PT: 111, Fmtp: "minptime=10;useinbandfec=1"},
	{Name: "G722", Rate: 8000, PT: 9},
	{Name: "PCMU", Rate: 8000, PT: 0},
	{Name: "PCMA", Rate: 8000, PT: 8},
	{Name: "telephone-event", Rate: 48000, PT: 110, Fmtp: "0-15"},
	{Name: "telephone-event", Rate: 8000, PT: 126, Fmtp: "0-15"},
}

// DefaultCodecs is the codec list used when Config.Codecs is empty; it is the
// order the real network (modelled on the browser, fact sheet §10.3) offers.
var DefaultCodecs = []string{
	"opus/48000/2", "G722/8000", "PCMU/8000", "PCMA/8000", "telephone-event/48000", "telephone-event/8000",
}

// ErrUnknownCodec is returned by New for a Config.Codecs entry this package
// cannot handle.
var ErrUnknownCodec = errors.New("farend: unknown codec")

// parseCodecs turns names like "PCMU", "PCMU/8000" or "opus/48000/2" into specs.
func parseCodecs(names []string) ([]codecSpec, error) {
	if len(names) == 0 {
		names = DefaultCodecs
	}
	out := make([]codecSpec, 0, len(names))
	for _, n := range names {
		parts := strings.Split(strings.TrimSpace(n), "/")
		var found *codecSpec
		for i := range knownCodecs {
			k := knownCodecs[i]
			if !strings.EqualFold(k.Name, parts[0]) {
				continue
			}
			if len(parts) > 1 && parts[1] != strconv.FormatUint(uint64(k.Rate), 10) {
				continue
			}
			if len(parts) == 1 && k.isTE() && k.Rate != 8000 {
				continue // bare "telephone-event" means /8000
			}
			found = &k
			break
		}
		if found == nil {
			return nil, fmt.Errorf("%w: %q", ErrUnknownCodec, n)
		}
		out = append(out, *found)
	}
	return out, nil
}

// offeredCodec is one payload format of a remote audio m-section.
type offeredCodec struct {
	PT       uint8
	Name     string
	Rate     uint32
	Channels uint16
	Fmtp     string
}

// audioSection is what we need to know about a remote SDP.
type audioSection struct {
	Codecs    []offeredCodec
	Direction string // sendrecv, sendonly, recvonly, inactive
	Ufrag     string
}

var staticPTs = map[uint8]offeredCodec{
	0: {PT: 0, Name: "PCMU", Rate: 8000},
	8: {PT: 8, Name: "PCMA", Rate: 8000},
	9: {PT: 9, Name: "G722", Rate: 8000},
}

// parseAudio parses raw SDP and extracts its first audio m-section.
func parseAudio(raw string) (audioSection, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return audioSection{}, fmt.Errorf("farend: parse SDP: %w", err)
	}
	var res audioSection
	res.Direction = directionOf(sd.Attributes, "sendrecv")
	if u, ok := sd.Attribute("ice-ufrag"); ok {
		res.Ufrag = u
	}
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue
		}
		res.Direction = directionOf(m.Attributes, res.Direction)
		if u, ok := m.Attribute("ice-ufrag"); ok {
			res.Ufrag = u
		}
		rtpmap := map[uint8]offeredCodec{}
		fmtp := map[uint8]string{}
		for _, a := range m.Attributes {
			switch a.Key {
			case "rtpmap":
				if c, ok := parseRtpmap(a.Value); ok {
					rtpmap[c.PT] = c
				}
			case "fmtp":
				pt, rest, ok := strings.Cut(a.Value, " ")
				if n, err := strconv.ParseUint(pt, 10, 8); ok && err == nil {
					fmtp[uint8(n)] = strings.TrimSpace(rest)
				}
			}
		}
		for _, f := range m.MediaName.Formats {
			n, err := strconv.ParseUint(f, 10, 8)
			if err != nil || n > 127 {
				continue
			}
			pt := uint8(n)
			c, ok := rtpmap[pt]
			if !ok {
				if c, ok = staticPTs[pt]; !ok {
					continue
				}
			}
			c.Fmtp = fmtp[pt]
			res.Codecs = append(res.Codecs, c)
		}
		return res, nil
	}
	return audioSection{}, fmt.Errorf("%w: SDP has no active audio section", ErrNoCommonCodec)
}

func parseRtpmap(v string) (offeredCodec, bool) {
	pt, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return offeredCodec{}, false
	}
	n, err := strconv.ParseUint(pt, 10, 8)
	if err != nil {
		return offeredCodec{}, false
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	if len(parts) < 2 {
		return offeredCodec{}, false
	}
	rate, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return offeredCodec{}, false
	}
	c := offeredCodec{PT: uint8(n), Name: parts[0], Rate: uint32(rate)}
	if len(parts) > 2 {
		ch, err := strconv.ParseUint(parts[2], 10, 16)
		if err != nil {
			return offeredCodec{}, false
		}
		c.Channels = uint16(ch)
	}
	return c, true
}

func directionOf(attrs []sdp.Attribute, def string) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return def
}

// chooseAnswerCodecs picks the first of prefer that is offered and ours, else
// the first offered codec we support (the client decides), plus
// telephone-event when offered, preferably at the same clock rate.
func chooseAnswerCodecs(ours []codecSpec, offered []offeredCodec, prefer []codecSpec) (audio, te *webrtc.RTPCodecParameters, spec codecSpec, err error) {
	find := func(o offeredCodec) (codecSpec, bool) {
		for _, c := range ours {
			if c.matches(o.Name, o.Rate, o.Channels) {
				return c, true
			}
		}
		return codecSpec{}, false
	}
preferred:
	for _, pc := range prefer {
		for _, o := range offered {
			if c, ok := find(o); ok && !c.isTE() && pc.matches(o.Name, o.Rate, o.Channels) {
				p := c.params(o.PT, o.Fmtp)
				audio, spec = &p, c
				break preferred
			}
		}
	}
	for _, o := range offered {
		if audio != nil {
			break
		}
		c, ok := find(o)
		if !ok || c.isTE() {
			continue
		}
		p := c.params(o.PT, o.Fmtp)
		audio, spec = &p, c
	}
	if audio == nil {
		return nil, nil, codecSpec{}, fmt.Errorf("%w: none of the offered audio codecs is supported", ErrNoCommonCodec)
	}
	var anyTE *webrtc.RTPCodecParameters
	for _, o := range offered {
		c, ok := find(o)
		if !ok || !c.isTE() {
			continue
		}
		p := c.params(o.PT, o.Fmtp)
		if c.Rate == spec.Rate {
			te = &p
			break
		}
		if anyTE == nil {
			anyTE = &p
		}
	}
	if te == nil {
		te = anyTE
	}
	return audio, te, spec, nil
}

// answersAudio reports whether answered lists one of our audio codecs
// (telephone-event alone does not count).
func answersAudio(ours []codecSpec, answered []offeredCodec) bool {
	for _, a := range answered {
		for _, c := range ours {
			if !c.isTE() && c.matches(a.Name, a.Rate, a.Channels) {
				return true
			}
		}
	}
	return false
}

// specFor finds the codecSpec for negotiated pion codec parameters.
func specFor(p webrtc.RTPCodecParameters) (codecSpec, bool) {
	name := strings.TrimPrefix(strings.ToLower(p.MimeType), "audio/")
	for _, k := range knownCodecs {
		if k.matches(name, p.ClockRate, p.Channels) {
			k.PT = uint8(p.PayloadType)
			return k, true
		}
	}
	return codecSpec{}, false
}

// alignFmtp returns the view of a remote answer that the far end hands to
// pion: every payload format of the audio section that is one of our codecs
// (same name, clock rate and channels) gets the fmtp we offered for it (none
// if we offered none). The wire SDP is not changed; only pion's view is.
//
// Why: fmtp parameters of opus, telephone-event, G722 and G.711 are receiver
// preferences, not negotiation constraints (RFC 7587 §7, RFC 4733 §2.4.1,
// RFC 3264 §6.1), and the real network accepts answers whose fmtp differ from
// its offer (fact sheet §18.9). pion/webrtc v4 instead treats a differing
// fmtp as a partial match and, when any codec matches exactly (codecs without
// fmtp always do), drops the partial matches: the codec the answer selected
// would be lost. Rewriting the remote view keeps pion's codec list equal to
// the answer's (same payload types, same order), whatever parameters the peer
// writes, and needs no knowledge of pion's matching rules beyond "an equal
// fmtp matches". Registering the peer's fmtp in the MediaEngine instead is not
// possible for an offer (the answer is not known yet, and a PeerConnection's
// MediaEngine is fixed once created).
func alignFmtp(raw string, ours []codecSpec) (string, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return "", fmt.Errorf("farend: parse SDP: %w", err)
	}
	changed := false
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media != "audio" {
			continue
		}
		want := map[uint8]*codecSpec{} // payload type -> our codec
		for _, f := range m.MediaName.Formats {
			n, err := strconv.ParseUint(f, 10, 8)
			if err != nil || n > 127 {
				continue
			}
			c, ok := staticPTs[uint8(n)]
			for _, a := range m.Attributes {
				if a.Key != "rtpmap" {
					continue
				}
				if rc, rok := parseRtpmap(a.Value); rok && rc.PT == uint8(n) {
					c, ok = rc, true
				}
			}
			if !ok {
				continue
			}
			for i := range ours {
				if ours[i].matches(c.Name, c.Rate, c.Channels) {
					want[uint8(n)] = &ours[i]
					break
				}
			}
		}
		attrs := make([]sdp.Attribute, 0, len(m.Attributes))
		for _, a := range m.Attributes {
			if a.Key == "fmtp" {
				pt, _, _ := strings.Cut(a.Value, " ")
				if n, err := strconv.ParseUint(pt, 10, 8); err == nil {
					if spec := want[uint8(n)]; spec != nil {
						changed = true
						if spec.Fmtp == "" {
							continue
						}
						a.Value = pt + " " + spec.Fmtp
					}
				}
			}
			attrs = append(attrs, a)
		}
		m.Attributes = attrs
	}
	if !changed {
		return raw, nil
	}
	b, err := sd.Marshal()
	if err != nil {
		return "", fmt.Errorf("farend: write SDP: %w", err)
	}
	return string(b), nil
}
