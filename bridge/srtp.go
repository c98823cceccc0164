package bridge

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"go.uber.org/zap"
)

// SDES-SRTP toward the phone side. The policy comes from the user's or trunk's
// srtp setting; keys only go into the SDP when that side's SIP runs over TLS
// (rtpmedia/sdp_srtp.go has the offer/answer table). Our key is made once per
// call (per fork branch) and kept for re-INVITEs.

// phoneSRTP is the SRTP policy of a call's phone side and our key toward it.
type phoneSRTP struct {
	mode   rtpmedia.SRTPMode
	secure bool             // the phone's SIP runs over TLS
	key    *rtpmedia.Crypto // our SDES key; nil when SRTP cannot be used
}

// newPhoneSRTP parses a srtp setting (validated by config; anything else counts
// as off) and makes our key when SRTP may be used.
func newPhoneSRTP(setting string, secure bool) (phoneSRTP, error) {
	mode, err := rtpmedia.ParseSRTPMode(setting)
	if err != nil {
		mode = rtpmedia.SRTPOff
	}
	p := phoneSRTP{mode: mode, secure: secure}
	if mode != rtpmedia.SRTPOff && secure {
		if p.key, err = rtpmedia.NewCrypto(1, ""); err != nil {
			return p, fmt.Errorf("bridge: SRTP key: %w", err)
		}
	}
	return p, nil
}

// apply copies the policy into an offer/answer configuration.
func (p phoneSRTP) apply(cfg *rtpmedia.OfferConfig) {
	cfg.SRTP, cfg.Secure, cfg.Crypto = p.mode, p.secure, p.key
}

// secureURI reports whether a request to uri goes over TLS (sips: or transport=tls).
func secureURI(uri string) bool {
	l := strings.ToLower(strings.Trim(strings.TrimSpace(uri), "<>"))
	if strings.HasPrefix(l, "sips:") {
		return true
	}
	l, _, _ = strings.Cut(l, "?") // URI headers
	params := strings.Split(l, ";")
	for _, p := range params[1:] {
		if strings.TrimSpace(p) == "transport=tls" {
			return true
		}
	}
	return false
}

// setSRTPKeys turns SRTP on the SIP leg on, rekeys it or (nil) turns it off.
func (c *call) setSRTPKeys(k *rtpmedia.SRTPKeys) error {
	if err := c.sipLeg.SetSRTP(k); err != nil {
		return err
	}
	if k != nil {
		c.log.Debug("SRTP toward the phone", zap.String("suite", k.Suite))
	}
	return nil
}

// phoneAnswered applies the phone's answer to an offer of ours: its SRTP keys.
func (c *call) phoneAnswered(md *rtpmedia.MediaDescription) error {
	var cfg rtpmedia.OfferConfig
	c.phoneSRTP.apply(&cfg)
	k, err := rtpmedia.AnswerSRTP(cfg, md)
	if err != nil {
		return err
	}
	return c.setSRTPKeys(k)
}

// srtpOffers gives the fork targets whose SRTP policy allows keys their own
// offer with a key of their own, and drops the targets a required policy
// cannot reach (not over TLS). It returns the targets to ring and the policy
// of each by branch label.
func (c *call) srtpOffers(targets []sip.Target, settings []string, codecs []rtpmedia.Codec) ([]sip.Target, map[string]phoneSRTP, error) {
	out := targets[:0:0]
	pols := make(map[string]phoneSRTP, len(targets))
	for i, t := range targets {
		p, err := newPhoneSRTP(settings[i], secureURI(t.URI))
		if err != nil {
			return nil, nil, err
		}
		if p.mode == rtpmedia.SRTPRequired && !p.secure {
			c.log.Warn("not ringing a target: srtp required but it is not reached over TLS", zap.String("branch", t.Label))
			continue
		}
		if p.key != nil {
			cfg := c.localSDPConfig(codecs, rtpmedia.SendRecv)
			p.apply(&cfg)
			if t.Offer, err = rtpmedia.BuildOffer(cfg); err != nil {
				return nil, nil, err
			}
		}
		pols[t.Label] = p
		out = append(out, t)
	}
	return out, pols, nil
}

// srtpRefusal classifies an INVITE refused by the SRTP policy: 488 with a Warning
// (302 Incompatible transport protocol: RTP/AVP vs RTP/SAVP is the transport); nil if
// err is no SRTP refusal.
func (c *call) srtpRefusal(err error) *CallError {
	if !errors.Is(err, rtpmedia.ErrSRTP) {
		return nil
	}
	ce := callErr(488, ResultCodec, "Media encryption not acceptable", false, err)
	ce.WarnCode, ce.WarnText = sip.WarnIncompatibleTransport, warningText(err)
	c.log.Info("outbound call rejected by the SRTP policy", zap.Int("status", 488), zap.Stringer("srtp", c.phoneSRTP.mode),
		zap.Bool("tls", c.phoneSRTP.secure), zap.Error(err))
	return ce
}

// warningText is the detail of an SRTP refusal without the sentinel prefix.
func warningText(err error) string {
	var re *rtpmedia.Error
	if errors.As(err, &re) && re.Detail != "" {
		return re.Detail
	}
	return err.Error()
}

// checkPhoneOffer refuses a phone's offer the transport or SRTP policy cannot take,
// before the network is called.
func (c *call) checkPhoneOffer(md *rtpmedia.MediaDescription) error {
	var cfg rtpmedia.OfferConfig
	c.phoneSRTP.apply(&cfg)
	if err := rtpmedia.CheckOffer(md, cfg); err != nil {
		return fmt.Errorf("phone offered %s: %w", md.Proto, err)
	}
	return nil
}
