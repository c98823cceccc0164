// Package daemon owns the assembly and the lifecycle of the ynagw daemon: it builds every
// part from a *config.Config (logger with a run-time level, store, metrics, SIP server,
// YNA client, WebRTC engine, gateway, admin HTTP server), recovers calls a crash left
// open, refreshes line tokens, and runs the signal-driven lifecycle: SIGTERM drains
// (new INVITEs get 503 + Retry-After, readiness off, active calls may finish until the
// drain timeout, then the rest are ended properly), SIGINT stops at once (still ending
// calls properly), SIGHUP reloads what can change without dropping calls (routing, log
// level, SIP users through sip.Server.SetUsers).
//
// Calls are recorded durably through bridge.CallRecorder (cdr.go: a row opened at setup,
// the YNA call id and the answer recorded before they matter), so that after a crash
// recoverOrphans can DELETE /end the orphaned YNA calls and close their rows. Draining is
// bridge's (Gateway.SetDraining) plus readiness off and ynagw_up 0. The admin pages read
// live calls and channel states from the gateway (Gateway.Calls, Gateway.ChannelState).
//
// cmd/ynagw only parses flags and calls Run, CheckConfig, Health (the API commands
// talk to a running daemon over the admin API).
package daemon
