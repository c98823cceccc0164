package rtpmedia

import (
	"bytes"
	"strings"
)

// SDES-SRTP in offer/answer (RFC 4568). SDES keys travel in the SDP, so they
// are only offered or accepted when OfferConfig.Secure says the signalling is
// confidential (SIP over TLS). The policy (SRTPMode) gives:
//
//	offer                 off        optional            required
//	RTP/SAVP + crypto     488        SRTP                SRTP
//	RTP/AVP + crypto      plain      SRTP (RFC 8643)     SRTP (RFC 8643)
//	RTP/AVP               plain      plain               488
//	any, not Secure       as above without SRTP: SAVP 488; required 488
//
// Our offers: off → RTP/AVP; optional → RTP/AVP with a=crypto (best-effort
// SRTP, RFC 8643: a phone without SDES ignores the attribute and answers plain
// RTP; one with SDES answers with its key); required → RTP/SAVP with a=crypto.
// Not Secure: optional offers plain RTP, required cannot offer (ErrSRTP).

// isSAVP reports an SDES-SRTP profile (RTP/SAVP, RTP/SAVPF), not DTLS-SRTP's
// UDP/TLS/RTP/SAVP[F].
func isSAVP(proto string) bool {
	return strings.EqualFold(proto, "RTP/SAVP") || strings.EqualFold(proto, "RTP/SAVPF")
}

// offerSRTP returns the m= transport and the a=crypto of our offer.
func offerSRTP(cfg OfferConfig) ([]string, *Crypto, error) {
	switch {
	case cfg.SRTP == SRTPOff:
		return []string{"RTP", "AVP"}, nil, nil
	case !cfg.Secure && cfg.SRTP == SRTPRequired:
		return nil, nil, srtpError("srtp required, but the signalling is not TLS (SDES keys would travel in clear)")
	case !cfg.Secure:
		return []string{"RTP", "AVP"}, nil, nil
	case cfg.Crypto == nil:
		return nil, nil, newError(ErrInvalidConfig, 500, "SRTP offer without a key (OfferConfig.Crypto)")
	case cfg.SRTP == SRTPRequired:
		return []string{"RTP", "SAVP"}, cfg.Crypto, nil
	}
	return []string{"RTP", "AVP"}, cfg.Crypto, nil
}

// answerSRTP applies the policy to an offer (see the table above): it returns
// our a=crypto for the answer and the stream's keys, both nil for plain RTP.
// local.Crypto supplies our key (a fresh one is made if nil or of the wrong length).
func answerSRTP(offer *MediaDescription, local OfferConfig) (*Crypto, *SRTPKeys, error) {
	savp := isSAVP(offer.Proto)
	if !savp && !isPlainRTP(offer.Proto) {
		return nil, nil, newError(ErrUnsupportedTransport, 488, "offer uses %q", offer.Proto)
	}
	switch {
	case savp && local.SRTP == SRTPOff:
		return nil, nil, srtpError("%s offered, but srtp is off", offer.Proto)
	case !local.Secure && (savp || local.SRTP == SRTPRequired):
		return nil, nil, srtpError("%s offered over signalling that is not TLS (srtp %s)", offer.Proto, local.SRTP)
	case !local.Secure || local.SRTP == SRTPOff:
		return nil, nil, nil // plain RTP; a=crypto in an RTP/AVP offer is ignored
	}
	theirs, why := firstUsable(offer.Crypto)
	if theirs == nil {
		if savp || local.SRTP == SRTPRequired {
			if why == "" {
				why = "no a=crypto"
			}
			return nil, nil, srtpError("%s offered with %s, srtp %s", offer.Proto, why, local.SRTP)
		}
		return nil, nil, nil // optional: plain RTP
	}
	key := []byte(nil)
	if local.Crypto != nil && len(local.Crypto.Key) == suites[theirs.Suite].keyLen {
		key = local.Crypto.Key
	} else {
		c, err := NewCrypto(1, theirs.Suite)
		if err != nil {
			return nil, nil, err
		}
		key = c.Key
	}
	ours := &Crypto{Tag: theirs.Tag, Suite: theirs.Suite, Key: bytes.Clone(key)}
	return ours, &SRTPKeys{Suite: theirs.Suite, Local: ours.Key, Remote: bytes.Clone(theirs.Key)}, nil
}

// firstUsable returns the first usable a=crypto (the offerer's preference),
// else nil and why the others are not.
func firstUsable(cs []Crypto) (*Crypto, string) {
	var why []string
	for i := range cs {
		if err := cs[i].Usable(); err != nil {
			why = append(why, cs[i].unusable)
			continue
		}
		return &cs[i], ""
	}
	return nil, strings.Join(why, ", ")
}

// AnswerSRTP checks the peer's answer to an offer of ours made with cfg and
// returns the stream's keys (nil: plain RTP). The answer must pick our a=crypto
// tag and suite; with srtp required, or after an RTP/SAVP offer, a plain answer
// is refused (ErrSRTP); after a plain offer an RTP/SAVP answer is refused.
func AnswerSRTP(cfg OfferConfig, answer *MediaDescription) (*SRTPKeys, error) {
	if answer.Disabled() {
		return nil, nil
	}
	protos, ours, err := offerSRTP(cfg)
	if err != nil {
		return nil, err
	}
	offeredSAVP := protos[1] == "SAVP"
	if ours == nil {
		if isSAVP(answer.Proto) {
			return nil, srtpError("answer uses %s to a plain RTP offer", answer.Proto)
		}
		return nil, nil
	}
	for _, c := range answer.Crypto {
		if c.Tag != ours.Tag {
			continue
		}
		if c.Suite != ours.Suite || c.Usable() != nil {
			return nil, srtpError("answer a=crypto:%d does not match our %s", c.Tag, ours.Suite)
		}
		if !offeredSAVP && isSAVP(answer.Proto) {
			return nil, srtpError("answer uses %s to an RTP/AVP offer", answer.Proto)
		}
		return &SRTPKeys{Suite: ours.Suite, Local: bytes.Clone(ours.Key), Remote: bytes.Clone(c.Key)}, nil
	}
	if offeredSAVP || cfg.SRTP == SRTPRequired || isSAVP(answer.Proto) {
		return nil, srtpError("answer (%s) has no a=crypto:%d, srtp %s", answer.Proto, ours.Tag, cfg.SRTP)
	}
	return nil, nil // optional: the peer took plain RTP
}

// CheckOffer applies local's transport and SRTP policy to an offer without
// answering it (e.g. to refuse an INVITE before anything else is set up): nil
// if AnswerSDP would accept the stream's transport. Errors as AnswerSDP's.
func CheckOffer(offer *MediaDescription, local OfferConfig) error {
	if offer == nil || offer.Disabled() {
		return nil
	}
	_, _, err := answerSRTP(offer, local)
	return err
}
