package sip

import (
	"fmt"

	"github.com/emiago/sipgo/sip"
)

// Warning codes (RFC 3261 §20.43) for refused session descriptions.
const (
	// WarnIncompatibleTransport: a transport protocol of the SDP is not
	// available (e.g. RTP/AVP offered where SRTP is required, or RTP/SAVP where
	// it cannot be used).
	WarnIncompatibleTransport = 302
	// WarnIncompatibleMediaFormat: no offered media format is available.
	WarnIncompatibleMediaFormat = 305
)

// RejectWithWarning is RejectWithReason plus a Warning header
// `<warnCode> <agent> "<text>"` (agent: the configured domain). warnCode must be
// 300-399 (else ErrBadRequest and nothing is sent); text is sanitised like a
// Reason text.
func (c *InboundCall) RejectWithWarning(code int, reasonHeader string, warnCode int, text string) error {
	if warnCode < 300 || warnCode > 399 {
		return fmt.Errorf("sip: warning code %d: %w", warnCode, ErrBadRequest)
	}
	if code < 300 || code > 699 {
		code = 500
	}
	if reasonHeader != "" {
		if err := checkReasonHeader(reasonHeader); err != nil {
			return err
		}
	}
	w := sip.NewHeader("Warning", fmt.Sprintf("%d %s %q", warnCode, c.srv.cfg.Domain, sanitizeReason(text)))
	return c.reject(code, reasonHeader, reasonHeader, w)
}
