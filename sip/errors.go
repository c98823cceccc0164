package sip

import (
	"errors"
	"fmt"
	"net/http"
)

// StatusError is an error that carries the SIP status code it maps to.
type StatusError struct {
	Code      int    // SIP status code, e.g. 486
	Reason    string // reason phrase; empty means the standard phrase
	Err       error  // optional cause
	Retryable bool   // true when retrying later (or elsewhere) may succeed
}

func (e *StatusError) Error() string {
	r := e.Reason
	if r == "" {
		r = StatusText(e.Code)
	}
	if e.Err != nil {
		return fmt.Sprintf("sip %d %s: %v", e.Code, r, e.Err)
	}
	return fmt.Sprintf("sip %d %s", e.Code, r)
}

func (e *StatusError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBusyHere) match any StatusError with the same code.
func (e *StatusError) Is(target error) bool {
	var t *StatusError
	if errors.As(target, &t) {
		return t.Code == e.Code
	}
	return false
}

// StatusOf returns the SIP status code of err (500 if err carries none, 200 for nil).
func StatusOf(err error) int {
	if err == nil {
		return 200
	}
	var se *StatusError
	if errors.As(err, &se) && se.Code >= 100 && se.Code < 700 {
		return se.Code
	}
	return 500
}

// Sentinel status errors; compare with errors.Is.
var (
	ErrBadRequest           = &StatusError{Code: 400}
	ErrUnauthorized         = &StatusError{Code: 401}
	ErrForbidden            = &StatusError{Code: 403}
	ErrNotFound             = &StatusError{Code: 404}
	ErrMethodNotAllowed     = &StatusError{Code: 405}
	ErrProxyAuthRequired    = &StatusError{Code: 407}
	ErrRequestTimeout       = &StatusError{Code: 408, Retryable: true}
	ErrBadExtension         = &StatusError{Code: 420}
	ErrIntervalTooBrief     = &StatusError{Code: 423}
	ErrTemporarilyUnavail   = &StatusError{Code: 480, Retryable: true}
	ErrCallDoesNotExist     = &StatusError{Code: 481}
	ErrBusyHere             = &StatusError{Code: 486, Retryable: true}
	ErrRequestTerminated    = &StatusError{Code: 487}
	ErrNotAcceptable        = &StatusError{Code: 488}
	ErrRequestPending       = &StatusError{Code: 491, Retryable: true}
	ErrServerInternal       = &StatusError{Code: 500, Retryable: true}
	ErrServiceUnavailable   = &StatusError{Code: 503, Retryable: true}
	ErrDecline              = &StatusError{Code: 603}
	ErrSessionIntervalSmall = &StatusError{Code: 422}
)

// Non-status errors.
var (
	// ErrClosed is returned after Server.Close or when a dialog has ended.
	ErrClosed = errors.New("sip: closed")
	// ErrNoAck means the 2xx to an INVITE was never acknowledged (Timer H).
	ErrNoAck = errors.New("sip: no ACK for 2xx")
	// ErrSessionExpired means an RFC 4028 session refresh failed or never came.
	ErrSessionExpired = errors.New("sip: session expired")
	// ErrCanceled means the caller CANCELled the INVITE before it was answered.
	ErrCanceled = errors.New("sip: call canceled")
	// ErrAlreadyAnswered is returned when a final response was already sent.
	ErrAlreadyAnswered = errors.New("sip: final response already sent")
	// ErrOfferPending is returned by ReInvite while another offer/answer exchange runs.
	ErrOfferPending = errors.New("sip: offer/answer exchange in progress")
)

// StatusText returns the standard reason phrase for a SIP status code.
func StatusText(code int) string {
	if s, ok := statusText[code]; ok {
		return s
	}
	if s := http.StatusText(code); s != "" {
		return s
	}
	return "Unknown"
}

var statusText = map[int]string{
	100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
	200: "OK", 202: "Accepted",
	400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
	406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
	413: "Request Entity Too Large", 415: "Unsupported Media Type", 416: "Unsupported URI Scheme",
	420: "Bad Extension", 421: "Extension Required", 422: "Session Interval Too Small", 423: "Interval Too Brief",
	480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 482: "Loop Detected",
	483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
	488: "Not Acceptable Here", 491: "Request Pending", 493: "Undecipherable",
	500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
	504: "Server Time-out", 505: "Version Not Supported", 513: "Message Too Large",
	600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}
