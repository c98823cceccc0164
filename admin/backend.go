package admin

import (
	"context"
	"time"
)

// Backend is what the admin server needs from the rest of the daemon. The daemon
// implements it on top of the gateway, the SIP registrar, the store and the YNA client.
// Methods must be safe for concurrent use.
type Backend interface {
	// Lines lists the known lines (linked or not), in a stable order.
	Lines(ctx context.Context) []LineView
	// Phones lists the registered desk phones.
	Phones(ctx context.Context) []PhoneView
	// Calls lists the active calls.
	Calls(ctx context.Context) []CallView
	// LinkURL is where to send the browser to link a line (YNA linkAccount, §5.1). It must
	// not block: it only builds a URL.
	LinkURL(redirectURI, state string) string
	// CompleteLink exchanges the authorization code for tokens, stores them and starts the
	// line's notification channel. It returns the linked MSISDN.
	CompleteLink(ctx context.Context, code, redirectURI string) (msisdn string, err error)
	// Unlink unlinks the line at YNA, stops its channel and forgets its tokens.
	Unlink(ctx context.Context, msisdn string) error
	// EmergencyAddressURL returns the URL of the provider's E911 address page for the line,
	// with the line's access token as the Authorization query parameter (§5.6: the browser
	// POSTs to it). The admin server moves that parameter into the POST body of a form, so
	// the token is in no URL the browser sees.
	EmergencyAddressURL(ctx context.Context, msisdn, successURL, failureURL string) (string, error)
	// Ready is nil when the daemon can serve calls: SIP listening, store open, channels up.
	Ready(ctx context.Context) error
}

// Line states as the admin page shows them (the store's values).
const (
	LineLinked      = "linked"
	LineNeedsRelink = "needs_relink"
	LineUnlinked    = "unlinked"
)

// LineView is one line as shown on the admin page and in GET /api/v1/lines.
type LineView struct {
	MSISDN string `json:"msisdn"`
	// State is LineLinked, LineNeedsRelink or LineUnlinked.
	State string `json:"state"`
	// Reason says why the line is not linked (free text); empty when linked.
	Reason string `json:"reason,omitempty"`
	// Channel is the notification channel state: "connecting", "connected", "recovering",
	// "failed", "closed"; empty when no channel runs for the line.
	Channel string `json:"channel"`
	// TokenExpiresAt is when the access token expires; zero if unknown.
	TokenExpiresAt time.Time `json:"tokenExpiresAt,omitzero"`
	// LinkedAt is when the line was linked; zero if unknown.
	LinkedAt time.Time `json:"linkedAt,omitzero"`
	// Phones is the number of registered desk phones that ring for this line.
	Phones int `json:"phones"`
	// ActiveCalls is the number of active calls on this line.
	ActiveCalls int `json:"activeCalls"`
	// Owner (clustered mode) is the node holding the line's lease, whose notification
	// channel carries the line's inbound calls; empty in one-process mode or while free.
	Owner string `json:"owner,omitempty"`
}

// PhoneView is one registered desk phone (a SIP registration binding).
type PhoneView struct {
	AOR       string    `json:"aor"`
	Contact   string    `json:"contact"`
	UserAgent string    `json:"userAgent,omitempty"`
	Line      string    `json:"line,omitempty"` // MSISDN the phone is bound to, if any
	Expires   time.Time `json:"expires"`
}

// CallView is one active call.
type CallView struct {
	ID        string    `json:"id"`                  // gateway call id (CDR id)
	SIPCallID string    `json:"sipCallId,omitempty"` // SIP Call-ID
	YNACallID string    `json:"ynaCallId,omitempty"` // YNA callId
	Direction string    `json:"direction"`           // "inbound" or "outbound"
	Line      string    `json:"line"`                // MSISDN
	Remote    string    `json:"remote,omitempty"`    // the other party's number
	User      string    `json:"user,omitempty"`      // the SIP user (desk phone) on the call, if known
	State     string    `json:"state"`
	Since     time.Time `json:"since"`                     // when State was entered
	SetupAt   time.Time `json:"setupAt,omitzero"`          // when the call started
	Duration  float64   `json:"durationSeconds,omitempty"` // seconds since SetupAt
	// RemoteName is the other party's display name as the network gave it (the caller's
	// name of an incoming call, the callee's of an outgoing one if sent); "" if none.
	RemoteName string `json:"remoteName,omitempty"`
}
