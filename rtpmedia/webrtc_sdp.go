package rtpmedia

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// webrtcMedia is what the WebRTC leg needs from a network SDP: the first
// audio section's formats, direction and the ICE/DTLS parameters that tell a
// hold/resume re-offer from an ICE restart.
type webrtcMedia struct {
	Codecs    []Codec // in SDP order, telephone-event included
	Direction Direction
	Ufrag     string
	Setup     string // a=setup value: actpass, active, passive ("" if none)
	Port      int
}

// parseWebRTCSDP parses a WebRTC SDP and returns its first audio section.
// Errors wrap ErrMalformedSDP (400) or ErrNoAudio (488).
func parseWebRTCSDP(raw string) (*webrtcMedia, error) {
	if len(raw) > maxSDPSize {
		return nil, malformed("SDP larger than %d bytes", maxSDPSize)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return nil, malformed("%v", err)
	}
	sessDir, sessDirSet := SendRecv, false
	var sessUfrag, sessSetup string
	for _, a := range sd.Attributes {
		if d, ok := ParseDirection(a.Key); ok {
			sessDir, sessDirSet = d, true
		}
		switch a.Key {
		case "ice-ufrag":
			sessUfrag = a.Value
		case "setup":
			sessSetup = a.Value
		}
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		m := &webrtcMedia{Direction: sessDir, Ufrag: sessUfrag, Setup: sessSetup, Port: md.MediaName.Port.Value}
		dirSet := false
		rtpmaps := map[uint8]Codec{}
		fmtps := map[uint8]string{}
		for _, a := range md.Attributes {
			if d, ok := ParseDirection(a.Key); ok {
				m.Direction, dirSet = d, true
				continue
			}
			switch a.Key {
			case "ice-ufrag":
				m.Ufrag = a.Value
			case "setup":
				m.Setup = a.Value
			case "rtpmap":
				if pt, c, ok := parseRtpmap(a.Value); ok {
					rtpmaps[pt] = c
				}
			case "fmtp":
				ptStr, params, _ := strings.Cut(a.Value, " ")
				if pt, err := strconv.ParseUint(ptStr, 10, 8); err == nil {
					fmtps[uint8(pt)] = strings.TrimSpace(params)
				}
			}
		}
		if !dirSet && !sessDirSet {
			m.Direction = SendRecv
		}
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.ParseUint(f, 10, 8)
			if err != nil || pt > 127 {
				continue
			}
			c, ok := rtpmaps[uint8(pt)]
			if !ok {
				c, ok = staticPayloadTypes[uint8(pt)]
			}
			if !ok {
				c = Codec{PayloadType: uint8(pt)}
			}
			c.Fmtp = fmtps[uint8(pt)]
			m.Codecs = append(m.Codecs, c)
		}
		return m, nil
	}
	return nil, newError(ErrNoAudio, 488, "%d m-lines, none audio", len(sd.MediaDescriptions))
}

// find returns the first format of m matching c (name, rate, channels).
func (m *webrtcMedia) find(c Codec) (Codec, bool) {
	for _, o := range m.Codecs {
		if !o.IsDTMF() && o.Name != "" && o.Matches(c) {
			return o, true
		}
	}
	return Codec{}, false
}

// dtmfAt returns the telephone-event format of m at the given clock rate.
func (m *webrtcMedia) dtmfAt(rate uint32) *Codec {
	for _, o := range m.Codecs {
		if o.IsDTMF() && o.ClockRate == rate {
			d := o
			return &d
		}
	}
	return nil
}

// chooseOurs returns the first codec of ours (our preference order) that m
// offers, with m's payload type and fmtp.
func (m *webrtcMedia) chooseOurs(ours []Codec) (Codec, bool) {
	for _, c := range ours {
		if c.IsDTMF() {
			continue
		}
		if o, ok := m.find(c); ok {
			return o, true
		}
	}
	return Codec{}, false
}

// editSDP applies edit to the pion/sdp model of raw and marshals the result
// (pion writes CRLF line ends). Errors reading raw wrap ErrMalformedSDP.
func editSDP(raw string, edit func(*sdp.SessionDescription) error) (string, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return "", malformed("%v", err)
	}
	if err := edit(&sd); err != nil {
		return "", err
	}
	b, err := sd.Marshal()
	if err != nil {
		return "", fmt.Errorf("rtpmedia: write SDP: %w", err)
	}
	return string(b), nil
}

// firstAudio returns the first audio media description of sd, nil if none.
func firstAudio(sd *sdp.SessionDescription) *sdp.MediaDescription {
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "audio" {
			return md
		}
	}
	return nil
}

// setMediaDirection replaces the direction attributes of md by one a=dir, at
// the place of the first one (at the end if md had none).
func setMediaDirection(md *sdp.MediaDescription, dir Direction) {
	out := make([]sdp.Attribute, 0, len(md.Attributes)+1)
	wrote := false
	for _, a := range md.Attributes {
		if _, ok := ParseDirection(a.Key); ok {
			if !wrote {
				out, wrote = append(out, sdp.NewPropertyAttribute(dir.String())), true
			}
			continue
		}
		out = append(out, a)
	}
	if !wrote {
		out = append(out, sdp.NewPropertyAttribute(dir.String()))
	}
	md.Attributes = out
}

func setSetup(attrs []sdp.Attribute, setup string) {
	for i := range attrs {
		if attrs[i].Key == "setup" {
			attrs[i].Value = setup
		}
	}
}

// rewriteAudioSDP returns our previous local SDP raw changed for a
// hold/resume offer or answer: the first audio section carries exactly
// formats (m= format list, a=rtpmap, a=fmtp; a=rtcp-fb of removed formats
// dropped, wildcard ones kept) and direction dir, every a=setup is set to
// setup (when not empty), and the o= session version is incremented. ICE
// credentials, candidates, fingerprint, BUNDLE and SSRC attributes are kept:
// the transport is unchanged.
func rewriteAudioSDP(raw string, formats []Codec, dir Direction, setup string) (string, error) {
	return editSDP(raw, func(sd *sdp.SessionDescription) error {
		md := firstAudio(sd)
		if md == nil {
			return newError(ErrNoAudio, 488, "%d m-lines, none audio", len(sd.MediaDescriptions))
		}
		sd.Origin.SessionVersion++
		if setup != "" {
			setSetup(sd.Attributes, setup)
			for _, m := range sd.MediaDescriptions {
				setSetup(m.Attributes, setup)
			}
		}
		keep := map[string]bool{"*": true}
		md.MediaName.Formats = md.MediaName.Formats[:0]
		var fa []sdp.Attribute
		for _, c := range formats {
			pt := strconv.Itoa(int(c.PayloadType))
			keep[pt] = true
			md.MediaName.Formats = append(md.MediaName.Formats, pt)
			fa = append(fa, sdp.NewAttribute("rtpmap", c.rtpmap()))
			if c.Fmtp != "" {
				fa = append(fa, sdp.NewAttribute("fmtp", pt+" "+c.Fmtp))
			}
		}
		out := make([]sdp.Attribute, 0, len(md.Attributes)+len(fa))
		wroteFormats := false
		for _, a := range md.Attributes {
			switch a.Key {
			case "rtpmap", "fmtp":
				if !wroteFormats {
					out, wroteFormats = append(out, fa...), true
				}
				continue
			case "rtcp-fb":
				if pt, _, _ := strings.Cut(a.Value, " "); !keep[pt] {
					continue
				}
			}
			out = append(out, a)
		}
		if !wroteFormats {
			out = append(out, fa...)
		}
		md.Attributes = out
		setMediaDirection(md, dir)
		return nil
	})
}

// setDirectionSDP returns raw with the first audio section's direction set to dir.
func setDirectionSDP(raw string, dir Direction) (string, error) {
	return editSDP(raw, func(sd *sdp.SessionDescription) error {
		md := firstAudio(sd)
		if md == nil {
			return newError(ErrNoAudio, 488, "%d m-lines, none audio", len(sd.MediaDescriptions))
		}
		setMediaDirection(md, dir)
		return nil
	})
}

// withDefaultCandidate sets the audio port and the c=/o= addresses of a fully
// gathered SDP to its first IPv4 UDP RTP candidate, as a complete non-trickle
// SDP shows them (RFC 8839 §4.2.1.2; the browser's SDP carries real addresses,
// fact sheet §18.2, while pion writes 0.0.0.0 and port 9). raw is returned
// unchanged when it has no such candidate or cannot be read.
func withDefaultCandidate(raw string) string {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return raw
	}
	ip, port := "", 0
	for _, md := range sd.MediaDescriptions {
		for _, a := range md.Attributes {
			if a.Key != "candidate" || ip != "" {
				continue
			}
			f := strings.Fields(a.Value)
			if len(f) < 8 || f[1] != "1" || !strings.EqualFold(f[2], "udp") || strings.Contains(f[4], ":") {
				continue
			}
			p, err := strconv.Atoi(f[5])
			if err != nil || p <= 0 || p > 65535 {
				continue
			}
			ip, port = f[4], p
		}
	}
	if ip == "" {
		return raw
	}
	setConn := func(c *sdp.ConnectionInformation) {
		if c != nil && c.NetworkType == "IN" && c.AddressType == "IP4" {
			c.Address = &sdp.Address{Address: ip}
		}
	}
	setConn(sd.ConnectionInformation)
	if sd.Origin.AddressType == "IP4" && sd.Origin.UnicastAddress == "0.0.0.0" {
		sd.Origin.UnicastAddress = ip
	}
	for _, md := range sd.MediaDescriptions {
		setConn(md.ConnectionInformation)
		if md.MediaName.Media == "audio" {
			md.MediaName.Port = sdp.RangedPort{Value: port}
		}
	}
	b, err := sd.Marshal()
	if err != nil {
		return raw
	}
	return string(b)
}
