// Package admin owns ynagw's authenticated admin HTTP listener: a small server-rendered
// page and a JSON API to see lines, registered desk phones and active calls, to link a
// line (the YNA OAuth flow: /link → T-Mobile's link page → /link/callback), to unlink it,
// to change its E911 address, to change the log level at run time, and the unauthenticated
// /healthz and /readyz probes (and /metrics).
//
// The package does not know the gateway, the SIP server or the store: it talks to them
// through the Backend interface, which the daemon implements.
//
// Security: every route except /healthz and /readyz (and /metrics when
// Config.MetricsOpen) needs HTTP Basic auth or the bearer token (constant-time compare).
// The link state is random, single-use, expires after StateLifetime and is bound to the
// admin session cookie. HTML forms carry a per-session CSRF token and cross-origin unsafe
// requests are refused (net/http CrossOriginProtection). Responses carry a strict
// Content-Security-Policy and X-Frame-Options DENY. No token or secret is ever rendered,
// with one exception: the E911 hand-off form (e911.html, Cache-Control no-store) carries the
// line's access token as a hidden field of the POST the browser makes to the provider's
// E911 page (§5.6), so that the token is in no URL, history entry, log or Referer.
package admin
