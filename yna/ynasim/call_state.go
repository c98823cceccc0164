package ynasim

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
	"go.uber.org/zap"
)

// Call states reported in CallInfo.State (named after the session statuses of fact sheet §8.2).
const (
	CallInitial    = "Initial"    // outbound: /start accepted; inbound: invitation sent
	CallInProgress = "InProgress" // outbound: 183 sent; inbound: /inProgress received
	CallRinging    = "Ringing"    // outbound: 180 sent; inbound: /ringing received
	CallConnected  = "Connected"  // established, nobody holds
	CallHold       = "Hold"       // established, held by the client and/or the network
	CallTerminated = "Terminated" // ended; no further notifications
)

// Call directions, seen from the client (the gateway).
const (
	DirectionOutbound = "outbound" // client called /start
	DirectionInbound  = "inbound"  // network sent an invitation
)

// Pending REST operations the simulated network is waiting for (CallInfo.Pending).
const (
	pendingAcceptHold   = "acceptHold"
	pendingAcceptResume = "acceptResume"
	pendingConnected    = "connected" // answer to a network re-offer
)

// Errors returned by the Go control methods; the control API maps them to HTTP statuses.
var (
	// ErrCallNotFound: no call with that id (404).
	ErrCallNotFound = errors.New("ynasim: call not found")
	// ErrWrongState: the action is not possible in the call's current state (409).
	ErrWrongState = errors.New("ynasim: call is in the wrong state")
	// ErrBadAction: unknown action or bad arguments (400).
	ErrBadAction = errors.New("ynasim: bad action")
	// ErrCallEnded: the call ended before reaching the awaited state.
	ErrCallEnded = errors.New("ynasim: call ended")
	// ErrNoAccount: no account owns the line (404).
	ErrNoAccount = errors.New("ynasim: no account for line")
	// ErrMedia: the far end failed (500).
	ErrMedia = errors.New("ynasim: far-end media failed")
)

// CallEvent is one entry of a call's event log.
type CallEvent struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"` // "rest", "notify", "action", "state", "media"
	// Name: REST op, notification status, action, new state or media operation.
	Name         string `json:"name"`
	HTTPStatus   int    `json:"httpStatus,omitempty"`   // rest: the status answered
	ResponseCode int    `json:"responseCode,omitempty"` // notify: responseCode sent
	MsgID        string `json:"msgId,omitempty"`        // notify: nsMsg msgId ("" = no socket)
	Ack          string `json:"ack,omitempty"`          // notify: ack state at snapshot time
	SDP          bool   `json:"sdp,omitempty"`          // an SDP was carried
	Offer        bool   `json:"offer,omitempty"`        // notify: an offer member was carried
	Detail       string `json:"detail,omitempty"`
}

// CallInfo is a snapshot of one simulated call.
type CallInfo struct {
	ID               string    `json:"callId"`
	Direction        string    `json:"direction"`
	AccountID        string    `json:"accountId"`
	Line             string    `json:"line"` // the account's line (caller for outbound, callee for inbound)
	Peer             string    `json:"peer"` // the other party's number
	CallObjectRef    string    `json:"callObjectRef"`
	ClientCorrelator string    `json:"clientCorrelator,omitempty"`
	ServerCorrelator string    `json:"serverCorrelator,omitempty"`
	Behaviour        Behaviour `json:"behaviour,omitzero"`
	// Codecs is the network codec behaviour of this call (CodecMode).
	Codecs CodecMode `json:"codecs"`
	// Codec is the audio codec the far end sends (the answer's first codec), CodecReceived the
	// one arriving from the client ("" until known); TelephoneEvent the RFC 4733 format.
	Codec          string      `json:"codec,omitempty"`
	CodecReceived  string      `json:"codecReceived,omitempty"`
	TelephoneEvent string      `json:"telephoneEvent,omitempty"`
	State          string      `json:"state"`
	HeldByClient   bool        `json:"heldByClient"`
	HeldByNetwork  bool        `json:"heldByNetwork"`
	Pending        string      `json:"pending,omitempty"`
	Outcome        string      `json:"outcome,omitempty"`
	Created        time.Time   `json:"created"`
	Answered       time.Time   `json:"answered,omitzero"`
	Ended          time.Time   `json:"ended,omitzero"`
	Events         []CallEvent `json:"events"`
	Media          any         `json:"media,omitempty"`
}

// EventsOf returns the events of kind (and name, unless empty), in order.
func (ci CallInfo) EventsOf(kind, name string) []CallEvent {
	var out []CallEvent
	for _, e := range ci.Events {
		if e.Kind == kind && (name == "" || e.Name == name) {
			out = append(out, e)
		}
	}
	return out
}

// callEvent is a message to a call's goroutine.
type callEvent struct {
	kind    int
	op      string // evREST: operation; evAction: action
	body    []byte
	hdr     http.Header
	digits  string
	fn      func() // evThen
	replyCh chan callReply
}

const (
	evREST = iota
	evAction
	evThen
	evInvite
)

// callReply is the goroutine's answer to a REST op or an action.
type callReply struct {
	status int    // HTTP status
	body   any    // 2xx body
	msg    string // error message (non-2xx)
	then   func() // run by the call goroutine after the HTTP response is written
	// written is closed by the HTTP handler once the response is out (set when then != nil).
	written chan struct{}
}

func (r callReply) ok() bool { return r.status >= 200 && r.status < 300 }

// call is one simulated call. Its state is owned by the run goroutine; info is published
// under mu for readers.
type call struct {
	cs     *callStore
	id     string
	acct   *Account
	ev     chan callEvent
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	log    *zap.Logger

	// guarded by cs.mu
	ver     uint64    // cs.version at this call's last change
	endedAt time.Time // on the Sim's clock, when the call goroutine ended (retention)
	dropped bool      // removed from the store by retention

	// owned by the run goroutine
	offer       string // outbound: the client's /start offer
	fe          farEnd
	localSDP    string // last SDP the far end produced
	sdpSent     bool   // outbound: the answer SDP went out in a notification
	script      []step
	timer       *time.Timer
	timerC      <-chan time.Time
	timerFn     func()
	seq         int64
	ringTimeout time.Duration
	// inbound invitation details
	originatorName string
	verification   string

	mu      sync.Mutex
	info    CallInfo // written only by the run goroutine (under mu)
	changed chan struct{}
	// batching (run goroutine only): while set, update does not wake waiters, so a
	// REST request's state change and its "rest" event are published as one snapshot.
	batching bool
	// frozen (under mu) is what snapshots read while a batch is open: the info as it was
	// published before it, so a reader woken by something else (or polling) never sees the
	// batch's state change without its event.
	frozen *CallInfo
	acked  map[string]bool // msgIds of this call's notifications the client acknowledged
	stats  func() any      // far-end stats while it lives
	// waitRx waits until the far end received n audio packets (nil for fakes / after close).
	waitRx func(ctx context.Context, n uint64) error
	final  any // stats captured at close
}

func newCall(cs *callStore, acct *Account, info CallInfo) *call {
	ctx, cancel := context.WithCancel(cs.ctx)
	info.Created = time.Now()
	info.State = CallInitial
	info.AccountID = acct.ID
	return &call{
		cs: cs, id: info.ID, acct: acct,
		ev:      make(chan callEvent, 16),
		done:    make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
		log:     cs.logger().With(zap.String("callId", info.ID), zap.String("dir", info.Direction)),
		info:    info,
		changed: make(chan struct{}),
	}
}

// update mutates the published info under the lock and wakes waiters.
func (c *call) update(f func(*CallInfo)) {
	c.mu.Lock()
	f(&c.info)
	if c.batching {
		c.mu.Unlock()
		return
	}
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	c.cs.bump(c)
}

// beginBatch opens a batch: until endBatch, updates change the info without publishing
// it (snapshots read the info as it was).
func (c *call) beginBatch() {
	c.mu.Lock()
	f := c.info
	f.Events = slices.Clone(c.info.Events)
	c.frozen = &f
	c.batching = true
	c.mu.Unlock()
}

// endBatch publishes everything the batch changed at once and wakes waiters.
func (c *call) endBatch() {
	c.mu.Lock()
	c.frozen = nil
	c.batching = false
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	c.cs.bump(c)
}

func (c *call) logEvent(e CallEvent) {
	e.At = time.Now()
	c.update(func(ci *CallInfo) { ci.Events = append(ci.Events, e) })
}

func (c *call) setState(state string) {
	if c.info.State == state {
		return
	}
	c.log.Debug("call state", zap.String("from", c.info.State), zap.String("to", state))
	c.update(func(ci *CallInfo) {
		ci.State = state
		ci.Events = append(ci.Events, CallEvent{At: time.Now(), Kind: "state", Name: state})
		if state == CallConnected && ci.Answered.IsZero() {
			ci.Answered = time.Now()
		}
		if state == CallTerminated {
			ci.Ended = time.Now()
		}
	})
}

// snapshot returns a deep-enough copy of the call's info, with ack states and media stats.
func (c *call) snapshot() CallInfo {
	c.cs.snapshots.Add(1)
	c.mu.Lock()
	ci := c.info
	if c.frozen != nil {
		ci = *c.frozen
	}
	ci.Events = slices.Clone(ci.Events)
	stats, final := c.stats, c.final
	c.mu.Unlock()
	c.mu.Lock()
	acked := make(map[string]bool, len(c.acked))
	for k := range c.acked {
		acked[k] = true
	}
	c.mu.Unlock()
	for i := range ci.Events {
		if ci.Events[i].Kind == "notify" {
			if id := ci.Events[i].MsgID; acked[id] {
				ci.Events[i].Ack = AckAcked
			} else {
				ci.Events[i].Ack = c.cs.ackStateOf(c.acct, id)
			}
		}
	}
	switch {
	case final != nil:
		ci.Media = final
	case stats != nil:
		ci.Media = stats()
	}
	if ms, ok := ci.Media.(farend.Stats); ok {
		ci.Codec, ci.CodecReceived, ci.TelephoneEvent = ms.Codec, ms.CodecReceived, ms.TelephoneEvent
	}
	return ci
}

// waitState blocks until the call is in state, the call terminates (ErrCallEnded unless
// state is CallTerminated) or ctx ends.
func (c *call) waitState(ctx context.Context, state string) error {
	for {
		c.mu.Lock()
		cur, ch := c.info.State, c.changed
		if c.frozen != nil { // a batch is open: its state is not published yet
			cur = c.frozen.State
		}
		c.mu.Unlock()
		if cur == state {
			return nil
		}
		if cur == CallTerminated {
			return ErrCallEnded
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// post delivers an event to the call goroutine and waits for its reply. ok is false when the
// call has ended (or ends) before answering, or ctx ends.
func (c *call) post(ctx context.Context, ev callEvent) (callReply, bool) {
	ev.replyCh = make(chan callReply, 1)
	select {
	case c.ev <- ev:
	case <-c.done:
		return callReply{}, false
	case <-ctx.Done():
		return callReply{}, false
	}
	select {
	case r := <-ev.replyCh:
		return r, true
	case <-c.done:
		select {
		case r := <-ev.replyCh:
			return r, true
		default:
			return callReply{}, false
		}
	case <-ctx.Done():
		return callReply{}, false
	}
}

// runThen asks the call goroutine to run fn (work to do after an HTTP response is out).
func (c *call) runThen(fn func()) {
	if fn == nil {
		return
	}
	select {
	case c.ev <- callEvent{kind: evThen, fn: fn}:
	case <-c.done:
	}
}

// run is the call goroutine: it owns the call's state until the call terminates.
func (c *call) run() {
	defer c.cs.wg.Done()
	defer close(c.done)
	defer c.cs.retire(c)
	defer c.cleanup()
	for c.info.State != CallTerminated {
		select {
		case ev := <-c.ev:
			c.handle(ev)
		case <-c.timerC:
			fn := c.timerFn
			c.timerC, c.timerFn = nil, nil
			if fn != nil {
				fn()
			}
		case <-c.ctx.Done():
			c.finish(OutcomeSimClosed)
		}
	}
}

func (c *call) handle(ev callEvent) {
	var r callReply
	switch ev.kind {
	case evThen:
		if c.info.State != CallTerminated {
			ev.fn()
		}
		r = replyOK(nil)
	case evInvite:
		r = c.invite()
	case evREST:
		// A waiter woken by the state this request causes must also see the request
		// itself (with its status) in the same snapshot.
		c.beginBatch()
		r = c.rest(ev)
		e := CallEvent{Kind: "rest", Name: ev.op, HTTPStatus: r.status, Detail: r.msg}
		if ev.op == yna.OpEnd && r.ok() {
			// What the client said why it ended the call (fact sheet §7, §17 q9).
			e.Detail = yna.HeaderReason + ": " + ev.hdr.Get(yna.HeaderReason)
		}
		if s, ok := sdpOf(ev.body); ok && s != "" {
			e.SDP = true
		}
		c.logEvent(e)
		c.endBatch()
	case evAction:
		r = c.action(ev.op, ev.digits)
		c.logEvent(CallEvent{Kind: "action", Name: ev.op, HTTPStatus: r.status, Detail: r.msg})
	}
	if r.then != nil {
		r.written = make(chan struct{})
	}
	if ev.replyCh != nil {
		ev.replyCh <- r
	}
	if r.then == nil {
		return
	}
	// Hold every other event until the HTTP response is out, then send what follows it,
	// so that the client sees response and notification in this order.
	t := time.NewTimer(responseWriteTimeout)
	defer t.Stop()
	select {
	case <-r.written:
	case <-t.C:
	case <-c.ctx.Done():
		return
	}
	if c.info.State != CallTerminated {
		r.then()
	}
}

// responseWriteTimeout bounds how long a call waits for its HTTP handler to write a response.
const responseWriteTimeout = 5 * time.Second

// after arms the call's single timer; a previous one is dropped.
func (c *call) after(d time.Duration, fn func()) {
	c.stopTimer()
	c.timer = time.NewTimer(d)
	c.timerC, c.timerFn = c.timer.C, fn
}

func (c *call) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer, c.timerC, c.timerFn = nil, nil, nil
}

// finish terminates the call locally (no notification) with an outcome.
func (c *call) finish(outcome string) {
	c.stopTimer()
	c.script = nil
	c.update(func(ci *CallInfo) {
		ci.Outcome = outcome
		ci.Pending = ""
	})
	c.setState(CallTerminated)
}

// finishWith sends the final notification of outcome (table finals) and terminates the call,
// except for OutcomeAnswered, which connects it.
func (c *call) finishWith(outcome string) {
	f := finals[outcome]
	ss := yna.SessionStatus{Status: f.Status, ResponseCode: yna.ResponseCode(f.Code)}
	if f.Reason != "" {
		ss.Reason = jsonString(f.Reason)
	}
	c.send(ss)
	c.finish(outcome)
}

func (c *call) cleanup() {
	c.stopTimer()
	if c.fe != nil {
		st := c.fe.Stats()
		if err := c.fe.Close(); err != nil {
			c.log.Debug("far end close", zap.Error(err))
		}
		c.mu.Lock()
		c.final, c.stats, c.waitRx = st, nil, nil
		c.mu.Unlock()
		c.fe = nil
	}
	c.cancel()
}

// farEnd returns the call's far end, creating it on first use.
func (c *call) farEnd() (farEnd, error) {
	if c.fe != nil {
		return c.fe, nil
	}
	fe, err := c.cs.newFarEnd(c.ctx, c.info.Codecs)
	if err != nil {
		return nil, errors.Join(ErrMedia, err)
	}
	c.fe = fe
	c.mu.Lock()
	c.stats = fe.Stats
	if w, ok := fe.(interface {
		WaitPackets(context.Context, uint64) error
	}); ok {
		c.waitRx = w.WaitPackets
	}
	c.mu.Unlock()
	return fe, nil
}

// mediaCtx bounds one far-end operation.
func (c *call) mediaCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, c.cs.mediaTimeout)
}

// send sends a sessionStatusNotification for this call and logs it.
func (c *call) send(ss yna.SessionStatus) {
	c.seq++
	ss.CallObjectRef = c.info.CallObjectRef
	now := time.Now()
	ss.NotificationReference = &yna.NotificationReference{
		EpochTime:      now.UnixMilli(), // guess: ms (fact sheet §17 q12)
		NotificationID: c.cs.nextNotificationID(),
		SequenceNumber: c.seq,
	}
	msgID := c.cs.notify(c.acct, yna.TypeSessionStatus, ss, c.markAcked)
	c.log.Debug("notify", zap.String("status", ss.Status), zap.Int("code", int(ss.ResponseCode)),
		zap.Bool("sdp", ss.SDP != ""), zap.String("msgId", msgID))
	c.logEvent(CallEvent{Kind: "notify", Name: ss.Status, ResponseCode: int(ss.ResponseCode),
		MsgID: msgID, SDP: ss.SDP != "", Offer: ss.Offer != nil})
}

// markAcked records that the client acknowledged notification msgID of this call (called by
// the hub, from any goroutine).
func (c *call) markAcked(msgID string) {
	c.mu.Lock()
	if c.acked == nil {
		c.acked = map[string]bool{}
	}
	c.acked[msgID] = true
	c.mu.Unlock()
	// No wake-up: acks were never change events, and waking here could expose a REST
	// request's state change before its event (see batching).
}

func (c *call) mediaEvent(name string, err error) {
	e := CallEvent{Kind: "media", Name: name}
	if err != nil {
		e.Detail = err.Error()
		c.log.Info("far end failed", zap.String("op", name), zap.Error(err))
	}
	c.logEvent(e)
}
