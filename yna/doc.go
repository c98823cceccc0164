// Package yna is the client of T-Mobile's YNA calling API: PoP signing, REST calls, notification channel.
//
// The wire protocol follows the fact sheet shared/yna-protocol.md (cited as §N in comments).
// Facts that are inferences rather than documented or observed behaviour are collected in
// guess.go so that they can be changed in one place once the real service confirms or refutes them.
//
// Files: pop.go (the X-Authorization proof-of-possession JWT, signing and server-side
// verification), types.go (REST wire structures, paths and operation names), client.go (the
// REST client), errors.go (typed errors), msisdn.go (number normalisation), notify.go and
// channel.go (notification payloads and the WebSocket notification channel).
package yna
