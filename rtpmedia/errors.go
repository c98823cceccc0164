package rtpmedia

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of these, so callers
// classify them with errors.Is.
var (
	// ErrMalformedSDP: the SDP could not be parsed (SIP 400).
	ErrMalformedSDP = errors.New("rtpmedia: malformed SDP")
	// ErrNoAudio: the SDP has no audio m-line (SIP 488).
	ErrNoAudio = errors.New("rtpmedia: no audio stream in SDP")
	// ErrNoCommonCodec: the offer has no codec we support (SIP 488).
	ErrNoCommonCodec = errors.New("rtpmedia: no common codec")
	// ErrUnsupportedTransport: the audio stream is not plain RTP/AVP (e.g. SRTP) (SIP 488).
	ErrUnsupportedTransport = errors.New("rtpmedia: unsupported media transport")
	// ErrSRTP: the SDES-SRTP policy refuses the SDP (SRTP required but not
	// offered, SRTP offered but off or over insecure signalling, no usable
	// a=crypto) (SIP 488). Such errors also match ErrUnsupportedTransport.
	ErrSRTP = errors.New("rtpmedia: SRTP not acceptable")
	// ErrNoPorts: the port allocator has no free RTP port (SIP 503).
	ErrNoPorts = errors.New("rtpmedia: no free RTP ports")
	// ErrMediaTimeout: no media was received for the configured timeout.
	ErrMediaTimeout = errors.New("rtpmedia: media timeout")
	// ErrInvalidConfig: a configuration value is out of range.
	ErrInvalidConfig = errors.New("rtpmedia: invalid configuration")
	// ErrShortPacket: an RTP/RTCP/telephone-event payload is too short.
	ErrShortPacket = errors.New("rtpmedia: short packet")
)

// Error is an error that knows the SIP status a UA should answer with.
// It wraps one of the sentinel errors above.
type Error struct {
	Kind   error  // one of the sentinel errors
	Detail string // human-readable detail
	Status int    // SIP status code
	Cause  error  // the underlying error (e.g. pion/sdp's parse error), may be nil
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Detail
}

// Unwrap returns the sentinel error and, if set, the cause, so errors.Is
// matches either.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// SIPStatus returns the SIP response status the failed operation maps to.
func (e *Error) SIPStatus() int { return e.Status }

func newError(kind error, status int, format string, args ...any) *Error {
	return &Error{Kind: kind, Status: status, Detail: fmt.Sprintf(format, args...)}
}

func malformed(format string, args ...any) error {
	return newError(ErrMalformedSDP, 400, format, args...)
}

// srtpError is an ErrSRTP error (488) that also matches ErrUnsupportedTransport.
func srtpError(format string, args ...any) *Error {
	e := newError(ErrSRTP, 488, format, args...)
	e.Cause = ErrUnsupportedTransport
	return e
}

// malformedCause is malformed with the underlying parse error wrapped.
func malformedCause(cause error, format string, args ...any) error {
	e := newError(ErrMalformedSDP, 400, format, args...)
	e.Cause = cause
	return e
}
