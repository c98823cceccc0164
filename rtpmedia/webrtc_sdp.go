package rtpmedia

import (
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

// sdpLines splits SDP text into lines without CR/LF and returns the line
// ending to write back (CRLF unless the text has none).
func sdpLines(raw string) ([]string, string) {
	eol := "\r\n"
	if !strings.Contains(raw, "\r\n") {
		eol = "\n"
	}
	lines := strings.Split(strings.TrimRight(raw, "\r\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	return lines, eol
}

// rewriteAudioSDP returns our previous local SDP raw changed for a
// hold/resume offer or answer: the first audio section carries exactly
// formats (m= format list, a=rtpmap, a=fmtp; a=rtcp-fb of removed formats
// dropped) and direction dir, every a=setup is set to setup (when not empty),
// and the o= session version is incremented. ICE credentials, candidates,
// fingerprint, BUNDLE and SSRC lines are kept: the transport is unchanged.
func rewriteAudioSDP(raw string, formats []Codec, dir Direction, setup string) string {
	lines, eol := sdpLines(raw)
	out := make([]string, 0, len(lines)+len(formats))
	keep := map[string]bool{}
	for _, c := range formats {
		keep[strconv.Itoa(int(c.PayloadType))] = true
	}
	inAudio, doneAudio, wroteFormats, wroteDir := false, false, false, false
	writeFormats := func() {
		for _, c := range formats {
			out = append(out, "a=rtpmap:"+c.rtpmap())
			if c.Fmtp != "" {
				out = append(out, "a=fmtp:"+strconv.Itoa(int(c.PayloadType))+" "+c.Fmtp)
			}
		}
		wroteFormats = true
	}
	endAudio := func() {
		if !inAudio {
			return
		}
		if !wroteFormats {
			writeFormats()
		}
		if !wroteDir {
			out = append(out, "a="+dir.String())
		}
		inAudio, doneAudio = false, true
	}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "o="):
			l = bumpSessionVersion(l)
		case strings.HasPrefix(l, "m="):
			endAudio()
			if !doneAudio && strings.HasPrefix(l, "m=audio ") {
				inAudio = true
				f := strings.Fields(l)
				if len(f) >= 3 {
					f = f[:3]
					for _, c := range formats {
						f = append(f, strconv.Itoa(int(c.PayloadType)))
					}
					l = strings.Join(f, " ")
				}
			}
		case inAudio && (strings.HasPrefix(l, "a=rtpmap:") || strings.HasPrefix(l, "a=fmtp:")):
			if !wroteFormats {
				writeFormats()
			}
			continue
		case inAudio && strings.HasPrefix(l, "a=rtcp-fb:"):
			pt, _, _ := strings.Cut(strings.TrimPrefix(l, "a=rtcp-fb:"), " ")
			if !keep[pt] {
				continue
			}
		case inAudio && isDirectionLine(l):
			if wroteDir {
				continue
			}
			l, wroteDir = "a="+dir.String(), true
		case strings.HasPrefix(l, "a=setup:") && setup != "":
			l = "a=setup:" + setup
		}
		out = append(out, l)
	}
	endAudio()
	return strings.Join(out, eol) + eol
}

func isDirectionLine(l string) bool {
	_, ok := ParseDirection(strings.TrimPrefix(l, "a="))
	return ok && strings.HasPrefix(l, "a=")
}

// setDirectionSDP returns raw with the first audio section's direction set to dir.
func setDirectionSDP(raw string, dir Direction) string {
	lines, eol := sdpLines(raw)
	out := make([]string, 0, len(lines)+1)
	inAudio, done, wrote := false, false, false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "m="):
			if inAudio && !wrote {
				out = append(out, "a="+dir.String())
				wrote = true
			}
			inAudio = !done && strings.HasPrefix(l, "m=audio ")
			done = done || inAudio
		case inAudio && isDirectionLine(l):
			if wrote {
				continue
			}
			l, wrote = "a="+dir.String(), true
		}
		out = append(out, l)
	}
	if inAudio && !wrote {
		out = append(out, "a="+dir.String())
	}
	return strings.Join(out, eol) + eol
}

// bumpSessionVersion increments the sess-version of an o= line.
func bumpSessionVersion(l string) string {
	f := strings.Fields(l)
	if len(f) != 6 {
		return l
	}
	v, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return l
	}
	f[2] = strconv.FormatUint(v+1, 10)
	return strings.Join(f, " ")
}

// withDefaultCandidate sets the audio port and the c=/o= addresses of a fully
// gathered SDP to its first IPv4 UDP RTP candidate, as a complete non-trickle
// SDP shows them (RFC 8839 §4.2.1.2; the browser's SDP carries real addresses,
// fact sheet §18.2, while pion writes 0.0.0.0 and port 9).
func withDefaultCandidate(raw string) string {
	lines, eol := sdpLines(raw)
	ip, port := "", ""
	for _, l := range lines {
		v, ok := strings.CutPrefix(l, "a=candidate:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 8 || f[1] != "1" || !strings.EqualFold(f[2], "udp") || strings.Contains(f[4], ":") {
			continue
		}
		ip, port = f[4], f[5]
		break
	}
	if ip == "" {
		return raw
	}
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "c=IN IP4 "):
			lines[i] = "c=IN IP4 " + ip
		case strings.HasPrefix(l, "o=") && strings.HasSuffix(l, " IN IP4 0.0.0.0"):
			lines[i] = strings.TrimSuffix(l, "0.0.0.0") + ip
		case strings.HasPrefix(l, "m=audio "):
			if f := strings.Fields(l); len(f) > 1 {
				f[1] = port
				lines[i] = strings.Join(f, " ")
			}
		}
	}
	return strings.Join(lines, eol) + eol
}
