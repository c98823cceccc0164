package rtpmedia

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
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

	// Offer/answer bookkeeping: every m-line of the SDP, so an answer keeps
	// the m-line count (RFC 3264 §6) and rejects the others with port 0.
	mlines     []mline
	audioIndex int
	sessionID  uint64
}

type mline struct {
	media, proto, fmts string
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

// ParseSDP parses an SDP body and returns its first audio stream. It is lenient
// toward real-world SDP: LF or CRLF line endings, a missing final line ending,
// unknown lines and attributes. Errors wrap ErrMalformedSDP or ErrNoAudio.
func ParseSDP(sdp []byte) (*MediaDescription, error) {
	if len(sdp) > maxSDPSize {
		return nil, malformed("SDP larger than %d bytes", maxSDPSize)
	}
	var (
		sessConn   netip.Addr
		sessDir    Direction
		sessDirSet bool
		sessPTime  int
		md         *MediaDescription
		mediaConn  netip.Addr
		dirSet     bool
		rtcpPort   int
		rtcpAddr   netip.Addr
		rtpmaps    = map[uint8]Codec{}
		fmtps      = map[uint8]string{}
		fmtOrder   []uint8
		inAudio    bool
		mlines     []mline
		sessionID  uint64
		sawVersion bool
	)
	lineNo := 0
	for len(sdp) > 0 {
		var line []byte
		if i := bytes.IndexByte(sdp, '\n'); i >= 0 {
			line, sdp = sdp[:i], sdp[i+1:]
		} else {
			line, sdp = sdp, nil
		}
		lineNo++
		line = bytes.TrimRight(line, "\r \t")
		if len(line) == 0 {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return nil, malformed("line %d: %q is not <type>=<value>", lineNo, truncate(line))
		}
		typ, val := line[0], string(line[2:])
		switch typ {
		case 'v':
			if val != "0" {
				return nil, malformed("unsupported version v=%s", val)
			}
			sawVersion = true
		case 'o':
			f := strings.Fields(val)
			if len(f) >= 2 {
				sessionID, _ = strconv.ParseUint(f[1], 10, 64)
			}
		case 'c':
			a, err := parseConnection(val)
			if err != nil {
				return nil, err
			}
			if len(mlines) == 0 {
				sessConn = a
			} else if inAudio {
				mediaConn = a
			}
		case 'm':
			f := strings.Fields(val)
			if len(f) < 3 {
				return nil, malformed("line %d: bad m= line %q", lineNo, val)
			}
			mlines = append(mlines, mline{media: f[0], proto: f[2], fmts: strings.Join(f[3:], " ")})
			inAudio = false
			if md != nil || f[0] != "audio" {
				continue
			}
			portStr, _, _ := strings.Cut(f[1], "/") // "<port>[/<count>]"
			port, err := strconv.ParseUint(portStr, 10, 16)
			if err != nil {
				return nil, malformed("line %d: bad port %q", lineNo, f[1])
			}
			md = &MediaDescription{Proto: f[2], audioIndex: len(mlines) - 1}
			md.Addr = netip.AddrPortFrom(netip.Addr{}, uint16(port))
			inAudio = true
			for _, s := range f[3:] {
				pt, err := strconv.ParseUint(s, 10, 8)
				if err != nil || pt > 127 {
					continue // non-RTP format (e.g. "webrtc-datachannel"); ignore
				}
				fmtOrder = append(fmtOrder, uint8(pt))
			}
		case 'a':
			name, value, _ := strings.Cut(val, ":")
			if len(mlines) == 0 {
				if d, ok := ParseDirection(name); ok {
					sessDir, sessDirSet = d, true
				} else if name == "ptime" {
					sessPTime = atoiDefault(value)
				}
				continue
			}
			if !inAudio {
				continue
			}
			switch name {
			case "rtpmap":
				pt, c, ok := parseRtpmap(value)
				if ok {
					rtpmaps[pt] = c
				}
			case "fmtp":
				ptStr, params, _ := strings.Cut(value, " ")
				if pt, err := strconv.ParseUint(ptStr, 10, 8); err == nil {
					fmtps[uint8(pt)] = strings.TrimSpace(params)
				}
			case "ptime":
				md.PTime = atoiDefault(value)
			case "rtcp":
				// a=rtcp:<port> [IN IP4 <addr>] (RFC 3605)
				f := strings.Fields(value)
				if len(f) == 0 {
					break
				}
				p, err := strconv.ParseUint(f[0], 10, 16)
				if err != nil {
					return nil, malformed("line %d: bad a=rtcp %q", lineNo, value)
				}
				rtcpPort = int(p)
				if len(f) >= 3 {
					if a, err := parseConnection(strings.Join(f[1:], " ")); err == nil {
						rtcpAddr = a
					}
				}
			case "rtcp-mux":
				md.RTCPMux = true
			default:
				if d, ok := ParseDirection(name); ok {
					md.Direction, dirSet = d, true
				}
			}
		}
	}
	if !sawVersion && len(mlines) == 0 {
		return nil, malformed("not an SDP body")
	}
	if md == nil {
		return nil, newError(ErrNoAudio, 488, "%d m-lines, none audio", len(mlines))
	}
	md.mlines = mlines
	md.sessionID = sessionID
	conn := mediaConn
	if !conn.IsValid() {
		conn = sessConn
	}
	if !conn.IsValid() {
		return nil, malformed("audio stream has no c= line")
	}
	md.Addr = netip.AddrPortFrom(conn, md.Addr.Port())
	if !dirSet && sessDirSet {
		md.Direction = sessDir
	}
	if md.PTime == 0 {
		md.PTime = sessPTime
	}
	for _, pt := range fmtOrder {
		c, ok := rtpmaps[pt]
		if !ok {
			c, ok = staticPayloadTypes[pt]
		}
		if !ok {
			c = Codec{PayloadType: pt} // dynamic PT without rtpmap: unknown
		}
		c.Fmtp = fmtps[pt]
		md.Codecs = append(md.Codecs, c)
	}
	for i := range md.Codecs {
		if md.Codecs[i].IsDTMF() {
			d := md.Codecs[i]
			md.DTMF = &d
			break
		}
	}
	switch {
	case rtcpPort != 0:
		a := rtcpAddr
		if !a.IsValid() {
			a = conn
		}
		md.RTCPAddr = netip.AddrPortFrom(a, uint16(rtcpPort))
	case md.RTCPMux:
		md.RTCPAddr = md.Addr
	case md.Addr.Port() != 0 && md.Addr.Port() < 65535:
		md.RTCPAddr = netip.AddrPortFrom(conn, md.Addr.Port()+1)
	}
	md.Held = md.Addr.Port() == 0 || conn.IsUnspecified() || md.Direction == SendOnly || md.Direction == Inactive
	return md, nil
}

// parseConnection parses "IN IP4 <addr>[/ttl]".
func parseConnection(val string) (netip.Addr, error) {
	f := strings.Fields(val)
	if len(f) < 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
		return netip.Addr{}, malformed("bad connection line %q", val)
	}
	host, _, _ := strings.Cut(f[2], "/") // strip multicast TTL/count
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, malformed("connection address %q is not an IP address", host)
	}
	if (f[1] == "IP4") != a.Is4() {
		return netip.Addr{}, malformed("connection address %q does not match %s", host, f[1])
	}
	return a, nil
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

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// OfferConfig describes our side of an audio stream.
type OfferConfig struct {
	Addr      netip.AddrPort // advertised address and RTP port; port 0 = disabled stream
	Codecs    []Codec        // supported codecs in preference order; nil = DefaultCodecs
	Direction Direction      // what we want (SendRecv unless we hold)
	PTime     int            // a=ptime in ms; 0 = omit
	SessionID uint64         // o= sess-id
	Version   uint64         // o= sess-version; increment for every new offer/answer in a dialog
	Username  string         // o= username; "" = "-"
	RTCPPort  int            // emitted as a=rtcp when set and not RTP port+1
}

// BuildOffer builds an SDP offer for one audio stream.
func BuildOffer(cfg OfferConfig) ([]byte, error) {
	if !cfg.Addr.Addr().IsValid() {
		return nil, newError(ErrInvalidConfig, 500, "offer address is not set")
	}
	codecs := codecsOrDefault(cfg.Codecs)
	if len(codecs) == 0 {
		return nil, newError(ErrInvalidConfig, 500, "no codecs to offer")
	}
	var b strings.Builder
	writeSessionHeader(&b, cfg)
	b.WriteString("m=audio ")
	b.WriteString(strconv.Itoa(int(cfg.Addr.Port())))
	b.WriteString(" RTP/AVP")
	for _, c := range codecs {
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(int(c.PayloadType)))
	}
	b.WriteString("\r\n")
	writeMediaAttrs(&b, codecs, cfg)
	return []byte(b.String()), nil
}

func writeSessionHeader(b *strings.Builder, cfg OfferConfig) {
	user := cfg.Username
	if user == "" || strings.ContainsAny(user, " \r\n") {
		user = "-"
	}
	ipv := "IP4"
	if cfg.Addr.Addr().Is6() && !cfg.Addr.Addr().Is4In6() {
		ipv = "IP6"
	}
	addr := cfg.Addr.Addr().Unmap().String()
	b.WriteString("v=0\r\n")
	b.WriteString("o=" + user + " " + strconv.FormatUint(cfg.SessionID, 10) + " " +
		strconv.FormatUint(cfg.Version, 10) + " IN " + ipv + " " + addr + "\r\n")
	b.WriteString("s=-\r\n")
	b.WriteString("c=IN " + ipv + " " + addr + "\r\n")
	b.WriteString("t=0 0\r\n")
}

func writeMediaAttrs(b *strings.Builder, codecs []Codec, cfg OfferConfig) {
	for _, c := range codecs {
		b.WriteString("a=rtpmap:" + c.rtpmap() + "\r\n")
		if c.Fmtp != "" {
			b.WriteString("a=fmtp:" + strconv.Itoa(int(c.PayloadType)) + " " + c.Fmtp + "\r\n")
		}
	}
	if cfg.PTime > 0 {
		b.WriteString("a=ptime:" + strconv.Itoa(cfg.PTime) + "\r\n")
	}
	if cfg.RTCPPort > 0 && cfg.RTCPPort != int(cfg.Addr.Port())+1 {
		b.WriteString("a=rtcp:" + strconv.Itoa(cfg.RTCPPort) + "\r\n")
	}
	b.WriteString("a=" + cfg.Direction.String() + "\r\n")
}

// Answer answers an offer (RFC 3264 §6): it picks the first codec of the OFFER
// that local supports (the offerer's preference), adds telephone-event if it is
// offered at the chosen codec's clock rate and local supports it, and answers
// the direction (offer direction answered, narrowed by local.Direction). The
// chosen codec and DTMF format carry the offer's payload types. A disabled
// offered stream (port 0) is answered with port 0 and a zero Codec. Other
// m-lines of the offer are rejected with port 0. With no common codec the error
// wraps ErrNoCommonCodec and has SIPStatus() 488.
func Answer(offer *MediaDescription, local OfferConfig) (answer []byte, chosen Codec, dtmf *Codec, err error) {
	if offer == nil {
		return nil, Codec{}, nil, malformed("no offer")
	}
	if !local.Addr.Addr().IsValid() {
		return nil, Codec{}, nil, newError(ErrInvalidConfig, 500, "answer address is not set")
	}
	var (
		b       strings.Builder
		formats []Codec
		port    = local.Addr.Port()
	)
	if offer.Disabled() {
		port = 0
	} else {
		if !isPlainRTP(offer.Proto) {
			return nil, Codec{}, nil, newError(ErrUnsupportedTransport, 488, "offer uses %q", offer.Proto)
		}
		var ok bool
		chosen, dtmf, ok = chooseCodec(offer.Codecs, codecsOrDefault(local.Codecs))
		if !ok {
			return nil, Codec{}, nil, newError(ErrNoCommonCodec, 488, "offered %s", codecList(offer.Codecs))
		}
		formats = append(formats, chosen)
		if dtmf != nil {
			formats = append(formats, *dtmf)
		}
	}
	cfg := local
	cfg.Direction = offer.EffectiveDirection().Answer().Intersect(local.Direction)
	writeSessionHeader(&b, cfg)
	mlines := offer.mlines
	if len(mlines) == 0 {
		mlines = []mline{{media: "audio", proto: offer.Proto}}
	}
	for i, ml := range mlines {
		if i != offer.audioIndex {
			fmts := ml.fmts
			if fmts == "" {
				fmts = "0"
			}
			b.WriteString("m=" + ml.media + " 0 " + ml.proto + " " + fmts + "\r\n")
			continue
		}
		proto := offer.Proto
		if proto == "" {
			proto = "RTP/AVP"
		}
		b.WriteString("m=audio " + strconv.Itoa(int(port)) + " " + proto)
		if port == 0 {
			fmts := ml.fmts
			if fmts == "" {
				fmts = "0"
			}
			b.WriteString(" " + fmts + "\r\n")
			continue
		}
		for _, c := range formats {
			b.WriteString(" " + strconv.Itoa(int(c.PayloadType)))
		}
		b.WriteString("\r\n")
		writeMediaAttrs(&b, formats, cfg)
	}
	return []byte(b.String()), chosen, dtmf, nil
}

func isPlainRTP(proto string) bool {
	return proto == "" || strings.EqualFold(proto, "RTP/AVP") || strings.EqualFold(proto, "RTP/AVPF")
}

// chooseCodec returns the first offered audio codec local supports and the
// offered telephone-event at its clock rate (if local supports telephone-event).
func chooseCodec(offered, local []Codec) (Codec, *Codec, bool) {
	localDTMF := false
	for _, l := range local {
		if l.IsDTMF() {
			localDTMF = true
		}
	}
	for _, o := range offered {
		if o.IsDTMF() || o.Name == "" {
			continue
		}
		for _, l := range local {
			if l.IsDTMF() || !o.Matches(l) {
				continue
			}
			chosen := o
			if chosen.Fmtp == "" {
				chosen.Fmtp = l.Fmtp
			}
			if !localDTMF {
				return chosen, nil, true
			}
			for _, d := range offered {
				if d.IsDTMF() && d.ClockRate == o.ClockRate {
					d := d
					return chosen, &d, true
				}
			}
			return chosen, nil, true
		}
	}
	return Codec{}, nil, false
}

func codecList(cs []Codec) string {
	names := make([]string, 0, len(cs))
	for _, c := range cs {
		names = append(names, c.String())
	}
	return "[" + strings.Join(names, " ") + "]"
}
