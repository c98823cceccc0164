// Package bridge is the product core of ynagw: it joins a SIP call (package sip, plain
// RTP via rtpmedia.Leg) to a YNA call (package yna, WebRTC media) and relays media
// between them. It is the only package that knows both SIP and YNA.
//
// # Ownership
//
// A call is one state machine owned by ONE goroutine (fsm.go): one select loop turns
// everything that happens to the call into an event (YNA notifications, routed by callId
// from the line's notification channel into the call's mailbox and drained in that one
// place; SIP dialog and fork events; its timer; media failures; shutdown; the results of
// the call's helpers, which only do blocking I/O such as ICE gathering or a re-INVITE)
// and runs the handler the transitions table names for the call's direction and state.
// Every way out goes through end (end.go), once: the SIP action the state calls for
// (final response, CANCEL or BYE), DELETE /end, the helpers, the legs and the relay,
// metrics and the CDR. A DELETE /end that fails is retried with backoff by the gateway
// and kept through an EndRecorder until it goes through (endretry.go).
//
// Every YNA request asks the TokenSource for the line's token at that moment; a 401
// gets one refresh and one retry through a TokenRefresher, which is told when the line
// needs a relink (netapi.go).
//
// A Gateway owns one notification channel per linked line (one line = one linked YNA
// account with its own access token, see TokenSource), the table callId → call, and
// every call goroutine. Close ends every call properly (BYE toward SIP, DELETE /end
// toward YNA) and waits for all goroutines.
//
// Files: config.go (Config), deps.go (TokenSource, Metrics, CDRSink, CallRecorder),
// snapshot.go (Calls, ChannelState), media.go (NetLeg, Relay, MediaFactory), webrtc.go
// (WebRTCMedia), ports.go (the SIP side, phone leg and clock as the calls use them, and
// their production adapters), netapi.go (the YNA calling API with per-request tokens),
// gateway.go (Gateway, call table, notification routing), line.go (one notification
// channel per line), routing.go (outbound line choice), fsm.go (states, events, the
// transitions table, the loop), call.go (the call and its media), outbound.go,
// inbound.go, established.go, reoffer.go (transactional re-offers both ways, glare),
// end.go, endretry.go, errors.go (the SIP mapping table), srtp.go, mailbox.go.
//
// # Flows (fact sheet §9)
//
// Outbound (SIP → YNA): INVITE from a registered phone or trunk → line routing (the
// authenticated user / trunk must be listed in LineConfig.Outbound; a dialled Prefix or
// the From user may pick among several lines; otherwise 403) → dial plan + yna.
// NormalizeDestination (emergency numbers are refused with 403 and a Reason text, see
// ErrEmergency) → SIP Leg from the phone's offer → WebRTC leg with the phone's codecs →
// POST /start → InProgress/183+SDP gives a 183 with our SDP (early media relayed) →
// Ringing/180 gives 180 → Connected/200 gives 200 OK. Final statuses map to SIP final
// responses with a Reason header via one table (errors.go). CANCEL → DELETE /end.
// Notifications that arrive before /start returned are buffered per callId for
// pendingNotificationTTL.
//
// Inbound (YNA → SIP): invitation → POST /inProgress → the WebRTC answer to the
// network's offer is gathered while the phones ring (the first of our codecs the network
// offered) → SIP offer with that codec (and the other G.711 law, transcoded) → parallel
// fork to every registered contact of LineConfig.Ring (or LineConfig.RingTrunk, with the
// line's number as the Request-URI user) → first 18x → POST /ringing (sent before
// /connected at the latest) → first 200 → POST /connected at once → relay. No contacts, every branch rejecting or the ring
// timeout → DELETE /end (the network sends the caller to voicemail). A network cancel
// (SessionCancelled/Terminated) cancels the fork.
//
// A late-offer INVITE (no SDP) is supported: our offer goes in the 200 OK (no early media
// then) and the phone's answer comes in the ACK.
//
// Hold/resume both ways, network re-offers and DTMF (SIP INFO → RFC 4733 toward the
// network; RFC 4733 is relayed as is in both directions) are handled in the established
// state (established.go, reoffer.go). A re-offer completes on both sides or is undone on
// both: a phone's hold the network refuses fails the phone's re-INVITE and changes
// nothing; a network hold is accepted (/acceptHold) only once the phone took the
// re-INVITE, which is retried after the RFC 3261 §14.1 timer on 491, and a phone that
// refuses it for good ends the call (YNA cannot refuse an offer). A Hold notification
// without an "offer" member is the holder's confirmation (Final-Holding step 5) and
// never treated as an offer.
//
// Failures map to SIP through one table (errors.go: FromStatus, Classify). Final
// responses carry a Reason header (CallError.ReasonHeader, sent with sip
// RejectWithReason): "Q.850;cause=<n>;text=..." for failures the network reported
// (FromStatus: the RFC 3398 SIP → Q.850 table, or a more specific cause), else
// "SIP;cause=<code>;text=...". A /start that fails for one call gives 502 (the network's
// 5xx, or the network unreachable), 504 (no answer in time) or 500 (the line's token
// refused: relink); 503 with Retry-After only comes from a gateway that is draining,
// closing or out of RTP ports.
//
// # Operations
//
// SetDraining: new INVITEs get 503 + Retry-After and new invitations are ended at once
// (DELETE /end: voicemail) while established calls and notification channels go on.
// Calls returns immutable CallInfo snapshots that each call goroutine publishes
// (atomic.Pointer) on its state changes; ChannelState gives a line's channel state.
// An optional CallRecorder on the CDRSink gets Open at setup and Update with the YNA
// callId and at the answer (before the 200 OK / POST /connected), for crash recovery;
// CDR.ID identifies the call throughout. Optional metrics extensions: ForkObserver
// (fork branch results), MediaTimeoutObserver and OneWayObserver (on CallMetrics).
//
// A dropped notification channel never ends established calls: calls only depend on REST
// and media; notifications resume after the channel recovers.
//
// # Guesses
//
// DefaultRingTimeout (60 s) must stay under the network's own no-answer timer for
// inbound calls, which is unknown (fact sheet §17 q10; the SDK gives up after 35 s on
// its own, §12). It is a guess kept in config.go.
package bridge
