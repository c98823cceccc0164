package yna

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// REST paths under the CPaaS root (§2).
const (
	PathLinkAccount            = "/cpaas/v1/account-mgmt/linkAccount"
	PathToken                  = "/cpaas/v1/oauth/token"
	PathAccountStatus          = "/cpaas/v1/account/status"
	PathUnlink                 = "/cpaas/v1/account/unlink"
	PathChangeEmergencyAddress = "/cpaas/v1/account-mgmt/changeEmergencyAddress"
	PathCall                   = "/cpaas/v1/call"
)

// Calling operation names: the path segment after PathCall (§2, §7).
const (
	OpStart        = "start"
	OpInProgress   = "inProgress"
	OpRinging      = "ringing"
	OpProceeding   = "proceeding"
	OpConnected    = "connected"
	OpHold         = "hold"
	OpAcceptHold   = "acceptHold"
	OpResume       = "resume"
	OpAcceptResume = "acceptResume"
	OpRenegotiate  = "renegotiate"
	OpUpdate       = "update" // undocumented, SDK-only (§2 #16)
	OpEnd          = "end"    // DELETE
)

// CallOps lists every calling operation except OpStart, i.e. those taking a {callId}.
var CallOps = []string{OpInProgress, OpRinging, OpProceeding, OpConnected, OpHold, OpAcceptHold,
	OpResume, OpAcceptResume, OpRenegotiate, OpUpdate, OpEnd}

// CallPath returns the path of a calling operation: PathCall+"/start" for OpStart (callID
// ignored), otherwise PathCall+"/"+op+"/"+callID with callID path-escaped.
func CallPath(op, callID string) string {
	if op == OpStart {
		return PathCall + "/" + OpStart
	}
	return PathCall + "/" + op + "/" + url.PathEscape(callID)
}

// Header names used on the wire (§3). Spelling follows the SDK; lookups are case-insensitive.
const (
	HeaderAuthorization = "Authorization"
	HeaderPoP           = "X-Authorization"
	HeaderTransactionID = "X-Transaction-Id"
	HeaderContentType   = "Content-Type"
	HeaderAccept        = "Accept"
	HeaderConference    = "Conference"
	HeaderReason        = "Reason"

	ContentTypeJSON = "application/json"
)

// TokenResponse is the 200 body of POST /oauth/token (§5.2).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"` // seconds; 0 = absent (use DefaultTokenLifetime)
}

// AccountStatus is the 200 body of GET /account/status (§5.4).
type AccountStatus struct {
	ReturnCode int    `json:"returnCode"`
	ChannelURL string `json:"channelUrl"`
	Lines      []Line `json:"lines"`
}

// UnmarshalJSON tolerates returnCode sent as a string and null lines.
func (a *AccountStatus) UnmarshalJSON(data []byte) error {
	var aux struct {
		ReturnCode json.RawMessage `json:"returnCode"`
		ChannelURL string          `json:"channelUrl"`
		Lines      []Line          `json:"lines"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*a = AccountStatus{ChannelURL: aux.ChannelURL, Lines: aux.Lines}
	a.ReturnCode, _ = strconv.Atoi(looseScalar(aux.ReturnCode))
	return nil
}

// looseScalar returns a JSON string's content or a number/bool literal as text ("" otherwise).
func looseScalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == '{' || raw[0] == '[' || string(raw) == "null" {
		return ""
	}
	var s string
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return strings.TrimSpace(s)
	}
	return string(raw)
}

// RegisteredLines returns the MSISDNs whose regStatus is true (the usable caller lines, §5.4).
func (a *AccountStatus) RegisteredLines() []string {
	var out []string
	for _, l := range a.Lines {
		if l.RegStatus {
			out = append(out, l.MSISDN)
		}
	}
	return out
}

// Line is one entry of AccountStatus.Lines.
type Line struct {
	MSISDN    string `json:"msisdn"`
	RegStatus bool   `json:"regStatus"`
}

// UnmarshalJSON tolerates msisdn sent as a number and regStatus sent as a string.
func (l *Line) UnmarshalJSON(data []byte) error {
	var aux struct {
		MSISDN    json.RawMessage `json:"msisdn"`
		RegStatus json.RawMessage `json:"regStatus"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	l.MSISDN = looseScalar(aux.MSISDN)
	l.RegStatus, _ = strconv.ParseBool(looseScalar(aux.RegStatus))
	return nil
}

// StartRequest is the body of POST /call/start (§7); members marshal in SDK order.
type StartRequest struct {
	From             string `json:"from"`
	To               string `json:"to"`
	SDP              string `json:"sdp"`
	ClientCorrelator string `json:"clientCorrelator"`
}

// StartResponse is the 201 body of POST /call/start (§7).
type StartResponse struct {
	To               string `json:"to"`
	From             string `json:"from"`
	CallID           string `json:"callId"`
	ClientCorrelator string `json:"clientCorrelator"`
}

// CallStatusRequest is the body of the status/SDP calling operations (§7). SDP nil marshals
// as {} and a pointer to "" as {"sdp":""}.
type CallStatusRequest struct {
	SDP *string `json:"sdp,omitempty"`
}

// SDPResult is the body of the /hold and /resume 200 responses (and of /connected in the
// offer-less path): a status and an answer SDP (§7, §9.3, §9.4; shape partly guess, see guess.go).
type SDPResult struct {
	Status                string                 `json:"status"`
	SDP                   string                 `json:"sdp"`
	ReceiverSessionStatus *ReceiverSessionStatus `json:"receiverSessionStatus,omitempty"`
}

// AnswerSDP returns the flat sdp, or else receiverSessionStatus.sdp.
func (r *SDPResult) AnswerSDP() string {
	if r == nil {
		return ""
	}
	if r.SDP != "" {
		return r.SDP
	}
	if r.ReceiverSessionStatus != nil {
		return r.ReceiverSessionStatus.SDP
	}
	return ""
}

// ReceiverSessionStatus is the nested status/answer some responses carry (§9.3).
type ReceiverSessionStatus struct {
	Status string `json:"status"`
	SDP    string `json:"sdp"`
}

// ErrorBody is the error response body of every endpoint (§3).
type ErrorBody struct {
	Errors []ErrorInfo `json:"errors"`
}

// ErrorInfo is one entry of ErrorBody.Errors.
type ErrorInfo struct {
	ReasonCode    string `json:"reasonCode"`
	SystemMessage string `json:"systemMessage"`
	UserMessage   string `json:"userMessage"`
}

// ErrorReasonCode maps an HTTP status to the spec's reasonCode/systemMessage pair (§3):
// 400 ERR-4000 INVALID_INPUT, 401 ERR-4001 UNAUTHORIZED, 403 ERR-4003 FORBIDDEN,
// 404 ERR-4004 NOT_FOUND, 408 ERR-4008 REQUEST_TIMEOUT, 409 ERR-4009 Conflict,
// 500 ERR-5000 INTERNAL_SERVER_ERROR. Other statuses get a guessed code (see guess.go).
func ErrorReasonCode(httpStatus int) (reasonCode, systemMessage string) {
	switch httpStatus {
	case http.StatusBadRequest:
		return "ERR-4000", "INVALID_INPUT"
	case http.StatusUnauthorized:
		return "ERR-4001", "UNAUTHORIZED"
	case http.StatusForbidden:
		return "ERR-4003", "FORBIDDEN"
	case http.StatusNotFound:
		return "ERR-4004", "NOT_FOUND"
	case http.StatusRequestTimeout:
		return "ERR-4008", "REQUEST_TIMEOUT"
	case http.StatusConflict:
		return "ERR-4009", "Conflict"
	case http.StatusInternalServerError:
		return "ERR-5000", "INTERNAL_SERVER_ERROR"
	}
	return unlistedErrorReason(httpStatus, http.StatusText(httpStatus))
}

// NewErrorBody builds the §3 error body for an HTTP status with a user message.
func NewErrorBody(httpStatus int, userMessage string) ErrorBody {
	code, sys := ErrorReasonCode(httpStatus)
	if userMessage == "" {
		userMessage = sys
	}
	return ErrorBody{Errors: []ErrorInfo{{ReasonCode: code, SystemMessage: sys, UserMessage: userMessage}}}
}
