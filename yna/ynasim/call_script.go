package ynasim

import (
	"fmt"
	"time"

	"github.com/ynagw/ynagw/yna"
)

// BehaviourKind names how the simulated called party reacts to an outbound call.
type BehaviourKind string

// Scripted behaviours of a called number (set with SetNumberBehaviour or PUT /sim/numbers/{n}).
const (
	// BehaviourAnswer: InProgress/183+SDP, Ringing/180, Connected/200 at once (the default).
	BehaviourAnswer BehaviourKind = "answer"
	// BehaviourAnswerAfter: like answer, Connected/200 DelayMs after Ringing.
	BehaviourAnswerAfter BehaviourKind = "answerAfterMs"
	// BehaviourBusy: rejected as busy without alerting.
	BehaviourBusy BehaviourKind = "busy"
	// BehaviourDecline: rings, then the callee declines (after DelayMs).
	BehaviourDecline BehaviourKind = "decline"
	// BehaviourNoAnswer: rings until DelayMs (default: the store's ring timeout), then gives up.
	BehaviourNoAnswer BehaviourKind = "noAnswer"
	// BehaviourNotReachable: the callee is not reachable; no alerting.
	BehaviourNotReachable BehaviourKind = "notReachable"
	// BehaviourEarlyMediaOnly: InProgress/183+SDP (early media plays), never answered; ends
	// like noAnswer after DelayMs.
	BehaviourEarlyMediaOnly BehaviourKind = "earlyMediaOnly"
	// BehaviourManual: nothing is sent by itself; the test drives the call with CallAction
	// ("progress", "ring", "answer", "decline", "busy", "noAnswer", "notReachable", ...).
	BehaviourManual BehaviourKind = "manual"
)

// Behaviour is the scripted reaction of a called number.
type Behaviour struct {
	Kind    BehaviourKind `json:"behaviour"`
	DelayMs int           `json:"delayMs,omitempty"`
	// Codecs is the network codec behaviour of calls to and from this number ("" = the
	// account's, else CodecsBrowser).
	Codecs CodecMode `json:"codecs,omitempty"`
}

func (b Behaviour) validate() error {
	if _, ok := behaviourTable[b.Kind]; !ok {
		return fmt.Errorf("%w: unknown behaviour %q", ErrBadAction, b.Kind)
	}
	if err := b.Codecs.validate(); err != nil {
		return err
	}
	if b.DelayMs < 0 {
		return fmt.Errorf("%w: negative delayMs", ErrBadAction)
	}
	return nil
}

// CodecMode names a network codec behaviour: what the network offers in its invitations and
// what it answers to a client's offer. Set per account (SetAccountCodecs, PUT
// /sim/accounts/{id}/codecs), per number (Behaviour.Codecs: calls to and from it) or per
// inbound call (InboundCall.Codecs); the most specific wins.
type CodecMode string

// Network codec behaviours (table codecModes).
const (
	// CodecsBrowser: offers opus/48000/2, G722, PCMU, PCMA, telephone-event/48000 and /8000
	// (the browser order, fact sheet §10.3); answers with the client's first offered codec
	// it supports. The default.
	CodecsBrowser CodecMode = "browser"
	// CodecsPreferOpus: offers like CodecsBrowser; answers with opus whenever the client
	// offers it, else like CodecsBrowser.
	CodecsPreferOpus CodecMode = "preferOpus"
	// CodecsOpusOnly: offers and accepts opus (with telephone-event/48000) only.
	CodecsOpusOnly CodecMode = "opusOnly"
	// CodecsG711Only: offers and accepts PCMU and PCMA (with telephone-event/8000) only.
	CodecsG711Only CodecMode = "g711Only"
)

func (m CodecMode) validate() error {
	if _, ok := codecModes[m]; !ok && m != "" {
		return fmt.Errorf("%w: unknown codecs %q (want browser, preferOpus, opusOnly or g711Only)", ErrBadAction, m)
	}
	return nil
}

// codecModeSpec is the far end's codec configuration for a CodecMode.
type codecModeSpec struct {
	codecs []string // farend.Config.Codecs: offered in this order, the only ones accepted
	prefer []string // farend.Config.Prefer: answered when offered, before the client's order
}

// codecModes is the ONE table of network codec behaviours. Only CodecsBrowser's offer is
// modelled on an observation (the browser's, fact sheet §10.3, §18.9). guess: which codecs the
// real network offers and accepts, and whether it prefers opus (§18.10: G.711 is mandatory for
// WebRTC endpoints, RFC 7874 §3; the preference is unknown).
var codecModes = map[CodecMode]codecModeSpec{
	CodecsBrowser:    {codecs: []string{"opus/48000/2", "G722/8000", "PCMU/8000", "PCMA/8000", "telephone-event/48000", "telephone-event/8000"}},
	CodecsPreferOpus: {codecs: []string{"opus/48000/2", "G722/8000", "PCMU/8000", "PCMA/8000", "telephone-event/48000", "telephone-event/8000"}, prefer: []string{"opus/48000/2"}},
	CodecsOpusOnly:   {codecs: []string{"opus/48000/2", "telephone-event/48000"}},
	CodecsG711Only:   {codecs: []string{"PCMU/8000", "PCMA/8000", "telephone-event/8000"}},
}

// CallQuirks switches on wire behaviour the SDK mishandles (fact sheet §14 item 12), to test
// a client's robustness. All are off by default.
type CallQuirks struct {
	// ConnectedFirst: an answered outbound call gets Connected/200+SDP as its FIRST
	// notification (no InProgress/Ringing).
	ConnectedFirst bool `json:"connectedFirst"`
	// SDPAfterEstablished: a Connected/200 notification WITH SDP is sent after an inbound call
	// is established (/connected) and after a client resume.
	SDPAfterEstablished bool `json:"sdpAfterEstablished"`
	// HoldOfferToHolder: the Hold notification sent to the client that put the call on hold
	// carries an "offer" member (the SDK would wrongly answer it via /acceptHold).
	HoldOfferToHolder bool `json:"holdOfferToHolder"`
	// ConnectedRepeatsSDP: an outbound Connected/200 repeats the 183 SDP (allowed by the
	// spec, "same SDP or none"; the default sends none).
	ConnectedRepeatsSDP bool `json:"connectedRepeatsSdp"`
}

// Call outcomes recorded in CallInfo.Outcome.
const (
	OutcomeAnswered         = "answered"
	OutcomeBusy             = "busy"
	OutcomeDeclined         = "declined"
	OutcomeNoAnswer         = "noAnswer"
	OutcomeNotReachable     = "notReachable"
	OutcomeCancelled        = "cancelled"        // inbound: caller abandoned
	OutcomeAnsweredOnMobile = "answeredOnMobile" // inbound: answered on another device
	OutcomeRingTimeout      = "ringTimeout"      // inbound: network gave up ringing (caller → voicemail)
	OutcomeVoicemail        = "voicemail"        // inbound: client declined with DELETE /end
	OutcomeClientCancelled  = "clientCancelled"  // outbound: client DELETE /end before answer
	OutcomeEndedByClient    = "endedByClient"    // established call ended with DELETE /end
	OutcomeEndedByNetwork   = "endedByNetwork"   // established call hung up by the far end
	OutcomeMediaFailed      = "mediaFailed"      // the far end could not handle the SDP
	OutcomeNoCommonCodec    = "noCommonCodec"    // outbound: the client offered none of the network's codecs
	OutcomeSimClosed        = "simulatorClosed"  // Sim.Close while the call was up
)

// finalSpec is the notification the network sends to finish a call with some outcome.
type finalSpec struct {
	Status string
	Code   int
	Reason string
}

// finals is the ONE table of the statuses and SIP codes the simulated network sends to end a
// call (or, for OutcomeAnswered, to connect it). The real choices are unknown.
// guess: fact sheet §14 items 7, 8, 11; §8.3; §9.2 item 7; §17 q2.
var finals = map[string]finalSpec{
	OutcomeAnswered:         {yna.StatusConnected, 200, ""},                                // spec: Connected/200
	OutcomeBusy:             {yna.StatusTerminated, 486, ""},                               // guess: Terminated+486, not Busy (SDK ignores Busy)
	OutcomeDeclined:         {yna.StatusTerminated, 603, ""},                               // guess
	OutcomeNoAnswer:         {yna.StatusTerminated, 480, ""},                               // guess
	OutcomeNotReachable:     {yna.StatusTerminated, 480, ""},                               // guess
	OutcomeCancelled:        {yna.StatusSessionCancelled, 487, ""},                         // guess: SessionCancelled rather than Terminated
	OutcomeAnsweredOnMobile: {yna.StatusSessionCancelled, 200, "Call completed elsewhere"}, // guess
	OutcomeRingTimeout:      {yna.StatusSessionCancelled, 487, "No answer"},                // guess
	OutcomeEndedByNetwork:   {yna.StatusTerminated, 200, ""},                               // guess: code of a BYE-style end
	OutcomeMediaFailed:      {yna.StatusTerminated, 488, ""},                               // guess
	OutcomeNoCommonCodec:    {yna.StatusTerminated, 488, "Not Acceptable Here"},            // guess: like a SIP 488
}

// Provisional codes (spec: OutgoingCallFlow diagram, fact sheet §9.1).
const (
	codeInProgress = 183
	codeRinging    = 180
)

// Further guesses about the network's timing and notifications, kept here with the table.
const (
	// defaultStartNotifyDelay separates the /start response from the first status
	// notification. guess: fact sheet §18.1 ("a short delay is enough").
	defaultStartNotifyDelay = 20 * time.Millisecond
	// defaultRingTimeout is how long the network lets a call ring (noAnswer default, inbound
	// no-answer timer). guess: fact sheet §17 q10.
	defaultRingTimeout = 30 * time.Second
	// defaultAnswerAfter is answerAfterMs's delay when DelayMs is 0. guess.
	defaultAnswerAfter = time.Second
	// notifyHolderOnHold: after a client /hold the holder also gets a Hold notification with the
	// answer SDP (a=recvonly) and no offer member. spec: Final-Holding diagram step 5; §9.4, §17 q1.
	notifyHolderOnHold = true
	// notifyHolderOnResume: after a client /resume the holder gets Connected/200 WITHOUT SDP
	// (the diagram's "Hold, a=sendrecv" looks like a labelling slip). guess: §9.4, §16.
	notifyHolderOnResume = true
	// notifyCalleeOnConnected: no notification to the callee after its /connected.
	// spec: AcceptInboundFlow shows none; §17 q7.
	notifyCalleeOnConnected = false
	// defaultVerificationStatus of injected invitations. guess: §8.1.
	defaultVerificationStatus = "TN-Validation-Passed"
)

// behaviourSpec says what a behaviour sends before its final notification.
type behaviourSpec struct {
	progress bool          // InProgress/183 + SDP
	ring     bool          // Ringing/180
	final    string        // outcome ("" = wait for actions)
	delay    time.Duration // default delay before the final when DelayMs is 0; -1 = ring timeout
}

// behaviourTable maps each behaviour to its notification sequence.
// guess: fact sheet §14 item 7, §17 q2 (whether busy/unreachable are preceded by 183/180).
var behaviourTable = map[BehaviourKind]behaviourSpec{
	BehaviourAnswer:         {progress: true, ring: true, final: OutcomeAnswered},
	BehaviourAnswerAfter:    {progress: true, ring: true, final: OutcomeAnswered, delay: defaultAnswerAfter},
	BehaviourBusy:           {final: OutcomeBusy},
	BehaviourDecline:        {progress: true, ring: true, final: OutcomeDeclined},
	BehaviourNoAnswer:       {progress: true, ring: true, final: OutcomeNoAnswer, delay: -1},
	BehaviourNotReachable:   {final: OutcomeNotReachable},
	BehaviourEarlyMediaOnly: {progress: true, final: OutcomeNoAnswer, delay: -1},
	BehaviourManual:         {},
}

// step is one scripted network action of an outbound call.
type step struct {
	delay time.Duration
	kind  string // "progress", "ring" or an outcome
}

// outboundScript returns the scripted steps of an outbound call for behaviour b.
func outboundScript(b Behaviour, q CallQuirks, ringTimeout, startDelay time.Duration) []step {
	spec := behaviourTable[b.Kind]
	var steps []step
	if spec.final == OutcomeAnswered && q.ConnectedFirst {
		return []step{{delay: startDelay, kind: OutcomeAnswered}}
	}
	if spec.progress {
		steps = append(steps, step{kind: "progress"})
	}
	if spec.ring {
		steps = append(steps, step{kind: "ring"})
	}
	if spec.final != "" {
		d := time.Duration(b.DelayMs) * time.Millisecond
		if b.DelayMs == 0 {
			d = spec.delay
			if d < 0 {
				d = ringTimeout
			}
		}
		steps = append(steps, step{delay: d, kind: spec.final})
	}
	if len(steps) > 0 {
		steps[0].delay += startDelay
	}
	return steps
}
