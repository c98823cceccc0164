// Package daemon owns the assembly and the lifecycle of the ynagw daemon: it builds every
// part from a *config.Config (logger with a run-time level, store, metrics, SIP server,
// YNA client, WebRTC engine, gateway, admin HTTP server), recovers calls a crash left
// open, refreshes line tokens, and runs the signal-driven lifecycle: SIGTERM drains
// (new INVITEs get 503 + Retry-After, readiness off, active calls may finish until the
// drain timeout, then the rest are ended properly), SIGINT stops at once (still ending
// calls properly), SIGHUP reloads what can change without dropping calls.
//
// cmd/ynagw only parses flags and calls Run, CheckConfig, PrintLines.
package daemon
