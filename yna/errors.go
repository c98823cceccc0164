package yna

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// Sentinel errors, matched with errors.Is against errors returned by Client.
var (
	// ErrUnauthorized matches an HTTP 401 (token expired or revoked, bad PoP).
	ErrUnauthorized = errors.New("yna: unauthorized")
	// ErrForbidden matches an HTTP 403.
	ErrForbidden = errors.New("yna: forbidden")
	// ErrNotFound matches an HTTP 404 (e.g. unknown callId).
	ErrNotFound = errors.New("yna: not found")
	// ErrConflict matches an HTTP 409.
	ErrConflict = errors.New("yna: conflict")
	// ErrNotReady matches an HTTP 202 "registration in progress, try again later" (§5.4).
	ErrNotReady = errors.New("yna: not ready, try again later")
	// ErrNoChannelURL: account status answered without a channelUrl (§5.4).
	ErrNoChannelURL = errors.New("yna: account status without channelUrl")
	// ErrBadResponse: a 2xx response lacked data the operation needs (callId, answer SDP, token).
	ErrBadResponse = errors.New("yna: unusable response body")
	// ErrEmergencyNumber: emergency numbers cannot be called over YNA (§10.4).
	ErrEmergencyNumber = errors.New("yna: emergency calls are not supported")
)

// APIError is an HTTP-level failure of one YNA REST operation: a non-2xx status (with the
// parsed §3 error body, if any) or a 2xx whose body lacks what the operation needs (Err set).
type APIError struct {
	Op            string // operation: OpStart, OpHold, ..., OpNameToken, OpNameAccountStatus, ...
	HTTPStatus    int
	ReasonCode    string // e.g. "ERR-4004"
	SystemMessage string // e.g. "NOT_FOUND"
	UserMessage   string
	TransactionID string // X-Transaction-Id of the request
	Body          string // raw response body (truncated)
	// Err is an optional cause (ErrNotReady, ErrNoChannelURL, ErrBadResponse); see Unwrap.
	Err error
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("yna: ")
	b.WriteString(e.Op)
	fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
	if e.ReasonCode != "" {
		b.WriteString(" " + e.ReasonCode)
	}
	if e.SystemMessage != "" {
		b.WriteString(" " + e.SystemMessage)
	}
	if e.UserMessage != "" && e.UserMessage != e.SystemMessage {
		b.WriteString(": " + e.UserMessage)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.TransactionID != "" {
		b.WriteString(" (transaction " + e.TransactionID + ")")
	}
	return b.String()
}

// Unwrap returns the cause, if any.
func (e *APIError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnauthorized) etc. match by HTTP status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.HTTPStatus == http.StatusUnauthorized
	case ErrForbidden:
		return e.HTTPStatus == http.StatusForbidden
	case ErrNotFound:
		return e.HTTPStatus == http.StatusNotFound
	case ErrConflict:
		return e.HTTPStatus == http.StatusConflict
	case ErrNotReady:
		return e.HTTPStatus == http.StatusAccepted
	}
	return false
}

// Retryable reports whether trying the same request again later may succeed: true for
// 202 (not ready), 408, 429 and 5xx; false for other 4xx and unusable 2xx bodies.
func (e *APIError) Retryable() bool {
	switch {
	case e.HTTPStatus == http.StatusAccepted:
		return true
	case e.HTTPStatus == http.StatusRequestTimeout, e.HTTPStatus == http.StatusTooManyRequests:
		return true
	case e.HTTPStatus >= 500:
		return true
	}
	return false
}

// IsRetryable classifies any error returned by Client: APIError per its Retryable method;
// network timeouts and connection errors are retryable; context.Canceled, emergency-number
// and other local errors are not.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	}
	// Other dial/read/write failures are transient; url.Errors without a network cause
	// (bad URL, redirect policy) are not.
	var oe *net.OpError
	return errors.As(err, &oe)
}

// NumberError is returned by NormalizeLine / NormalizeDestination for unusable numbers.
type NumberError struct {
	Input  string
	Reason string
	Err    error // ErrEmergencyNumber for blocked numbers, else nil
}

func (e *NumberError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("yna: number %q: %v", e.Input, e.Err)
	}
	return fmt.Sprintf("yna: number %q: %s", e.Input, e.Reason)
}

// Unwrap returns ErrEmergencyNumber for blocked numbers.
func (e *NumberError) Unwrap() error { return e.Err }
