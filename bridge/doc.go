// Package bridge is the product core of ynagw: it joins a SIP call (package sip, plain
// RTP via rtpmedia.Leg) to a YNA call (package yna, WebRTC media) and relays media
// between them. It is the only package that knows both SIP and YNA.
//
// # Ownership
//
// A call is one object owned by ONE goroutine (runOutbound / runInbound, then
// runEstablished). Everything that happens to a
// call reaches that goroutine as a message: YNA notifications (routed by callId from the
// line's notification channel into the call's mailbox), SIP dialog events, fork events
// and media failures. REST requests are made from the call goroutine itself.
//
// A Gateway owns one notification channel per linked line (one line = one linked YNA
// account with its own access token, see TokenSource), the table callId → call, and
// every call goroutine. Close ends every call properly (BYE toward SIP, DELETE /end
// toward YNA) and waits for all goroutines.
//
// Files: config.go (Config), deps.go (TokenSource, Metrics, CDRSink, CallRecorder),
// snapshot.go (Calls, ChannelState), media.go (NetLeg,
// Relay, MediaFactory), webrtc.go (WebRTCMedia), gateway.go (Gateway, call table,
// notification routing), line.go (one notification channel per line), routing.go
// (outbound line choice), call.go, outbound.go, inbound.go, established.go (the call
// goroutine), errors.go (the SIP mapping table), mailbox.go.
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
// Inbound (YNA → SIP): invitation → POST /inProgress → SIP offer built from the network's
// codecs we can carry → parallel fork to every registered contact of LineConfig.Ring (or
// LineConfig.RingTrunk) → first 18x → POST /ringing (sent before /connected at the latest)
// → first 200 → WebRTC answer with the
// phone's codec → POST /connected → relay. No contacts, every branch rejecting or the ring
// timeout → DELETE /end (the network sends the caller to voicemail). A network cancel
// (SessionCancelled/Terminated) cancels the fork.
//
// A late-offer INVITE (no SDP) is supported: our offer goes in the 200 OK (no early media
// then) and the phone's answer comes in the ACK.
//
// Hold/resume both ways, network re-offers and DTMF (SIP INFO → RFC 4733 toward the
// network; RFC 4733 is relayed as is in both directions) are handled in the established
// state (established.go). A Hold notification without an "offer" member is the holder's
// confirmation (Final-Holding step 5) and never treated as an offer.
//
// Failures map to SIP through one table (errors.go: FromStatus, Classify). Final
// responses carry a Reason header (CallError.ReasonHeader, sent with sip
// RejectWithReason): "Q.850;cause=<n>;text=..." for failures the network reported
// (FromStatus: the RFC 3398 SIP → Q.850 table, or a more specific cause), else
// "SIP;cause=<code>;text=...".
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
