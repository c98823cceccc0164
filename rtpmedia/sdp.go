package rtpmedia

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// maxSDPSize bounds what ParseSDP accepts; SIP bodies over UDP are far smaller.
const maxSDPSize = 64 << 10

// MediaDescription is the audio stream of an SDP (the first audio m-line).
type MediaDescription struct {
	Addr      netip.AddrPort // c= address + m= port; port 0 = stream disabled
	Proto     string         // m= transport, e.g. "RTP/AVP"
	Codecs    []Codec        // every format of the m-line, in offer order (telephone-event included)
	DTMF      *Codec         // the first telephone-event format, nil if none
	Direction Direction      // media-level attribute, else session-level, else sendrecv
	PTime     int            // a=ptime in ms, 0 if absent
	RTCPAddr  netip.AddrPort // a=rtcp, else the RTP address with port+1 (RTP address if rtcp-mux)
	RTCPMux   bool           // a=rtcp-mux
	Held      bool           // c=0.0.0.0, sendonly/inactive, or port 0
	// Crypto are the stream's SDES a=crypto attributes (RFC 4568) in SDP
	// order, usable or not (Crypto.Usable); syntactically bad ones are
	// counted in BadCrypto instead.
	Crypto    []Crypto
	BadCrypto int

	// Offer/answer bookkeeping: every m-line of the SDP, so an answer keeps
	// the m-line count (RFC 3264 §6) and rejects the others with port 0.
	mlines     []mline
	audioIndex int
	sessionID  uint64
}

// mline is what an answer repeats of an m-line it rejects.
type mline struct {
	media   string
	protos  []string
	formats []string
}

// Disabled reports whether the stream is disabled (port 0).
func (m *MediaDescription) Disabled() bool { return m.Addr.Port() == 0 }

// EffectiveDirection is the offerer's direction, taking RFC 2543-style hold
// (c=0.0.0.0: "do not send to me") into account.
func (m *MediaDescription) EffectiveDirection() Direction {
	if m.Addr.Addr().IsUnspecified() {
		return m.Direction.Intersect(SendOnly)
	}
	return m.Direction
}

// SessionID returns the o= session id of the parsed SDP.
func (m *MediaDescription) SessionID() uint64 { return m.sessionID }

// ParseSDP parses an SDP body (with github.com/pion/sdp/v3, which follows the
// RFC 4566 line order and takes CRLF or LF line endings, also a missing final
// one) and returns its first audio stream.
//
// Errors are *Error values: a body that is not SDP, misses a mandatory line or
// has an unusable audio stream (connection address not an IP, bad a=rtcp) wraps
// ErrMalformedSDP and has SIPStatus 400; a well-formed SDP without an audio
// m-line wraps ErrNoAudio (488). pion's parse error is wrapped too.
func ParseSDP(body []byte) (*MediaDescription, error) {
	if len(body) > maxSDPSize {
		return nil, malformed("SDP larger than %d bytes", maxSDPSize)
	}
	raw := string(body)
	if !strings.HasSuffix(raw, "\n") {
		raw += "\r\n" // pion needs every a= line terminated; some phones omit the last one
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return nil, malformedCause(err, "%v", err)
	}
	// pion accepts input that stops at any line boundary (even an empty body);
	// the time description is the last mandatory session line (v, o, s, t).
	if len(sd.TimeDescriptions) == 0 {
		return nil, malformed("not a complete SDP body (no v=/o=/s=/t= lines)")
	}
	return audioStream(&sd)
}

// audioStream extracts the first audio m-line of a parsed SDP.
func audioStream(sd *sdp.SessionDescription) (*MediaDescription, error) {
	md := &MediaDescription{audioIndex: -1, sessionID: sd.Origin.SessionID}
	var audio *sdp.MediaDescription
	for i, m := range sd.MediaDescriptions {
		md.mlines = append(md.mlines, mline{media: m.MediaName.Media, protos: m.MediaName.Protos, formats: m.MediaName.Formats})
		if audio == nil && m.MediaName.Media == "audio" {
			audio, md.audioIndex = m, i
		}
	}
	if audio == nil {
		return nil, newError(ErrNoAudio, 488, "%d m-lines, none audio", len(sd.MediaDescriptions))
	}
	conn, err := streamConnection(sd, audio)
	if err != nil {
		return nil, err
	}
	md.Proto = strings.Join(audio.MediaName.Protos, "/")
	md.Addr = netip.AddrPortFrom(conn, uint16(audio.MediaName.Port.Value))

	sessDir, sessDirSet, sessPTime := SendRecv, false, 0
	for _, a := range sd.Attributes {
		if d, ok := ParseDirection(a.Key); ok {
			sessDir, sessDirSet = d, true
		} else if a.Key == "ptime" {
			sessPTime = atoiDefault(a.Value)
		}
	}
	md.Direction = sessDir
	var (
		dirSet   bool
		rtcpAttr string
		rtcpSet  bool
		rtpmaps  = map[uint8]Codec{}
		fmtps    = map[uint8]string{}
	)
	for _, a := range audio.Attributes {
		if d, ok := ParseDirection(a.Key); ok {
			md.Direction, dirSet = d, true
			continue
		}
		switch a.Key {
		case "rtpmap":
			if pt, c, ok := parseRtpmap(a.Value); ok {
				rtpmaps[pt] = c
			}
		case "fmtp":
			ptStr, params, _ := strings.Cut(a.Value, " ")
			if pt, err := strconv.ParseUint(ptStr, 10, 8); err == nil {
				fmtps[uint8(pt)] = strings.TrimSpace(params)
			}
		case "ptime":
			md.PTime = atoiDefault(a.Value)
		case "rtcp":
			rtcpAttr, rtcpSet = a.Value, true
		case "rtcp-mux":
			md.RTCPMux = true
		case "crypto":
			if c, err := ParseCrypto(a.Value); err == nil {
				md.Crypto = append(md.Crypto, c)
			} else {
				md.BadCrypto++
			}
		}
	}
	if !dirSet && !sessDirSet {
		md.Direction = SendRecv
	}
	if md.PTime == 0 {
		md.PTime = sessPTime
	}
	md.Codecs = formats(audio.MediaName.Formats, rtpmaps, fmtps)
	for i := range md.Codecs {
		if md.Codecs[i].IsDTMF() {
			d := md.Codecs[i]
			md.DTMF = &d
			break
		}
	}
	if md.RTCPAddr, err = rtcpAddress(md, conn, rtcpAttr, rtcpSet); err != nil {
		return nil, err
	}
	md.Held = md.Addr.Port() == 0 || conn.IsUnspecified() || md.Direction == SendOnly || md.Direction == Inactive
	return md, nil
}

// streamConnection returns the audio stream's c= address (media level, else
// session level).
func streamConnection(sd *sdp.SessionDescription, m *sdp.MediaDescription) (netip.Addr, error) {
	ci := m.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil {
		return netip.Addr{}, malformed("audio stream has no c= line")
	}
	return connectionAddr(ci)
}

// connectionAddr checks "IN IP4|IP6 <ip>" and returns the address.
func connectionAddr(ci *sdp.ConnectionInformation) (netip.Addr, error) {
	if ci.NetworkType != "IN" || (ci.AddressType != "IP4" && ci.AddressType != "IP6") || ci.Address == nil {
		return netip.Addr{}, malformed("bad connection line %q", ci.String())
	}
	a, err := netip.ParseAddr(ci.Address.Address)
	if err != nil {
		return netip.Addr{}, malformedCause(err, "connection address %q is not an IP address", ci.Address.Address)
	}
	if (ci.AddressType == "IP4") != a.Is4() {
		return netip.Addr{}, malformed("connection address %q does not match %s", ci.Address.Address, ci.AddressType)
	}
	return a, nil
}

// formats resolves the m-line's payload types: rtpmap, else the RFC 3551
// static assignment, else an unknown (nameless) dynamic format. Non-RTP
// formats (e.g. "webrtc-datachannel") are skipped.
func formats(fmts []string, rtpmaps map[uint8]Codec, fmtps map[uint8]string) []Codec {
	var out []Codec
	for _, s := range fmts {
		v, err := strconv.ParseUint(s, 10, 8)
		if err != nil || v > 127 {
			continue
		}
		pt := uint8(v)
		c, ok := rtpmaps[pt]
		if !ok {
			c, ok = staticPayloadTypes[pt]
		}
		if !ok {
			c = Codec{PayloadType: pt}
		}
		c.Fmtp = fmtps[pt]
		out = append(out, c)
	}
	return out
}

// rtcpAddress applies a=rtcp:<port> [IN IP4 <addr>] (RFC 3605), else RTP
// port+1 (the RTP address itself with rtcp-mux).
func rtcpAddress(md *MediaDescription, conn netip.Addr, attr string, set bool) (netip.AddrPort, error) {
	f := strings.Fields(attr)
	switch {
	case set && len(f) > 0:
		p, err := strconv.ParseUint(f[0], 10, 16)
		if err != nil {
			return netip.AddrPort{}, malformedCause(err, "bad a=rtcp %q", attr)
		}
		a := conn
		if len(f) >= 4 && f[1] == "IN" {
			if ra, err := netip.ParseAddr(f[3]); err == nil {
				a = ra
			}
		}
		return netip.AddrPortFrom(a, uint16(p)), nil
	case md.RTCPMux:
		return md.Addr, nil
	case md.Addr.Port() != 0 && md.Addr.Port() < 65535:
		return netip.AddrPortFrom(conn, md.Addr.Port()+1), nil
	}
	return netip.AddrPort{}, nil
}

// parseRtpmap parses "<pt> <name>/<rate>[/<channels>]".
func parseRtpmap(v string) (uint8, Codec, bool) {
	ptStr, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return 0, Codec{}, false
	}
	pt, err := strconv.ParseUint(ptStr, 10, 8)
	if err != nil || pt > 127 {
		return 0, Codec{}, false
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	if len(parts) < 2 || parts[0] == "" {
		return 0, Codec{}, false
	}
	rate, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil || rate == 0 {
		return 0, Codec{}, false
	}
	c := Codec{Name: parts[0], PayloadType: uint8(pt), ClockRate: uint32(rate)}
	if len(parts) >= 3 {
		if ch, err := strconv.ParseUint(parts[2], 10, 16); err == nil {
			c.Channels = uint16(ch)
		}
	}
	return uint8(pt), c, true
}

func atoiDefault(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 1000 {
		return 0
	}
	return n
}
