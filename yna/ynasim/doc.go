// Package ynasim simulates the T-Mobile side of YNA ("Your Number Anywhere") for tests and
// first runs: the account services (link page, token, account status, unlink, E911 page),
// the notification channel (WebSocket with ping/pong, nsMsg envelopes and ack tracking),
// the calling endpoints with real WebRTC far-end media (calls*.go, farend/), fault
// injection, and a JSON control API under /sim/ (see README.md).
//
// The simulator is strict: it rejects what the real service would reject, as far as the
// fact sheet (shared/yna-protocol.md, cited as §N) tells. Bearer tokens must be valid and
// unexpired, PoP tokens (X-Authorization) are verified against the app's registered public
// key, authorization codes are single-use and expire after 60 s. Behaviour that is an
// inference rather than a documented or observed fact is listed in README.md ("Guesses"),
// and lives in config.go (account services, channel) and call_script.go (call flows,
// codecs), each with a comment naming the fact-sheet section that leaves it open.
//
// Use in tests:
//
//	sim, err := ynasim.New(ynasim.Config{Apps: []ynasim.App{app}, Accounts: []ynasim.Account{{ID: "a", Lines: []string{"14255550100"}}}})
//	if err := sim.Start("127.0.0.1:0"); err != nil { ... }
//	defer sim.Close()
//	// point the client at sim.URL()
//
// Files: sim.go (Sim, lifecycle, HTTP plumbing), config.go (Config and the service guesses),
// apps.go (registered applications), account.go (accounts, status, unlink, E911 page),
// link.go (link page, authorization codes), token.go (token endpoint, grants), auth.go
// (bearer + PoP checks), hub.go (notification channel), faults.go (fault injection),
// control.go (the /sim/ control API), calls.go and call_*.go (calls; call_script.go holds
// the call guesses and the network codec behaviours).
package ynasim
