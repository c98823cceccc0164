// Package sip owns the SIP side of ynagw: listeners (UDP/TCP/TLS), a registrar
// with digest authentication for desk phones, trunk peers (IP allow-list and/or
// digest), inbound calls (UAS), established dialogs with an explicit offer/answer
// state machine, hold detection, RFC 4028 session timers and SIP INFO DTMF.
//
// It knows nothing about YNA or media: callers receive typed call events and
// answer them with SDP they produce themselves.
//
// Usage:
//
//	srv, err := sip.NewServer(cfg)     // cfg.Init + Validate
//	srv.SetHandler(h)                  // h.HandleInvite(ctx, *InboundCall) per new INVITE
//	err = srv.Start(ctx)               // binds and waits until served; srv.Addr("udp") is the real address
//	...
//	call.Progress(ctx, 180, nil)       // or 183 with early-media SDP
//	dlg, err := call.Answer(ctx, sdp)  // 200, retransmitted until ACK
//	for ev := range dlg.Events() {     // *OfferEvent (must Respond), *ByeEvent, *DTMFEvent,
//	}                                  // *AckEvent, *TerminatedEvent (last; channel closes)
//	dlg.ReInvite(ctx, holdSDP)         // our offer (hold/resume toward the phone)
//	dlg.Hangup(ctx, "reason")          // or a full Reason value: `Q.850;cause=16`
//	call.RejectWithReason(486, `Q.850;cause=17;text="User busy"`)
//	srv.SetUsers(users)                // SIGHUP reload; calls and kept users' registrations survive
//	srv.Close()                        // CANCELs ringing forks (cause 503), 480s calls, BYEs dialogs
//
// Config.Observer receives metrics hooks (requests received, responses sent).
// Every UDP request we originate (in-dialog BYE/re-INVITE/UPDATE/ACK, keep-alive
// OPTIONS, fork INVITE/CANCEL) leaves from the UDP listener socket, so phones
// behind NAT, which latched onto that address when registering, receive it.
//
// Clustered nodes behind a proxy (issue 13, configs/kamailio): Config.Registrations
// (a RegistrationStore; default MemoryRegistrations, private) holds the bindings,
// so nodes sharing one ring phones registered through another; a REGISTER's Path
// (RFC 3327) is kept with its binding (Contact.Path) and requests to it carry it as
// Route (Target.Route), reaching the phone through the proxy. Config.Ready decides
// out-of-dialog OPTIONS: 200 when ready, 503 + Retry-After otherwise, which takes a
// draining node out of the proxy's rotation. Requests from Config.Proxies name
// their client in X-Ynagw-Source, which digest nonces and the auth guard use
// (proxysrc.go). In-dialog routing follows
// Record-Route (sipgo's dialog sessions build the route set).
//
// Offers are never answered from a cached SDP (the livekit/sip#779 and diago#125
// bug): every re-INVITE/UPDATE offer reaches the user as an OfferEvent. Helpers
// DetectHold, OfferDirection, AnswerDirection and SetDirection build correct
// answers per RFC 3264 §6.1.
//
// The package is built on github.com/emiago/sipgo (transport and transaction
// layers); dialog state, registrar and authentication are implemented here.
// Outbound UAC calls (parallel forking, trunk calls) live in fork.go/uac.go and
// turn answered sessions into dialogs through (*Server).newClientDialog; they may
// use Server.client, Server.dialogUAs (our Contact per transport),
// Server.sessionTimerInviteHeaders and Server.goOwned.
package sip
