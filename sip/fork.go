package sip

// Outbound calls with parallel forking: Dial sends an INVITE to every target at
// once; the first 2xx wins and the other branches are cancelled with
// `Reason: SIP;cause=200;text="Call completed elsewhere"`.
//
// Concurrency: one owner goroutine (OutboundCall.run) owns all fork state.
// Every branch runs in its own goroutine (branch.run, uac.go) and reports to
// the owner on one channel; the owner answers a branch's 2xx on that branch's
// decide channel. Done is closed only after every branch goroutine has
// finished (including ACK+BYE of late 2xx responses).
//
// Timing notes: a branch that never sent a provisional cannot be CANCELled
// (RFC 3261 §9.1); it is given up when its INVITE transaction times out
// (Timer B, 32 s), so Done can lag the FailedEvent of a ring timeout by that
// much. A branch that got CANCEL but no final response is forced out after
// 64*T1. Each branch uses its own Call-ID (to the callee each branch is an
// independent call from a B2BUA).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// DefaultRingTimeout is the overall ring timeout of a fork when
// DialRequest.RingTimeout is zero.
const DefaultRingTimeout = 60 * time.Second

// Target is one destination of an outbound call.
type Target struct {
	URI      string // Request-URI, e.g. "sip:alice@127.0.0.1:5080;transport=udp"
	Username string // digest credentials for a trunk: a 401/407 is answered once
	Password string
	Label    string // names the branch in events and metrics; default URI
	// Destination optionally overrides where the INVITE is sent ("host:port"),
	// e.g. Contact.Source of a phone behind NAT. Empty: resolve URI.
	Destination string
	// Route, if set, is the route set of the INVITE (name-addr values, top
	// first): a binding's Path (Contact.Path) through the proxy in front. The
	// INVITE goes to the first entry (loose routing); Destination is ignored.
	Route []string
	// Offer, if not nil, is this target's SDP offer instead of DialRequest.Offer
	// (e.g. SDES-SRTP keys only toward targets reached over TLS).
	Offer []byte
}

// offer is the SDP offer sent to t.
func (t Target) offer(req *DialRequest) []byte {
	if t.Offer != nil {
		return t.Offer
	}
	return req.Offer
}

func (t Target) name() string {
	if t.Label != "" {
		return t.Label
	}
	return t.URI
}

// DialRequest describes an outbound call.
type DialRequest struct {
	From          string            // From URI (name-addr allowed); its user is what the callee sees
	To            string            // To URI; empty means each target's URI
	Targets       []Target          // all are called at once
	Offer         []byte            // SDP offer sent to every target without a Target.Offer
	Headers       map[string]string // extra headers for every INVITE
	RingTimeout   time.Duration     // overall; 0 means DefaultRingTimeout
	BranchTimeout time.Duration     // per branch; 0 means none
}

// ForkEvent is what an OutboundCall reports: *ProgressEvent, *AnsweredEvent or
// *FailedEvent. Exactly one AnsweredEvent or FailedEvent is sent, last.
type ForkEvent interface{ isForkEvent() }

// ProgressEvent is an aggregated provisional response: the first 180 and the
// first 18x with SDP (early media) of the whole fork; duplicates are dropped.
type ProgressEvent struct {
	Code   int
	SDP    []byte
	Branch string // Target.Label (or URI) of the branch that sent it
}

// AnsweredEvent: a branch answered; its 2xx has been ACKed.
type AnsweredEvent struct {
	Dialog *Dialog
	SDP    []byte // the answer
	Branch string
}

// FailedEvent: no branch answered. Code/Reason are the best final response
// (RFC 3261 §16.7, see selectresp.go), 408 on ring timeout, 487 after Cancel.
// Err is a *StatusError with the same code (errors.Is(err, ErrBusyHere) etc.).
type FailedEvent struct {
	Code   int
	Reason string
	Err    error
}

func (*ProgressEvent) isForkEvent() {}
func (*AnsweredEvent) isForkEvent() {}
func (*FailedEvent) isForkEvent()   {}

// Branch outcomes reported by OutboundCall.Branches.
const (
	ResultAnswered  = "answered"
	ResultCancelled = "cancelled"
	ResultRejected  = "rejected"
	ResultTimeout   = "timeout"
	ResultLate2xx   = "late_2xx"
)

// BranchResult is the outcome of one branch (for metrics). Code is the final
// status the branch really received (487 for a cancelled branch, 0 if none).
// Result is "" while the branch is still pending.
type BranchResult struct {
	Target Target
	Code   int
	Result string
}

// OutboundCall is a running fork created by Dial.
type OutboundCall struct {
	events chan ForkEvent
	done   chan struct{}

	cancelOnce sync.Once
	cancelCh   chan struct{}
	cancelWhy  string // Reason header value; written before cancelCh is closed

	shutdownOnce sync.Once
	shutdownCh   chan struct{} // closed by Server.cancelForks

	mu      sync.Mutex
	results []BranchResult
}

// Events delivers ProgressEvents and then exactly one AnsweredEvent or
// FailedEvent. The channel is closed when Done is. It is buffered: nothing is
// lost if the caller reads late.
func (o *OutboundCall) Events() <-chan ForkEvent { return o.events }

// Done is closed when every branch has finished (after late 2xx responses
// have been ACKed and BYEd), not merely when the call was decided.
func (o *OutboundCall) Done() <-chan struct{} { return o.done }

// Cancel gives up the whole fork: every pending branch gets a CANCEL with a
// Reason header. reason is either a full Reason value, e.g. ReasonCompletedElsewhere
// or `SIP;cause=487;text="Caller hung up"`, or plain text (sent as
// SIP;cause=487;text="<reason>"). If no branch has answered yet the fork ends with
// a FailedEvent (487); a 2xx that arrives afterwards is ACKed and BYEd.
// Cancel after an AnsweredEvent does nothing: hang up the Dialog instead.
func (o *OutboundCall) Cancel(reason string) {
	o.cancelOnce.Do(func() {
		o.cancelWhy = reasonHeaderValue(reason)
		close(o.cancelCh)
	})
}

func (o *OutboundCall) shutdown() {
	o.shutdownOnce.Do(func() { close(o.shutdownCh) })
}

// Branches returns the per-branch outcomes so far (final after Done).
func (o *OutboundCall) Branches() []BranchResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]BranchResult(nil), o.results...)
}

// forkEnv is what a fork needs from its Server.
type forkEnv struct {
	uas map[string]*sipgo.DialogUA // by network: "udp", "tcp", "tls"
	// udpLocal is the UDP listener's "ip:port": UDP INVITEs leave from it, so
	// phones behind NAT see the address they registered with. "" = any socket.
	udpLocal string
	log      *zap.Logger
	// newDialog turns the ACKed winning session into a Dialog.
	newDialog func(sess *sipgo.DialogClientSession, localSDP, remoteSDP []byte) (*Dialog, error)
	// closing is closed when the server shuts down (nil: never).
	closing <-chan struct{}
	// spawn runs f in a goroutine the server waits for on Close; false when
	// the server is closing. nil: plain go.
	spawn func(f func()) bool
	// onDone is called by the owner goroutine just before Done is closed.
	onDone func()
	// route, if set, says how to reach a target registered over TCP/TLS: on
	// its registration connection (network, remote address); ok false = as
	// its URI says. See registrationRoute.
	route func(t Target) (network, dest string, ok bool)
}

// targetNetwork is the transport a target URI asks for.
func targetNetwork(u sipmsg.Uri) string {
	if tp, ok := u.UriParams.Get("transport"); ok && tp != "" {
		return strings.ToLower(tp)
	}
	if strings.EqualFold(u.Scheme, "sips") {
		return "tls"
	}
	return "udp"
}

// Dial starts an outbound call to all req.Targets at once. It returns when the
// INVITEs are on their way; follow the call with Events and Done. Cancelling
// ctx before an answer is the same as Cancel.
func (s *Server) Dial(ctx context.Context, req DialRequest) (*OutboundCall, error) {
	env, err := s.forkEnv()
	if err != nil {
		return nil, err
	}
	var o *OutboundCall
	env.onDone = func() {
		forks.mu.Lock() // taken before reading o, which Dial writes under it
		defer forks.mu.Unlock()
		forks.removeLocked(s, o)
	}
	forks.mu.Lock() // held across startFork so onDone cannot run before add
	defer forks.mu.Unlock()
	o, err = startFork(ctx, env, req)
	if err != nil {
		return nil, err
	}
	forks.addLocked(s, o)
	return o, nil
}

// forks tracks the running forks of every Server, for cancelForks.
var forks = forkRegistry{m: map[*Server]map[*OutboundCall]struct{}{}}

type forkRegistry struct {
	mu sync.Mutex
	m  map[*Server]map[*OutboundCall]struct{}
}

func (r *forkRegistry) addLocked(s *Server, o *OutboundCall) {
	if r.m[s] == nil {
		r.m[s] = map[*OutboundCall]struct{}{}
	}
	r.m[s][o] = struct{}{}
}

func (r *forkRegistry) removeLocked(s *Server, o *OutboundCall) {
	delete(r.m[s], o)
	if len(r.m[s]) == 0 {
		delete(r.m, s)
	}
}

// reasonShutdown is the Reason of the CANCELs sent by cancelForks.
const reasonShutdown = `SIP;cause=503;text="Server shutting down"`

// cancelForks CANCELs every running fork of s (FailedEvent 503, ErrClosed)
// and waits until they are done or ctx ends. Server.Close should call it
// before closing the transports, so the CANCELs (and ACK/BYE of racing 2xx)
// can still go out; forks still running when the transports close stop
// without sending anything more.
func (s *Server) cancelForks(ctx context.Context) {
	forks.mu.Lock()
	list := make([]*OutboundCall, 0, len(forks.m[s]))
	for o := range forks.m[s] {
		list = append(list, o)
	}
	forks.mu.Unlock()
	for _, o := range list {
		o.shutdown()
	}
	for _, o := range list {
		select {
		case <-o.Done():
		case <-ctx.Done():
			return
		}
	}
}

// startFork validates req and launches the owner and branch goroutines.
func startFork(ctx context.Context, env forkEnv, req DialRequest) (*OutboundCall, error) {
	if len(req.Targets) == 0 {
		return nil, &StatusError{Code: 400, Reason: "No Targets", Err: errors.New("dial: no targets")}
	}
	if req.RingTimeout <= 0 {
		req.RingTimeout = DefaultRingTimeout
	}
	if env.log == nil {
		env.log = zap.NewNop()
	}
	ruris := make([]sipmsg.Uri, len(req.Targets))
	networks := make([]string, len(req.Targets))
	sent := make([]Target, len(req.Targets)) // as the branches send them
	routed := make([]bool, len(req.Targets))
	for i, t := range req.Targets {
		if err := sipmsg.ParseUri(t.URI, &ruris[i]); err != nil {
			return nil, &StatusError{Code: 416, Err: fmt.Errorf("dial: target %q: %w", t.URI, err)}
		}
		if sch := strings.ToLower(ruris[i].Scheme); (sch != "sip" && sch != "sips") || ruris[i].Host == "" {
			return nil, &StatusError{Code: 416, Err: fmt.Errorf("dial: target %q: not a sip: URI with a host", t.URI)}
		}
		if _, err := buildInvite(&req, t, ruris[i]); err != nil {
			return nil, &StatusError{Code: 400, Err: fmt.Errorf("dial: %w", err)}
		}
		networks[i], sent[i] = targetNetwork(ruris[i]), t
		if len(t.Route) > 0 {
			// Registered through a proxy (Path): the proxy holds the phone's flow.
			n, dest, err := routeHop(t.Route)
			if err != nil {
				return nil, &StatusError{Code: 400, Err: fmt.Errorf("dial: target %q: %w", t.URI, err)}
			}
			networks[i], sent[i].Destination, routed[i] = n, dest, true
		} else if env.route != nil {
			if n, dest, ok := env.route(t); ok && env.uas[n] != nil {
				// A phone registered over TCP/TLS (maybe behind NAT): ring it on
				// the connection it registered on, not a new one to its Contact.
				networks[i], sent[i].Destination, routed[i] = n, dest, true
			}
		}
		if ua := env.uas[networks[i]]; ua == nil || ua.Client == nil {
			return nil, &StatusError{Code: 503, Err: fmt.Errorf("dial: target %q: no %s transport", t.URI, networks[i])}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, &StatusError{Code: 487, Err: err}
	}

	o := &OutboundCall{
		events:     make(chan ForkEvent, 4), // ≤1 ringing + ≤1 early media + 1 final
		done:       make(chan struct{}),
		cancelCh:   make(chan struct{}),
		shutdownCh: make(chan struct{}),
		results:    make([]BranchResult, len(req.Targets)),
	}
	f := &fork{
		o:        o,
		env:      env,
		req:      req,
		report:   make(chan branchMsg),
		branches: make([]*branch, len(req.Targets)),
		state:    make([]branchState, len(req.Targets)),
	}
	now := time.Now()
	f.deadline = now.Add(req.RingTimeout)
	for i, t := range req.Targets {
		o.results[i].Target = t
		network := networks[i]
		local := ""
		if network == "udp" {
			local = env.udpLocal
		}
		f.branches[i] = newBranch(i, sent[i], env.uas[network], local, env.log)
		if routed[i] {
			f.branches[i].transport = network
		}
		f.state[i].pending = true
		if req.BranchTimeout > 0 {
			f.state[i].deadline = now.Add(req.BranchTimeout)
		}
	}
	spawn := env.spawn
	if spawn == nil {
		spawn = func(fn func()) bool { go fn(); return true }
	}
	// The owner starts the branches and outlives them, so one owned
	// goroutine covers the whole fork.
	if !spawn(func() { f.run(ctx, ruris) }) {
		return nil, &StatusError{Code: 503, Err: fmt.Errorf("dial: %w", ErrClosed)}
	}
	return o, nil
}

// cancelCause says why we cancelled a branch.
type cancelCause int

const (
	notCancelled cancelCause = iota
	cancelTimeout
	cancelOther // answered elsewhere, caller gave up, 6xx elsewhere, shutdown
)

type branchState struct {
	pending   bool      // no final response / 2xx yet
	deadline  time.Time // per-branch ring timeout (zero: none)
	cancelled cancelCause
}

// fork is the owner goroutine's state. Only f.run touches it.
type fork struct {
	o        *OutboundCall
	env      forkEnv
	req      DialRequest
	report   chan branchMsg
	branches []*branch
	state    []branchState
	deadline time.Time // overall ring timeout

	agg     progressAggregator
	finals  []finalResponse
	decided bool // the AnsweredEvent / FailedEvent has been sent
}

func (f *fork) run(ctx context.Context, ruris []sipmsg.Uri) {
	defer close(f.o.done)
	defer func() {
		if f.env.onDone != nil {
			f.env.onDone()
		}
	}()
	defer close(f.o.events)
	for i, b := range f.branches {
		go b.run(&f.req, ruris[i], f.report)
	}

	live := len(f.branches)
	ctxDone := ctx.Done()
	cancelCh := (<-chan struct{})(f.o.cancelCh)
	closing := f.env.closing
	shutdownCh := (<-chan struct{})(f.o.shutdownCh)
	timer := time.NewTimer(time.Until(f.deadline))
	defer timer.Stop()

	for live > 0 {
		if next, ok := f.nextDeadline(); ok {
			timer.Reset(time.Until(next))
		} else {
			timer.Stop()
		}
		select {
		case m := <-f.report:
			if m.kind == branchDone {
				live--
				continue
			}
			f.handle(m)
		case <-timer.C:
			f.expire(time.Now())
		case <-ctxDone:
			ctxDone = nil
			f.abort(reasonCallerCancelled, 487, "Request Terminated", context.Cause(ctx))
		case <-cancelCh:
			cancelCh = nil
			f.abort(f.o.cancelWhy, 487, "Request Terminated", ErrCanceled)
		case <-shutdownCh:
			shutdownCh = nil
			f.abort(reasonShutdown, 503, "Service Unavailable", ErrClosed)
		case <-closing:
			// The transports are closing under us: stop without sending
			// anything (see branch.stopQuietly). Server.cancelForks is the
			// polite path that CANCELs first.
			closing = nil
			for _, b := range f.branches {
				b.stopQuietly()
			}
			if !f.decided {
				f.fail(finalResponse{Code: 503, Reason: "Service Unavailable"}, ErrClosed)
			}
		}
	}
}

func (f *fork) nextDeadline() (time.Time, bool) {
	var next time.Time
	if !f.decided {
		next = f.deadline
	}
	for _, st := range f.state {
		if st.pending && st.cancelled == notCancelled && !st.deadline.IsZero() &&
			(next.IsZero() || st.deadline.Before(next)) {
			next = st.deadline
		}
	}
	return next, !next.IsZero()
}

func (f *fork) expire(now time.Time) {
	if !f.decided && !now.Before(f.deadline) {
		f.cancelPending(reasonRingTimeout, cancelTimeout)
		f.fail(bestFinal(f.finalsWithPendingAsTimeout()), nil)
		return
	}
	for i := range f.state {
		st := &f.state[i]
		if st.pending && st.cancelled == notCancelled && !st.deadline.IsZero() && !now.Before(st.deadline) {
			st.cancelled = cancelTimeout
			f.branches[i].requestCancel(reasonBranchTimeout)
		}
	}
}

// finalsWithPendingAsTimeout is the selection input at the overall timeout:
// what has been received so far plus a 408 for every branch still ringing.
func (f *fork) finalsWithPendingAsTimeout() []finalResponse {
	out := append([]finalResponse(nil), f.finals...)
	for _, st := range f.state {
		if st.pending {
			out = append(out, timeoutResponse)
		}
	}
	return out
}

// abort ends an undecided fork at the owner's request.
func (f *fork) abort(reason string, code int, phrase string, cause error) {
	if f.decided {
		return
	}
	f.cancelPending(reason, cancelOther)
	f.fail(finalResponse{Code: code, Reason: phrase}, cause)
}

func (f *fork) cancelPending(reason string, why cancelCause) {
	for i := range f.state {
		st := &f.state[i]
		if st.pending && st.cancelled == notCancelled {
			st.cancelled = why
			f.branches[i].requestCancel(reason)
		}
	}
}

func (f *fork) handle(m branchMsg) {
	b, st := f.branches[m.idx], &f.state[m.idx]
	switch m.kind {
	case branchProgress:
		if !f.decided && st.pending && f.agg.forward(m.code, m.sdp) {
			f.emit(&ProgressEvent{Code: m.code, SDP: m.sdp, Branch: b.target.name()})
		}

	case branchAnswered:
		st.pending = false
		if f.decided {
			f.setResult(m.idx, m.code, ResultLate2xx)
			b.decide <- false
			return
		}
		f.decided = true
		b.decide <- true
		f.setResult(m.idx, m.code, ResultAnswered)
		f.cancelPending(ReasonCompletedElsewhere, cancelOther)
		d, err := f.answer(m.sess, b.target.offer(&f.req), m.sdp)
		if err != nil {
			f.env.log.Warn("answered branch could not be set up", zap.String("branch", b.target.name()), zap.Error(err))
			f.emit(&FailedEvent{Code: 500, Reason: StatusText(500), Err: &StatusError{Code: 500, Err: err}})
			return
		}
		f.emit(&AnsweredEvent{Dialog: d, SDP: m.sdp, Branch: b.target.name()})

	case branchFinal:
		st.pending = false
		fr := finalResponse{Code: m.code, Reason: m.reason}
		// A branch we cancelled may still have rejected on its own before
		// the CANCEL took effect: only a 487 (or our own 408 when it never
		// sent a provisional, so no CANCEL was possible) follows our cause.
		endedByUs := m.code == 487 || m.code == 408
		switch {
		case st.cancelled == cancelTimeout && endedByUs:
			f.setResult(m.idx, m.code, ResultTimeout)
			fr = timeoutResponse
		case st.cancelled == cancelOther && endedByUs:
			f.setResult(m.idx, m.code, ResultCancelled)
		default:
			f.setResult(m.idx, m.code, ResultRejected)
		}
		if m.err != nil {
			f.env.log.Debug("branch failed", zap.String("branch", b.target.name()), zap.Int("code", m.code), zap.Error(m.err))
		}
		if f.decided {
			return
		}
		f.finals = append(f.finals, fr)
		if m.code >= 600 && m.code <= 699 {
			// A 6xx ends the whole fork at once (RFC 3261 §16.7 step 5).
			f.cancelPending(fmt.Sprintf(`SIP;cause=%d;text="%s"`, m.code, sanitizeReasonText(m.reason)), cancelOther)
			f.fail(fr, nil)
			return
		}
		if !f.anyPending() {
			f.fail(bestFinal(f.finals), nil)
		}
	}
}

// answer ACKs the winning 2xx and builds the Dialog.
func (f *fork) answer(sess *sipgo.DialogClientSession, offer, sdp []byte) (*Dialog, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sipmsg.Timer_B)
	defer cancel()
	if err := sess.Ack(ctx); err != nil {
		_ = sess.Close()
		return nil, fmt.Errorf("ACK: %w", err)
	}
	if f.env.newDialog == nil {
		return nil, errors.New("no dialog constructor")
	}
	d, err := f.env.newDialog(sess, offer, sdp)
	if err != nil {
		byeCtx, byeCancel := context.WithTimeout(context.Background(), sipmsg.Timer_B)
		defer byeCancel()
		_ = sess.Bye(byeCtx)
		return nil, err
	}
	return d, nil
}

func (f *fork) anyPending() bool {
	for _, st := range f.state {
		if st.pending {
			return true
		}
	}
	return false
}

func (f *fork) fail(fr finalResponse, cause error) {
	f.decided = true
	fr = normalizeFinal(fr)
	se := &StatusError{Code: fr.Code, Reason: fr.Reason, Err: cause, Retryable: retryableCode(fr.Code)}
	f.emit(&FailedEvent{Code: fr.Code, Reason: fr.Reason, Err: se})
}

func retryableCode(code int) bool {
	switch code {
	case 408, 480, 486, 491, 500, 503, 504:
		return true
	}
	return false
}

func (f *fork) emit(ev ForkEvent) {
	select {
	case f.o.events <- ev:
	default:
		// Cannot happen: the buffer holds every event a fork can produce.
		f.env.log.Error("fork event dropped", zap.String("event", fmt.Sprintf("%T", ev)))
	}
}

func (f *fork) setResult(i, code int, result string) {
	f.o.mu.Lock()
	f.o.results[i].Code = code
	f.o.results[i].Result = result
	f.o.mu.Unlock()
}

func sanitizeReasonText(s string) string {
	return strings.Map(func(c rune) rune {
		if c == '"' || c == '\\' || c < 0x20 || c == 0x7f {
			return -1
		}
		return c
	}, s)
}

// forkEnv collects what Dial needs from the Server.
func (s *Server) forkEnv() (forkEnv, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closing || s.client == nil {
		return forkEnv{}, &StatusError{Code: 503, Err: fmt.Errorf("dial: server not running: %w", ErrClosed)}
	}
	client := s.client
	env := forkEnv{
		uas:       make(map[string]*sipgo.DialogUA, len(s.dialogUAs)),
		log:       s.log.Named("fork"),
		newDialog: s.newClientDialog,
		closing:   s.ctx.Done(),
		spawn:     s.goOwned,
		route:     func(t Target) (string, string, bool) { return s.registrationRoute(client, t) },
	}
	for n, ua := range s.dialogUAs {
		env.uas[n] = ua
	}
	if a, ok := s.addrs["udp"]; ok && a.IsValid() {
		env.udpLocal = a.String()
	}
	return env, nil
}
