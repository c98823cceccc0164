package bridge

import (
	"errors"
	"fmt"
	"time"

	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// One state machine per call. The call's goroutine runs run: one select loop that turns
// everything that happens to the call (network notifications from the mailbox, SIP
// dialog and fork events, timers, results of the call's helpers, media failures,
// shutdown) into an event and hands it to the handler the transitions table names for
// the call's direction and state. A handler does the work and returns the next state;
// every way out goes through end (end.go), which tells both sides and closes the call.

// callState is where a call is in its life.
type callState int

const (
	stSetup         callState = iota // legs, offer, POST /start (outbound) or /inProgress and the fork (inbound)
	stEarly                          // outbound: /start answered, nothing sent to the phone yet; inbound: phones forked
	stRinging                        // outbound: 180/183 sent to the phone; inbound: a phone rings, /ringing sent
	stAnswering                      // inbound: a phone answered, the WebRTC answer is still being gathered
	stEstablished                    // answered on both sides, media relayed
	stReofferLocal                   // transient: a phone's re-offer is carried to the network (/hold, /resume)
	stReofferRemote                  // a network re-offer waits for the phone (re-INVITE out, or the 491 back-off)
	stEnding                         // transient: end is tearing the call down
	stEnded
)

var stateNames = [...]string{"setup", "early", "ringing", "answering", "established", "reoffer-local", "reoffer-remote", "ending", "ended"}

func (s callState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// eventKind is what happened to a call.
type eventKind int

const (
	evNetProgress  eventKind = iota // InProgress/Proceeding/183, maybe with the answer SDP
	evNetRinging                    // Ringing/180
	evNetAnswer                     // Connected/200 of a call not answered yet
	evNetFinal                      // Terminated, Busy, SessionCancelled, ...: the network ended the call
	evNetHold                       // Hold with an offer: the far end holds
	evNetResume                     // Resume, or Connected with an offer while the far end holds
	evNetReoffer                    // Connected with a new offer: mid-call renegotiation (§9.6)
	evNetConfirm                    // Hold without offer, a repeated answer, a status without news
	evPhoneCancel                   // outbound: the phone's INVITE ended before the answer (CANCEL)
	evPhoneBye                      // BYE from the phone
	evPhoneGone                     // the dialog ended otherwise (no ACK, session timer, ...)
	evPhoneOffer                    // re-INVITE or UPDATE from the phone
	evPhoneAck                      // the ACK of our 200, maybe with the answer to an offer in it
	evPhoneDTMF                     // SIP INFO digit
	evReinviteDone                  // our re-INVITE toward the phone has its final response
	evForkProgress                  // inbound: a phone rings
	evForkAnswered                  // inbound: a phone answered
	evForkFailed                    // inbound: no phone answered (or the fork ended without outcome)
	evPrepared                      // inbound: the WebRTC answer to the network's offer is gathered (or failed)
	evSetupTimeout                  // outbound: no answer within Timers.SetupTimeout
	evGlareRetry                    // the RFC 3261 §14.1 timer after a 491 ran out
	evMediaFailed                   // the WebRTC leg failed or the relay stopped (media timeout)
	evShutdown                      // the gateway closes
	evHangup                        // an administrator hangs the call up (Gateway.Hangup)
	numEventKinds
)

var eventNames = [...]string{"net-progress", "net-ringing", "net-answer", "net-final", "net-hold", "net-resume",
	"net-reoffer", "net-confirm", "phone-cancel", "phone-bye", "phone-gone", "phone-offer", "phone-ack", "phone-dtmf",
	"reinvite-done", "fork-progress", "fork-answered", "fork-failed", "prepared", "setup-timeout", "glare-retry",
	"media-failed", "shutdown", "admin-hangup"}

func (k eventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// event is one thing that happened, with what came with it.
type event struct {
	kind  eventKind
	note  *yna.SessionStatus // evNet*
	sip   sip.Event          // evPhone*
	fork  sip.ForkEvent      // evFork*
	prep  prepared           // evPrepared
	reinv reinviteResult     // evReinviteDone
	err   error              // evMediaFailed, evForkFailed
}

// errNetMedia marks a failure of the WebRTC leg (evMediaFailed).
var errNetMedia = errors.New("network media failed")

// handler does what an event means in a state and returns the next state (stEnded after
// end).
type handler func(c *call, ev event) callState

const (
	dOut = DirectionOutbound
	dIn  = DirectionInbound
	dAny = ""
)

type transition struct {
	dir  string // dOut, dIn or dAny (both)
	from []callState
	on   eventKind
	do   handler
}

func in(s ...callState) []callState { return s }

var (
	unanswered = in(stEarly, stRinging)              // before the answer, both directions
	up         = in(stEstablished, stReofferRemote)  // answered
	inLive     = in(stEarly, stRinging, stAnswering) // inbound before /connected
	allLive    = in(stEstablished, stReofferRemote, stAnswering)
)

// transitions is the whole life of a call: in a state, an event runs the handler, which
// returns the next state (named in the comment). A (direction, state, event) that is not
// listed is logged and dropped (unhandled answers a phone's re-offer with 491).
var transitions = []transition{
	// Outbound (SIP → YNA), the phone's INVITE pending.
	{dOut, unanswered, evNetProgress, (*call).outProgress},    // 183 with our answer (early media) → ringing
	{dOut, unanswered, evNetRinging, (*call).outRinging},      // 180 → ringing
	{dOut, unanswered, evNetAnswer, (*call).outAnswer},        // 200 OK, ACK → established | ended
	{dOut, unanswered, evNetFinal, (*call).outRefused},        // final response from the FromStatus table → ended
	{dOut, unanswered, evPhoneCancel, (*call).outCancelled},   // 487 (sent by sip), DELETE /end → ended
	{dOut, unanswered, evSetupTimeout, (*call).outTimeout},    // 408, DELETE /end → ended
	{dOut, unanswered, evMediaFailed, (*call).outMediaFailed}, // 500, DELETE /end → ended
	{dOut, unanswered, evShutdown, (*call).outShutdown},       // 503 (gateway closing), DELETE /end → ended
	{dOut, unanswered, evHangup, (*call).outHangup},           // 480 (administrator), DELETE /end → ended

	// Inbound (YNA → SIP), the phones forked.
	{dIn, unanswered, evForkProgress, (*call).inRinging},      // POST /ringing → ringing
	{dIn, unanswered, evForkAnswered, (*call).inAnswered},     // /connected → established, or answering (no answer gathered yet) | ended
	{dIn, unanswered, evForkFailed, (*call).inNoAnswer},       // DELETE /end (voicemail) → ended
	{dIn, unanswered, evPrepared, (*call).inPrepared},         // keep the gathered answer → same state | ended
	{dIn, in(stAnswering), evPrepared, (*call).inConnect},     // POST /connected → established | ended
	{dIn, inLive, evNetFinal, (*call).inCancelled},            // CANCEL the phones / BYE the answered one → ended
	{dIn, inLive, evMediaFailed, (*call).inMediaFailed},       // CANCEL / BYE, DELETE /end → ended
	{dIn, inLive, evShutdown, (*call).inShutdown},             // CANCEL / BYE, DELETE /end → ended
	{dIn, inLive, evHangup, (*call).inHangup},                 // CANCEL / BYE, DELETE /end → ended
	{dIn, in(stAnswering), evPhoneBye, (*call).inPhoneGone},   // DELETE /end → ended
	{dIn, in(stAnswering), evPhoneGone, (*call).inPhoneGone},  // DELETE /end → ended
	{dIn, in(stAnswering), evPhoneOffer, (*call).refuseOffer}, // 491: try again once connected → answering

	// Answered, both directions.
	{dAny, in(stEstablished), evPhoneOffer, (*call).localReoffer},     // /hold|/resume, then 200; or a failure and nothing changes → established | ended
	{dAny, in(stEstablished), evNetHold, (*call).remoteReoffer},       // re-INVITE the phone first → reoffer-remote | established | ended
	{dAny, in(stEstablished), evNetResume, (*call).remoteReoffer},     // likewise
	{dAny, in(stEstablished), evNetReoffer, (*call).remoteReoffer},    // same direction: POST /connected → established
	{dAny, in(stReofferRemote), evReinviteDone, (*call).reinviteDone}, // 2xx: accept at the network; 491: back off; else refuse → established | reoffer-remote | ended
	{dAny, in(stReofferRemote), evGlareRetry, (*call).glareRetry},     // the re-INVITE again → reoffer-remote
	{dAny, in(stReofferRemote), evPhoneOffer, (*call).refuseOffer},    // 491: ours is pending → reoffer-remote
	{dAny, up, evPhoneDTMF, (*call).dtmf},                             // RFC 4733 toward the network → same
	{dAny, up, evPhoneAck, (*call).ackAnswer},                         // the phone's answer in an ACK → same
	{dAny, up, evNetConfirm, (*call).ignore},                          // → same
	{dAny, up, evPhoneBye, (*call).phoneHungUp},                       // DELETE /end → ended
	{dAny, up, evPhoneGone, (*call).phoneHungUp},                      // DELETE /end → ended
	{dAny, up, evNetFinal, (*call).netHungUp},                         // BYE → ended
	{dAny, up, evMediaFailed, (*call).mediaFailed},                    // BYE, DELETE /end → ended
	{dAny, up, evShutdown, (*call).shutdown},                          // BYE, DELETE /end → ended
	{dAny, up, evHangup, (*call).adminHangup},                         // BYE, DELETE /end → ended
}

type transitionKey struct {
	dir   string
	state callState
	on    eventKind
}

var transitionIndex = buildTransitions(transitions)

func buildTransitions(ts []transition) map[transitionKey]handler {
	m := map[transitionKey]handler{}
	for _, t := range ts {
		dirs := []string{t.dir}
		if t.dir == dAny {
			dirs = []string{dOut, dIn}
		}
		for _, d := range dirs {
			for _, s := range t.from {
				k := transitionKey{d, s, t.on}
				if m[k] != nil {
					panic(fmt.Sprintf("bridge: two transitions for %s %s %s", d, s, t.on))
				}
				m[k] = t.do
			}
		}
	}
	return m
}

// run is the call's one loop; it returns once the call ended.
func (c *call) run() {
	for c.state != stEnded {
		c.step()
	}
}

// step waits for the next event and handles it.
func (c *call) step() {
	select {
	case <-c.notes.C():
		// The only place the mailbox is drained: every notification of the batch is
		// handled in order, in whatever state the one before it left the call.
		for _, n := range c.notes.take() {
			if c.state == stEnded {
				return
			}
			c.handle(c.noteEvent(n))
		}
	case ev, ok := <-c.dialogEvents():
		c.dlgClosed = !ok
		c.handle(phoneEvent(ev, ok))
	case ev, ok := <-c.forkEvents():
		c.forkOver = !ok
		c.handle(forkEvent(ev, ok))
	case <-c.inviteEnded():
		c.handle(event{kind: evPhoneCancel})
	case <-c.timerC():
		k := c.timerKind
		c.timer, c.timerKind = nil, 0
		c.handle(event{kind: k})
	case ev := <-c.results:
		c.handle(ev)
	case <-c.netDone():
		c.handle(event{kind: evMediaFailed, err: fmt.Errorf("%w: %w", errNetMedia, c.net.Err())})
	case <-c.relayDone():
		c.handle(event{kind: evMediaFailed, err: c.relay.Err()})
	case <-c.shutdownC():
		c.shutdownSeen = true
		c.handle(event{kind: evShutdown})
	}
}

// handle runs the transition of ev in the call's state.
func (c *call) handle(ev event) {
	h := transitionIndex[transitionKey{c.dir, c.state, ev.kind}]
	if h == nil {
		c.unhandled(ev)
		return
	}
	from := c.state
	next := h(c, ev)
	if c.state == stEnded {
		return
	}
	c.state = next
	if next != from {
		c.log.Debug("call state", zap.Stringer("from", from), zap.Stringer("to", next), zap.Stringer("event", ev.kind))
	}
}

// unhandled drops an event the state has no use for; a phone's offer still gets its
// answer (491: try again later), never a 30 s wait.
func (c *call) unhandled(ev event) {
	if o, ok := ev.sip.(*sip.OfferEvent); ok {
		_ = o.Respond(491, nil)
	}
	c.log.Debug("event ignored", zap.Stringer("state", c.state), zap.Stringer("event", ev.kind))
}

func (c *call) ignore(event) callState { return c.state }

// noteEvent classifies a network notification for the call's state.
func (c *call) noteEvent(n *yna.SessionStatus) event {
	c.log.Debug("status", zap.String("status", n.Status), zap.Int("code", int(n.ResponseCode)), zap.Bool("sdp", n.SDP != ""), zap.Bool("offer", n.Offer != nil))
	ev := event{note: n, kind: evNetConfirm}
	if c.dir == DirectionOutbound && c.peerName == "" && n.ReceiverName != "" {
		c.peerName = sanitizeDisplay(n.ReceiverName) // shown from the next snapshot on
	}
	code := int(n.ResponseCode)
	switch {
	case yna.IsFinalStatus(n.Status):
		ev.kind = evNetFinal
	case c.state < stEstablished: // not answered yet
		switch {
		case n.Status == yna.StatusConnected || code == 200:
			ev.kind = evNetAnswer
		case n.Status == yna.StatusRinging || code == 180:
			ev.kind = evNetRinging
		case n.Status == yna.StatusInProgress || n.Status == yna.StatusProceeding || code == 183:
			ev.kind = evNetProgress
		}
	case n.SDP == "" || n.SDP == c.lastNetRemote:
		// confirmations (§9.4) and repeated answers
	case n.Status == yna.StatusHold && n.Offer == nil:
		// Without an "offer" member a Hold is the holder's confirmation of our own /hold
		// (Final-Holding step 5), not an offer; it may arrive after we already resumed.
	case n.Status == yna.StatusHold:
		ev.kind = evNetHold
	case n.Status == yna.StatusResume, n.Status == yna.StatusConnected && c.heldByNet():
		ev.kind = evNetResume
	case n.Status == yna.StatusConnected:
		ev.kind = evNetReoffer
	}
	return ev
}

// phoneEvent turns a dialog event into an event (!ok: the dialog's events ended).
func phoneEvent(e sip.Event, ok bool) event {
	ev := event{sip: e, kind: evPhoneGone}
	switch e.(type) {
	case *sip.ByeEvent:
		ev.kind = evPhoneBye
	case *sip.OfferEvent:
		ev.kind = evPhoneOffer
	case *sip.AckEvent:
		ev.kind = evPhoneAck
	case *sip.DTMFEvent:
		ev.kind = evPhoneDTMF
	}
	if !ok {
		ev.kind = evPhoneGone
	}
	return ev
}

// forkEvent turns a fork event into an event (!ok: the fork ended without outcome).
func forkEvent(e sip.ForkEvent, ok bool) event {
	ev := event{fork: e, kind: evForkFailed}
	switch e.(type) {
	case *sip.ProgressEvent:
		ev.kind = evForkProgress
	case *sip.AnsweredEvent:
		ev.kind = evForkAnswered
	}
	if !ok {
		ev.fork = nil
	}
	return ev
}

// The channels step selects on; nil (never ready) when they do not apply.

func (c *call) dialogEvents() <-chan sip.Event {
	if c.dlg == nil || c.dlgClosed {
		return nil
	}
	return c.dlg.Events()
}

func (c *call) forkEvents() <-chan sip.ForkEvent {
	if c.fork == nil || c.dlg != nil || c.forkOver {
		return nil
	}
	return c.fork.Events()
}

func (c *call) inviteEnded() <-chan struct{} {
	if c.inv == nil || c.dlg != nil || c.state >= stEstablished {
		return nil
	}
	return c.inv.Done()
}

func (c *call) timerC() <-chan time.Time {
	if c.timer == nil {
		return nil
	}
	return c.timer.C()
}

func (c *call) netDone() <-chan struct{} {
	if c.net == nil {
		return nil
	}
	return c.net.Done()
}

func (c *call) relayDone() <-chan struct{} {
	if c.relay == nil {
		return nil
	}
	return c.relay.Done()
}

func (c *call) shutdownC() <-chan struct{} {
	if c.shutdownSeen {
		return nil
	}
	return c.g.ctx.Done()
}
