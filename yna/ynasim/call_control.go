package ynasim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// Network-side actions on a call (CallAction, POST /sim/calls/{id}/actions).
const (
	ActionProgress       = "progress"       // outbound: InProgress/183 + SDP
	ActionRing           = "ring"           // outbound: Ringing/180
	ActionAnswer         = "answer"         // outbound: Connected/200 (sends missing 183/180 first)
	ActionDecline        = "decline"        // outbound, before answer
	ActionBusy           = "busy"           // outbound, before answer
	ActionNoAnswer       = "noAnswer"       // outbound, before answer
	ActionNotReachable   = "notReachable"   // outbound, before answer
	ActionCancel         = "cancel"         // inbound, before answer: caller abandons
	ActionAnswerOnMobile = "answerOnMobile" // inbound, before answer: answered on another device
	ActionHold           = "hold"           // established: network hold (expects /acceptHold)
	ActionResume         = "resume"         // network-held: network resume (expects /acceptResume)
	ActionReoffer        = "reoffer"        // connected: Connected+SDP re-offer (expects /connected)
	ActionHangup         = "hangup"         // established: far end hangs up
	ActionDTMF           = "dtmf"           // established: far end sends digits (args[0])
)

var outboundFinalActions = map[string]string{
	ActionDecline:      OutcomeDeclined,
	ActionBusy:         OutcomeBusy,
	ActionNoAnswer:     OutcomeNoAnswer,
	ActionNotReachable: OutcomeNotReachable,
}

// action runs one network-side action on the call goroutine.
func (c *call) action(name, digits string) callReply {
	conflict := func() callReply {
		return replyErr(http.StatusConflict, fmt.Sprintf("%s not possible: call is %s %s", name, c.info.State, c.info.Pending))
	}
	preAnswer := !c.established()
	switch name {
	case ActionProgress, ActionRing, ActionAnswer, ActionDecline, ActionBusy, ActionNoAnswer, ActionNotReachable:
		if c.inbound() || !preAnswer ||
			(name == ActionProgress && c.info.State != CallInitial) ||
			(name == ActionRing && c.info.State == CallRinging) {
			return conflict()
		}
		// The test takes over: the rest of the behaviour's script is dropped.
		c.script = nil
		c.stopTimer()
		switch name {
		case ActionProgress:
			c.doStep("progress")
		case ActionRing:
			c.doStep("ring")
		case ActionAnswer:
			if c.info.State == CallInitial && !c.cs.getQuirks().ConnectedFirst {
				c.doStep("progress")
			}
			if c.info.State == CallInProgress {
				c.doStep("ring")
			}
			if c.info.State != CallTerminated {
				c.doStep(OutcomeAnswered)
			}
		default:
			c.finishWith(outboundFinalActions[name])
		}
	case ActionCancel, ActionAnswerOnMobile:
		if !c.inbound() || !preAnswer {
			return conflict()
		}
		if name == ActionCancel {
			c.finishWith(OutcomeCancelled)
		} else {
			c.finishWith(OutcomeAnsweredOnMobile)
		}
	case ActionHangup:
		if preAnswer {
			return conflict()
		}
		c.finishWith(OutcomeEndedByNetwork)
	case ActionHold:
		if preAnswer || c.info.HeldByNetwork || c.info.Pending != "" {
			return conflict()
		}
		dir := dirSendOnly
		if c.info.HeldByClient {
			dir = dirInactive
		}
		return c.reoffer(yna.StatusHold, dir, pendingAcceptHold, true)
	case ActionResume:
		if !c.info.HeldByNetwork || c.info.Pending != "" {
			return conflict()
		}
		return c.reoffer(yna.StatusResume, dirSendRecv, pendingAcceptResume, true)
	case ActionReoffer:
		if c.info.State != CallConnected || c.info.Pending != "" {
			return conflict()
		}
		return c.reoffer(yna.StatusConnected, dirSendRecv, pendingConnected, false)
	case ActionDTMF:
		if !validDTMF(digits) {
			return replyErr(http.StatusBadRequest, "digits must be 1-64 of 0-9 * # A-D")
		}
		if preAnswer && !(c.fe != nil && c.sdpSent) { // early media allows DTMF before answer
			return conflict()
		}
		err := c.fe.SendDTMF(digits)
		c.mediaEvent("dtmf "+digits, err)
		if errors.Is(err, farend.ErrNoTelephoneEvent) {
			return replyErr(http.StatusConflict, err.Error())
		}
		if err != nil {
			return replyErr(http.StatusInternalServerError, err.Error())
		}
	default:
		return replyErr(http.StatusBadRequest, "unknown action "+name)
	}
	return replyOK(nil)
}

// reoffer makes the far end re-offer with dir and sends it as a status notification.
func (c *call) reoffer(status, dir, pending string, withOffer bool) callReply {
	if c.fe == nil {
		return replyErr(http.StatusConflict, "no media session")
	}
	ctx, cancel := c.mediaCtx()
	offer, err := c.fe.Reoffer(ctx, dir)
	cancel()
	c.mediaEvent("reoffer "+dir, err)
	if err != nil {
		return replyErr(http.StatusInternalServerError, err.Error())
	}
	c.localSDP = offer
	ss := yna.SessionStatus{Status: status, SDP: offer}
	if status == yna.StatusConnected {
		ss.ResponseCode = 200
	}
	if withOffer {
		// guess: fact sheet §9.5 — offer:{mediaIndicator:{type:"audio",direction:...}}.
		ss.Offer = &yna.Offer{MediaIndicator: &yna.MediaIndicator{Type: "audio", Direction: mediaIndicatorDirection(dir)}}
	}
	c.update(func(ci *CallInfo) { ci.Pending = pending })
	c.send(ss)
	return replyOK(nil)
}

func validDTMF(d string) bool {
	if d == "" || len(d) > 64 {
		return false
	}
	for _, r := range d {
		if !strings.ContainsRune("0123456789*#ABCDabcd", r) {
			return false
		}
	}
	return true
}

// InboundCall describes a call injected toward a client line.
type InboundCall struct {
	Line               string        `json:"line"`           // the account line called (1+10 digits)
	From               string        `json:"from"`           // caller number
	Name               string        `json:"name,omitempty"` // originatorName
	RingTimeout        time.Duration `json:"-"`              // network no-answer timer; 0 = store default
	RingTimeoutMs      int           `json:"ringTimeoutMs,omitempty"`
	VerificationStatus string        `json:"verificationStatus,omitempty"`
	// Codecs is this call's network codec behaviour ("" = the caller number's, else the
	// account's).
	Codecs CodecMode `json:"codecs,omitempty"`
}

// InjectCall makes the network call line from the number from; it returns after the
// invitation has been sent to the account's notification channel.
func (s *Sim) InjectCall(ctx context.Context, line, from string) (string, error) {
	return s.calls.inject(ctx, InboundCall{Line: line, From: from})
}

// InjectCallWith is InjectCall with every option.
func (s *Sim) InjectCallWith(ctx context.Context, in InboundCall) (string, error) {
	return s.calls.inject(ctx, in)
}

// Call returns a snapshot of the call (event log, media stats included).
func (s *Sim) Call(id string) (CallInfo, bool) {
	c := s.calls.get(id)
	if c == nil {
		return CallInfo{}, false
	}
	return c.snapshot(), true
}

// Calls returns snapshots of every call, oldest first.
func (s *Sim) Calls() []CallInfo { return s.calls.list() }

// WaitCallState blocks until call id is in state (CallConnected, ...). It fails with
// ErrCallEnded if the call terminates first, ErrCallNotFound, or ctx's error.
func (s *Sim) WaitCallState(ctx context.Context, id, state string) error {
	return s.calls.waitState(ctx, id, state)
}

// WaitCall blocks until a call satisfying match exists (e.g. the outbound call to a number)
// and returns its id.
func (s *Sim) WaitCall(ctx context.Context, match func(CallInfo) bool) (string, error) {
	return s.calls.waitCall(ctx, match)
}

// CallAction performs a network-side action (Action* constants) on a call; for ActionDTMF,
// args[0] holds the digits. It returns after the resulting notification was sent. Errors
// wrap ErrCallNotFound, ErrWrongState, ErrBadAction or ErrMedia.
func (s *Sim) CallAction(ctx context.Context, id, action string, args ...string) error {
	return s.calls.doAction(ctx, id, action, args...)
}

// SetNumberBehaviour scripts how the called number reacts to outbound calls; a zero
// Behaviour (or BehaviourAnswer without delay) restores the default. Numbers are matched
// after normalization (digits only).
func (s *Sim) SetNumberBehaviour(number string, b Behaviour) error {
	return s.calls.setBehaviour(number, b)
}

// WaitFarEndPackets blocks until the far end of call id has received at least n audio
// packets from the client. It fails with ErrCallNotFound, ErrCallEnded (no far end alive, or
// the call ended first) or ctx's error.
func (s *Sim) WaitFarEndPackets(ctx context.Context, id string, n uint64) error {
	c := s.calls.get(id)
	if c == nil {
		return fmt.Errorf("%w: %s", ErrCallNotFound, id)
	}
	c.mu.Lock()
	wait := c.waitRx
	c.mu.Unlock()
	if wait == nil {
		return fmt.Errorf("%w: %s has no far-end media", ErrCallEnded, id)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-wctx.Done():
		}
	}()
	err := wait(wctx, n)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w: %s", ErrCallEnded, id)
	}
	return err
}

// SetAccountCodecs sets the network codec behaviour of the account's calls (those whose
// number or injection does not name one); "" restores CodecsBrowser.
func (s *Sim) SetAccountCodecs(accountID string, m CodecMode) error {
	if s.account(accountID) == nil {
		return fmt.Errorf("%w: account %s", ErrNotFound, accountID)
	}
	return s.calls.setAccountCodecs(accountID, m)
}

// SetCallQuirks switches the §14.12 quirks; they apply to calls created afterwards and to
// later steps of existing calls.
func (s *Sim) SetCallQuirks(q CallQuirks) { s.calls.setQuirks(q) }

func (cs *callStore) doAction(ctx context.Context, id, action string, args ...string) error {
	c := cs.get(id)
	if c == nil {
		return fmt.Errorf("%w: %s", ErrCallNotFound, id)
	}
	var digits string
	if len(args) > 0 {
		digits = args[0]
	}
	r, ok := c.post(ctx, callEvent{kind: evAction, op: action, digits: digits})
	if !ok {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s", ErrCallEnded, id)
	}
	if r.ok() {
		return nil
	}
	return replyError(r)
}

// replyError converts a failed reply to a classified error.
func replyError(r callReply) error {
	var base error
	switch r.status {
	case http.StatusBadRequest:
		base = ErrBadAction
	case http.StatusConflict:
		base = ErrWrongState
	case http.StatusNotFound:
		base = ErrCallNotFound
	default:
		base = ErrMedia
	}
	return fmt.Errorf("%w: %s", base, r.msg)
}

// errorStatus maps a control error to an HTTP status.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, ErrCallNotFound), errors.Is(err, ErrNoAccount):
		return http.StatusNotFound
	case errors.Is(err, ErrWrongState), errors.Is(err, ErrCallEnded):
		return http.StatusConflict
	case errors.Is(err, ErrBadAction):
		return http.StatusBadRequest
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
