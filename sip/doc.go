// Package sip owns the SIP side of ynagw: listeners (UDP/TCP/TLS), a registrar
// with digest authentication for desk phones, trunk peers (IP allow-list and/or
// digest), inbound calls (UAS), established dialogs with an explicit offer/answer
// state machine, hold detection, RFC 4028 session timers and SIP INFO DTMF.
//
// It knows nothing about YNA or media: callers receive typed call events
// (InboundCall, Dialog.Events) and answer them with SDP they produce themselves.
// The package is built on github.com/emiago/sipgo (transport and transaction
// layers); dialogs, registrar and authentication are implemented here.
//
// Outbound UAC calls (parallel forking, trunk calls) live in fork.go/uac.go and
// create their dialogs through (*Server).newClientDialog.
package sip
