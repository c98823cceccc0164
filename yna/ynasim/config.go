package ynasim

import (
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ynagw/ynagw/yna"
)

// Config configures a Sim. The zero value is usable: Init fills in defaults.
type Config struct {
	// Apps are the DevEdge applications registered with the simulated service.
	Apps []App
	// Accounts are the T-Mobile customer accounts (with their lines) known at start.
	Accounts []Account

	// TokenLifetime is the access token lifetime (expires_in). Default DefaultTokenLifetime.
	TokenLifetime time.Duration
	// CodeLifetime is how long an authorization code can be exchanged. Default DefaultCodeLifetime.
	CodeLifetime time.Duration
	// LinkFlowLifetime is how long a rendered link page (its form) can be submitted. Default 10 min.
	LinkFlowLifetime time.Duration

	// PoP is the X-Authorization verification mode. The zero value is PoPStrict.
	PoP PoPMode
	// PoPSkew is the clock skew tolerated on PoP iat/exp. Default DefaultPoPSkew.
	PoPSkew time.Duration

	// AutoApprove makes GET linkAccount redirect at once with a code, without a page. The account
	// is the one named by the login_hint query parameter (account id or MSISDN), else the first.
	AutoApprove bool

	// RedeliverUnacked resends, on a newly opened socket, every notification that was sent but
	// not acknowledged. Whether the real service does this is unknown (§6.4, §17 q3).
	RedeliverUnacked bool

	// Retention is how long the simulator keeps what is over: ended calls (their snapshots
	// stay readable through Call, Calls and the control API), expired access tokens (401
	// "expired" rather than "invalid"), retired channel URLs (superseded by a newer one or
	// invalidated, and no socket open on them; 404 afterwards), expired link flows, codes and
	// E911 forms. Default DefaultRetention.
	Retention time.Duration
	// CallHistory caps the number of ended calls kept, newest first. Default
	// DefaultCallHistory.
	CallHistory int

	// Now is the clock. Default time.Now. Tests inject a fake clock to expire codes and tokens.
	Now func() time.Time
	// Log receives the simulator's logs. Default zap.NewNop().
	Log *zap.Logger
}

// PoPMode selects how strictly X-Authorization is verified.
type PoPMode int

const (
	// PoPStrict requires a valid PoP on every API request: RS256 signature with the app key,
	// v "1", iat/exp window ≤ 120 s within the skew, edts matching, unique jti, and ehts
	// naming http-method, uri, Authorization (not required on the token call) and body when
	// a body is sent. Any failure is 401 ERR-4001.
	PoPStrict PoPMode = iota
	// PoPLax accepts a missing X-Authorization; a present one is checked for signature,
	// time window and edts, without required names or jti replay checks.
	PoPLax
	// PoPOff ignores X-Authorization entirely.
	PoPOff
)

// String returns "strict", "lax" or "off".
func (m PoPMode) String() string {
	switch m {
	case PoPStrict:
		return "strict"
	case PoPLax:
		return "lax"
	case PoPOff:
		return "off"
	}
	return "unknown"
}

// Documented or observed defaults.
const (
	// DefaultTokenLifetime is the access token lifetime of the spec example (§5.2).
	DefaultTokenLifetime = 86400 * time.Second
	// DefaultCodeLifetime is the authorization code validity ("about 60 s", §5.1).
	DefaultCodeLifetime = 60 * time.Second
	// DefaultPoPSkew is the PoP clock skew tolerated by default.
	DefaultPoPSkew = 30 * time.Second
	// DefaultLinkFlowLifetime bounds how long a rendered link page stays submittable.
	DefaultLinkFlowLifetime = 10 * time.Minute
	// DefaultRetention is how long ended calls and dead credentials are kept (Config.Retention).
	DefaultRetention = 10 * time.Minute
	// DefaultCallHistory is how many ended calls are kept at most (Config.CallHistory).
	DefaultCallHistory = 1000
)

// Init fills in defaults for unset fields.
func (c *Config) Init() {
	if c.TokenLifetime <= 0 {
		c.TokenLifetime = DefaultTokenLifetime
	}
	if c.CodeLifetime <= 0 {
		c.CodeLifetime = DefaultCodeLifetime
	}
	if c.LinkFlowLifetime <= 0 {
		c.LinkFlowLifetime = DefaultLinkFlowLifetime
	}
	if c.PoPSkew <= 0 {
		c.PoPSkew = DefaultPoPSkew
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.CallHistory <= 0 {
		c.CallHistory = DefaultCallHistory
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
}

// ---------------------------------------------------------------------------------------------
// Guesses. Every simulator behaviour below is an inference, not documented or observed
// behaviour of the real service. Keep them here so they are easy to change.
// ---------------------------------------------------------------------------------------------

const (
	// channelPathPrefix and channelPathSuffix frame the 64-hex capability token of a channel
	// URL. The layout is the spec example's (§1, §5.4); that the token is a per-fetch
	// capability that stays valid until unlink is guess: fact sheet §6.1, §18.4.
	channelPathPrefix = "/wss/channelCreateUrl/notificationchannel/v1/"
	channelPathSuffix = "/channels/mavch1/notifications"

	// statusReturnCode is the returnCode of a 200 account status body. guess: fact sheet §5.4
	// (meaning of returnCode unknown, §17 q8; the spec example is 200).
	statusReturnCode = 200

	// unlinkStatus is the status of a successful DELETE /account/unlink: the YAML says 200, the
	// diagram 204 for another path. guess: fact sheet §5.5.
	unlinkStatusCode = 200

	// tokenIssuer is the iss claim of the JWT-shaped access tokens. Clients treat tokens as
	// opaque (§5.2); the shape follows the spec example. guess: fact sheet §5.2.
	tokenIssuer = "https://naas.t-mobile.com"
	// tokenScope is the scope claim of the spec's example access token. guess: fact sheet §5.2.
	tokenScope = "openid vvm chat"

	// errorCodeAccessDenied is the error_code put on the redirect when the user cancels the
	// link page; the SDK aborts sign-in on any error_code. guess: fact sheet §5.1.
	errorCodeAccessDenied = "access_denied"

	// socketSendQueue is how many frames may wait for a slow socket before it is dropped. guess.
	socketSendQueue = 256
)

// pruneEvery is how often (on the Sim's clock) the credential and channel tables are swept
// for what Config.Retention no longer keeps; sweeps happen on requests, not on a timer.
func pruneEvery(retention time.Duration) time.Duration { return min(retention/10, 10*time.Second) }

// A superseded channel URL (a newer one was handed out by account status) without an open
// socket stops working Config.Retention after it was superseded. guess: fact sheet §6.1,
// §18.4 only show that a client reuses an old URL within seconds of a drop; the real
// service's URL lifetime is unknown (§17 q3).
const supersededURLsExpire = true

// pongFor returns the reply to a client "PING <ts>" text frame: "PONG <ts>".
// guess: fact sheet §6.2 / §17 q4 — the real server's pong text is unknown.
func pongFor(ping []byte) string { return yna.PongText(ping) }

// refreshGrantSupported reports whether grant_type=refresh_token is honoured. No refresh grant
// is documented (§5.3); the simulator offers one. guess: fact sheet §5.3, §17 q5.
const refreshGrantSupported = true

// popRequired returns the ehts names a strict verifier insists on for an endpoint: the token
// call is signed under Basic auth, so only http-method and uri are required there.
// guess: fact sheet §4.3 item 4, §18.7.
func popRequired(endpoint string, base []string) []string {
	if endpoint != endpointToken {
		return base
	}
	var out []string
	for _, n := range base {
		if !strings.EqualFold(n, "Authorization") {
			out = append(out, n)
		}
	}
	return out
}

// redirectAllowed reports whether a link/token redirect_uri is acceptable for an app. An app
// with registered redirect URIs must use one of them exactly (modulo a trailing slash); an
// app registered without any accepts every http(s) URI. guess: developer guide step 4
// (redirect URIs are registered with the app), matching rules unknown.
func redirectAllowed(app *App, uri string) bool {
	if !strings.HasPrefix(uri, "http://") && !strings.HasPrefix(uri, "https://") {
		return false
	}
	if len(app.RedirectURIs) == 0 {
		return true
	}
	for _, r := range app.RedirectURIs {
		if strings.TrimSuffix(r, "/") == strings.TrimSuffix(uri, "/") {
			return true
		}
	}
	return false
}
