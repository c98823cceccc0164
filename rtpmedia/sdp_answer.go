package rtpmedia

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

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

	// SRTP is the SDES-SRTP policy toward the peer (see sdp_srtp.go); Secure
	// says the SIP signalling is confidential (TLS): without it no key is
	// offered or accepted. Crypto is our key for an offer (required when the
	// offer carries one) and, if its length fits, for an answer.
	SRTP   SRTPMode
	Secure bool
	Crypto *Crypto
}

// Negotiated is the outcome of answering an offer.
type Negotiated struct {
	SDP   []byte    // our answer
	Codec Codec     // the chosen codec (offer's payload type); zero for a disabled stream
	DTMF  *Codec    // the offered telephone-event we accepted, nil if none
	SRTP  *SRTPKeys // the stream's SDES keys, nil for plain RTP
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
	protos, crypto, err := offerSRTP(cfg)
	if err != nil {
		return nil, err
	}
	sd := sessionFor(cfg)
	m := audioSection(cfg.Addr.Port(), protos, codecs, cfg)
	if crypto != nil {
		m.Attributes = append(m.Attributes, sdp.NewAttribute("crypto", crypto.String()))
	}
	sd.MediaDescriptions = []*sdp.MediaDescription{m}
	return marshal(sd)
}

// Answer answers an offer (RFC 3264 §6): it picks the first codec of the OFFER
// that local supports (the offerer's preference), adds telephone-event if it is
// offered at the chosen codec's clock rate and local supports it, and answers
// the direction (offer direction answered, narrowed by local.Direction). The
// chosen codec and DTMF format carry the offer's payload types. A disabled
// offered stream (port 0) is answered with port 0 and a zero Codec. Other
// m-lines of the offer are rejected with port 0. With no common codec the error
// wraps ErrNoCommonCodec and has SIPStatus() 488. Answer is AnswerSDP without
// the SRTP keys (use AnswerSDP when local.SRTP is not SRTPOff).
func Answer(offer *MediaDescription, local OfferConfig) (answer []byte, chosen Codec, dtmf *Codec, err error) {
	n, err := AnswerSDP(offer, local)
	if err != nil {
		return nil, Codec{}, nil, err
	}
	return n.SDP, n.Codec, n.DTMF, nil
}

// AnswerSDP answers an offer like Answer and applies the SRTP policy of local
// (sdp_srtp.go): an SDES-SRTP stream is answered with our a=crypto (the offer's
// tag and suite) and its keys are returned. A refusal by the policy wraps
// ErrSRTP (488).
func AnswerSDP(offer *MediaDescription, local OfferConfig) (*Negotiated, error) {
	if offer == nil {
		return nil, malformed("no offer")
	}
	if !local.Addr.Addr().IsValid() {
		return nil, newError(ErrInvalidConfig, 500, "answer address is not set")
	}
	var (
		formats []Codec
		chosen  Codec
		dtmf    *Codec
		ours    *Crypto
		keys    *SRTPKeys
	)
	if !offer.Disabled() {
		var err error
		if ours, keys, err = answerSRTP(offer, local); err != nil {
			return nil, err
		}
		var ok bool
		chosen, dtmf, ok = chooseCodec(offer.Codecs, codecsOrDefault(local.Codecs))
		if !ok {
			return nil, newError(ErrNoCommonCodec, 488, "offered %s", codecList(offer.Codecs))
		}
		formats = append(formats, chosen)
		if dtmf != nil {
			formats = append(formats, *dtmf)
		}
	}
	cfg := local
	cfg.Direction = offer.EffectiveDirection().Answer().Intersect(local.Direction)
	sd := sessionFor(cfg)
	mlines := offer.mlines
	audio := offer.audioIndex
	if len(mlines) == 0 { // a MediaDescription not made by ParseSDP
		mlines, audio = []mline{{media: "audio", protos: splitProto(offer.Proto)}}, 0
	}
	for i, ml := range mlines {
		protos := ml.protos
		if len(protos) == 0 {
			protos = []string{"RTP", "AVP"}
		}
		if i != audio || offer.Disabled() {
			sd.MediaDescriptions = append(sd.MediaDescriptions, rejectedSection(ml.media, protos, ml.formats))
			continue
		}
		m := audioSection(local.Addr.Port(), protos, formats, cfg)
		if ours != nil {
			m.Attributes = append(m.Attributes, sdp.NewAttribute("crypto", ours.String()))
		}
		sd.MediaDescriptions = append(sd.MediaDescriptions, m)
	}
	b, err := marshal(sd)
	if err != nil {
		return nil, err
	}
	return &Negotiated{SDP: b, Codec: chosen, DTMF: dtmf, SRTP: keys}, nil
}

// sessionFor builds the session part: o=, s=-, c= (session level) and t=0 0.
func sessionFor(cfg OfferConfig) *sdp.SessionDescription {
	user := cfg.Username
	if user == "" || strings.ContainsAny(user, " \t\r\n") {
		user = "-"
	}
	ipv := "IP4"
	if cfg.Addr.Addr().Is6() && !cfg.Addr.Addr().Is4In6() {
		ipv = "IP6"
	}
	addr := cfg.Addr.Addr().Unmap().String()
	return &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username: user, SessionID: cfg.SessionID, SessionVersion: cfg.Version,
			NetworkType: "IN", AddressType: ipv, UnicastAddress: addr,
		},
		SessionName:           "-",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: ipv, Address: &sdp.Address{Address: addr}},
		TimeDescriptions:      []sdp.TimeDescription{{Timing: sdp.Timing{}}},
	}
}

// audioSection is our audio m-line with rtpmap/fmtp, ptime, rtcp and direction.
func audioSection(port uint16, protos []string, codecs []Codec, cfg OfferConfig) *sdp.MediaDescription {
	m := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: int(port)}, Protos: protos}}
	for _, c := range codecs {
		m.MediaName.Formats = append(m.MediaName.Formats, strconv.Itoa(int(c.PayloadType)))
	}
	for _, c := range codecs {
		m.Attributes = append(m.Attributes, sdp.NewAttribute("rtpmap", c.rtpmap()))
		if c.Fmtp != "" {
			m.Attributes = append(m.Attributes, sdp.NewAttribute("fmtp", strconv.Itoa(int(c.PayloadType))+" "+c.Fmtp))
		}
	}
	if cfg.PTime > 0 {
		m.Attributes = append(m.Attributes, sdp.NewAttribute("ptime", strconv.Itoa(cfg.PTime)))
	}
	if cfg.RTCPPort > 0 && cfg.RTCPPort != int(port)+1 {
		m.Attributes = append(m.Attributes, sdp.NewAttribute("rtcp", strconv.Itoa(cfg.RTCPPort)))
	}
	m.Attributes = append(m.Attributes, sdp.NewPropertyAttribute(cfg.Direction.String()))
	return m
}

// rejectedSection repeats an offered m-line with port 0 (RFC 3264 §6).
func rejectedSection(media string, protos, formats []string) *sdp.MediaDescription {
	if len(formats) == 0 {
		formats = []string{"0"}
	}
	return &sdp.MediaDescription{MediaName: sdp.MediaName{Media: media, Protos: protos, Formats: formats}}
}

func marshal(sd *sdp.SessionDescription) ([]byte, error) {
	b, err := sd.Marshal()
	if err != nil {
		e := newError(ErrInvalidConfig, 500, "marshal SDP: %v", err)
		e.Cause = err
		return nil, e
	}
	return b, nil
}

func splitProto(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
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
