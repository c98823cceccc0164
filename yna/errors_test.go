package yna

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestAPIErrorClassification(t *testing.T) {
	tests := []struct {
		status    int
		retryable bool
		is        []error
	}{
		{200, false, nil},
		{202, true, []error{ErrNotReady}},
		{400, false, nil},
		{401, false, []error{ErrUnauthorized}},
		{403, false, []error{ErrForbidden}},
		{404, false, []error{ErrNotFound}},
		{408, true, nil},
		{409, false, []error{ErrConflict}},
		{429, true, nil},
		{500, true, nil},
		{502, true, nil},
		{503, true, nil},
	}
	all := []error{ErrUnauthorized, ErrForbidden, ErrNotFound, ErrConflict, ErrNotReady, ErrBadResponse, ErrEmergencyNumber}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			e := &APIError{Op: OpHold, HTTPStatus: tc.status}
			wrapped := fmt.Errorf("bridge: %w", e)
			if e.Retryable() != tc.retryable || IsRetryable(wrapped) != tc.retryable {
				t.Fatalf("retryable = %v/%v, want %v", e.Retryable(), IsRetryable(wrapped), tc.retryable)
			}
			for _, s := range all {
				want := false
				for _, w := range tc.is {
					want = want || w == s
				}
				if errors.Is(wrapped, s) != want {
					t.Errorf("errors.Is(%d, %v) = %v", tc.status, s, !want)
				}
			}
		})
	}
}

func TestAPIErrorMessageAndUnwrap(t *testing.T) {
	e := &APIError{Op: OpStart, HTTPStatus: 404, ReasonCode: "ERR-4004", SystemMessage: "NOT_FOUND",
		UserMessage: "Entity does not exist", TransactionID: "txn-1"}
	want := "yna: start: HTTP 404 ERR-4004 NOT_FOUND: Entity does not exist (transaction txn-1)"
	if e.Error() != want {
		t.Fatalf("Error() = %q", e.Error())
	}
	b := &APIError{Op: OpHold, HTTPStatus: 200, Err: fmt.Errorf("%w: no answer", ErrBadResponse)}
	if !errors.Is(b, ErrBadResponse) || !strings.Contains(b.Error(), "no answer") || b.Retryable() {
		t.Fatalf("bad response error %v", b)
	}
}

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"canceled", context.Canceled, false},
		{"wrapped canceled url error", &url.Error{Op: "Post", URL: "http://x", Err: context.Canceled}, false},
		{"timeout net.Error", &url.Error{Op: "Post", URL: "http://x", Err: timeoutErr{}}, true},
		{"conn refused", &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, true},
		{"conn reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"unexpected EOF", fmt.Errorf("yna: x: %w", io.ErrUnexpectedEOF), true},
		{"EOF", &url.Error{Op: "Post", URL: "http://x", Err: io.EOF}, true},
		{"dns not found", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", IsNotFound: true}}, false},
		{"dns timeout", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "timeout", IsTimeout: true}}, true},
		{"redirect policy", &url.Error{Op: "Get", URL: "http://x", Err: errors.New("stopped after 10 redirects")}, false},
		{"emergency", &NumberError{Input: "911", Err: ErrEmergencyNumber}, false},
		{"plain", errors.New("x"), false},
		{"api 503", &APIError{HTTPStatus: http.StatusServiceUnavailable}, true},
		{"api 400", &APIError{HTTPStatus: http.StatusBadRequest}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsRetryable(tc.err); got != tc.want {
				t.Fatalf("IsRetryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestNumberError(t *testing.T) {
	e := &NumberError{Input: "911", Err: ErrEmergencyNumber}
	if !errors.Is(e, ErrEmergencyNumber) || !strings.Contains(e.Error(), "emergency") {
		t.Fatalf("%v", e)
	}
	p := &NumberError{Input: "x", Reason: "no digits"}
	if errors.Is(p, ErrEmergencyNumber) || !strings.Contains(p.Error(), "no digits") {
		t.Fatalf("%v", p)
	}
}

func TestErrorReasonCode(t *testing.T) {
	tests := []struct {
		status    int
		code, sys string
	}{
		{400, "ERR-4000", "INVALID_INPUT"},
		{401, "ERR-4001", "UNAUTHORIZED"},
		{403, "ERR-4003", "FORBIDDEN"},
		{404, "ERR-4004", "NOT_FOUND"},
		{408, "ERR-4008", "REQUEST_TIMEOUT"},
		{409, "ERR-4009", "Conflict"},
		{500, "ERR-5000", "INTERNAL_SERVER_ERROR"},
		{503, "ERR-5030", "SERVICE_UNAVAILABLE"},
		{799, "ERR-7990", "ERROR"},
	}
	for _, tc := range tests {
		code, sys := ErrorReasonCode(tc.status)
		if code != tc.code || sys != tc.sys {
			t.Errorf("ErrorReasonCode(%d) = %s %s, want %s %s", tc.status, code, sys, tc.code, tc.sys)
		}
	}
	b := NewErrorBody(404, "")
	if len(b.Errors) != 1 || b.Errors[0] != (ErrorInfo{"ERR-4004", "NOT_FOUND", "NOT_FOUND"}) {
		t.Fatalf("NewErrorBody = %+v", b)
	}
	raw, err := marshalJSON(NewErrorBody(400, "Schema validation failed"))
	if err != nil || string(raw) != `{"errors":[{"reasonCode":"ERR-4000","systemMessage":"INVALID_INPUT","userMessage":"Schema validation failed"}]}` {
		t.Fatalf("marshal = %s %v", raw, err)
	}
}
