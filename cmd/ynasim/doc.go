// Command ynasim runs the YNA network simulator (package yna/ynasim) as a standalone server
// for first runs, browser experiments and manual testing of ynagw.
//
// On start it loads demo application credentials from -state-dir (generating them on the
// first run: client id, secret and a 2048-bit RSA key in PKCS#8 PEM), registers that app,
// creates a demo account with line 14255550100, and prints the base URL, the credentials,
// the private key path and a sample link URL. SIGINT or SIGTERM shut it down gracefully.
//
// Usage:
//
//	ynasim [-addr 127.0.0.1:9080] [-state-dir DIR] [-token-lifetime 24h] [-retention 10m] [-call-history N] [-lax-pop] [-auto-approve] [-v]
//
// The control API under /sim/ is described in yna/ynasim/README.md.
package main
