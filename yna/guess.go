package yna

import (
	"strconv"
	"strings"
	"time"
)

// Every fact in this file is a [guess] (or an SDK default the real service may not share):
// an inference from the fact sheet that has not been confirmed against the real service.
// Keep them here, in one place, so they are easy to change.

const (
	// DefaultTokenLifetime is assumed when a token response lacks expires_in.
	// guess/sdk default: fact sheet §5.2, §12 (the SDK assumes 600 s).
	DefaultTokenLifetime = 600 * time.Second

	// DefaultStatusRetries is how many times GET /account/status is tried in total before
	// giving up (202 "registration in progress", 5xx, network errors).
	// guess (SDK policy): fact sheet §5.4, §12 — 5 tries, 5 s apart.
	DefaultStatusRetries = 5
	// DefaultStatusRetryDelay is the pause between account-status tries. guess: fact sheet §5.4.
	DefaultStatusRetryDelay = 5 * time.Second

	// DefaultPoPMaxSkew is the clock skew a verifier tolerates on iat/exp.
	// guess: fact sheet §4.3 ("allow small skew"), amount unknown (§17 q5).
	DefaultPoPMaxSkew = 30 * time.Second

	// RefreshGrantType is the grant_type sent to refresh an access token. No refresh grant is
	// documented and the SDK never sends one. guess: fact sheet §5.3, §17 q5.
	RefreshGrantType = "refresh_token"
	// RefreshTokenParam is the query parameter carrying the refresh token (query, like the
	// authorization code of §5.2). guess: fact sheet §5.3.
	RefreshTokenParam = "refresh_token"

	// ReasonNormalUserDisconnect is the Reason header of DELETE /end. It is the only value the
	// SDK sends; other values and their effect are unknown. guess: fact sheet §7, §17 q9.
	ReasonNormalUserDisconnect = "NORMAL_USER_DISCONNECT"

	// HoldResponseStatus / ResumeResponseStatus are the "status" members the /hold and /resume
	// 200 bodies carry; the answer SDP sits beside them in "sdp" and, to be safe, also inside
	// "receiverSessionStatus". guess: fact sheet §9.4, §14 item 9, §16, §17 q1, §18.7.
	HoldResponseStatus   = "Hold"
	ResumeResponseStatus = "Connected"
)

// StrictPoPRequire lists the ehts members a strict verifier insists on ("body" is added
// automatically when a body is present). guess: fact sheet §4.3 item 4, confirmed as
// sufficient for the SDK in §18.7.
func StrictPoPRequire() []string {
	return []string{PoPNameMethod, PoPNameURI, "Authorization"}
}

// unlistedErrorReason gives the reasonCode/systemMessage for HTTP statuses the spec does not
// list (§3 lists 400/401/403/404/408/409/500 only). guess: "ERR-" + status*10 by analogy.
func unlistedErrorReason(httpStatus int, statusText string) (reasonCode, systemMessage string) {
	msg := strings.ToUpper(strings.ReplaceAll(statusText, " ", "_"))
	if msg == "" {
		msg = "ERROR"
	}
	return "ERR-" + strconv.Itoa(httpStatus*10), msg
}
