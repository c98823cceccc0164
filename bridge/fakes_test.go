package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// Fakes of everything a call uses (ports.go, netapi.go, media.go), for the unit tests of
// the call logic (calls_unit_test.go). Each fake records what the call did to it on a
// channel the test waits on with a deadline.

const unitWait = 5 * time.Second

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(unitWait):
		t.Fatalf("timeout waiting for %s", what)
	}
	var zero T
	return zero
}

// --- the YNA client (below tokenAPI, so the 401 handling runs for real) ---

type ynaReq struct {
	op, token, id, sdp string
}

// fakeYNA answers every request with the next scripted outcome of its operation (nil:
// success); a token other than valid gets 401.
type fakeYNA struct {
	mu    sync.Mutex
	valid string
	fail  map[string][]error
	block map[string]chan struct{} // the op waits for it (or ctx)
	log   []ynaReq
	reqs  chan ynaReq
	ids   int
}

func newFakeYNA() *fakeYNA {
	return &fakeYNA{valid: "tok1", fail: map[string][]error{}, block: map[string]chan struct{}{}, reqs: make(chan ynaReq, 64)}
}

func apiErr(op string, status int) error { return &yna.APIError{Op: op, HTTPStatus: status} }

// script makes the next calls of op return errs, in order.
func (f *fakeYNA) script(op string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = append(f.fail[op], errs...)
}

func (f *fakeYNA) do(ctx context.Context, op, tok, id, sdp string) error {
	f.mu.Lock()
	f.log = append(f.log, ynaReq{op, tok, id, sdp})
	block := f.block[op]
	var err error
	switch {
	case tok != f.valid:
		err = apiErr(op, 401)
	case len(f.fail[op]) > 0:
		err = f.fail[op][0]
		f.fail[op] = f.fail[op][1:]
	}
	f.mu.Unlock()
	f.reqs <- ynaReq{op, tok, id, sdp}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return fmt.Errorf("yna: %s: %w", op, ctx.Err())
		}
	}
	return err
}

// ops returns the operations requested so far (with their result ignored).
func (f *fakeYNA) ops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.log {
		out = append(out, r.op)
	}
	return out
}

func (f *fakeYNA) count(op string) int {
	n := 0
	for _, o := range f.ops() {
		if o == op {
			n++
		}
	}
	return n
}

func (f *fakeYNA) Start(ctx context.Context, tok string, req yna.StartRequest) (*yna.StartResponse, error) {
	f.mu.Lock()
	f.ids++
	id := fmt.Sprintf("CALL%d", f.ids)
	f.mu.Unlock()
	if err := f.do(ctx, yna.OpStart, tok, id, req.SDP); err != nil {
		return nil, err
	}
	return &yna.StartResponse{CallID: id}, nil
}
func (f *fakeYNA) InProgress(ctx context.Context, tok, id string, _ *string) error {
	return f.do(ctx, yna.OpInProgress, tok, id, "")
}
func (f *fakeYNA) Ringing(ctx context.Context, tok, id string) error {
	return f.do(ctx, yna.OpRinging, tok, id, "")
}
func (f *fakeYNA) Connected(ctx context.Context, tok, id string, sdp *string) (*yna.SDPResult, error) {
	return &yna.SDPResult{}, f.do(ctx, yna.OpConnected, tok, id, *sdp)
}
func (f *fakeYNA) Hold(ctx context.Context, tok, id, offer string) (*yna.SDPResult, error) {
	if err := f.do(ctx, yna.OpHold, tok, id, offer); err != nil {
		return nil, err
	}
	return &yna.SDPResult{Status: "Hold", SDP: "hold-answer"}, nil
}
func (f *fakeYNA) Resume(ctx context.Context, tok, id, offer string) (*yna.SDPResult, error) {
	if err := f.do(ctx, yna.OpResume, tok, id, offer); err != nil {
		return nil, err
	}
	return &yna.SDPResult{Status: "Connected", SDP: "resume-answer"}, nil
}
func (f *fakeYNA) AcceptHold(ctx context.Context, tok, id, ans string) error {
	return f.do(ctx, yna.OpAcceptHold, tok, id, ans)
}
func (f *fakeYNA) AcceptResume(ctx context.Context, tok, id, ans string) error {
	return f.do(ctx, yna.OpAcceptResume, tok, id, ans)
}
func (f *fakeYNA) End(ctx context.Context, tok, id, _ string, _ bool) error {
	return f.do(ctx, yna.OpEnd, tok, id, "")
}

// fakeTokens is a TokenSource + TokenRefresher: refresh hands out "tok2", or fails
// with refuse.
type fakeTokens struct {
	mu        sync.Mutex
	tok       string
	refuse    error
	refreshes int
	relinks   []string
	y         *fakeYNA
}

func (f *fakeTokens) AccessToken(context.Context, string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tok == "" {
		return "", ErrNoToken
	}
	return f.tok, nil
}

func (f *fakeTokens) RefreshAccessToken(_ context.Context, _, refused string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return "", f.refuse
	}
	if refused == f.tok {
		f.refreshes++
		f.tok = fmt.Sprintf("tok%d", f.refreshes+1)
		f.y.mu.Lock()
		f.y.valid = f.tok
		f.y.mu.Unlock()
	}
	return f.tok, nil
}

func (f *fakeTokens) MarkNeedsRelink(_ context.Context, line, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.relinks = append(f.relinks, line)
}

// expire makes the network refuse the current token (the next valid one is what a
// refresh gives).
func (f *fakeTokens) expire() {
	f.mu.Lock()
	next := fmt.Sprintf("tok%d", f.refreshes+2)
	f.mu.Unlock()
	f.y.mu.Lock()
	f.y.valid = next
	f.y.mu.Unlock()
}

// --- media ---

var unitPCMU = rtpmedia.Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}

// fakeNet is a NetLeg whose negotiation is a direction.
type fakeNet struct {
	mu       sync.Mutex
	dir      rtpmedia.Direction
	pending  rtpmedia.Direction
	reoffer  bool
	restores int
	accept   chan struct{} // AcceptOffer waits for it when set
	acceptEr error
	done     chan struct{}
	once     sync.Once
	changed  chan struct{} // signalled on every change of the negotiation
}

func newFakeNet() *fakeNet {
	return &fakeNet{dir: rtpmedia.SendRecv, done: make(chan struct{}), changed: make(chan struct{}, 1)}
}

// signal is called with n.mu held.
func (n *fakeNet) signal() {
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

func (n *fakeNet) ReadRTP(*rtp.Packet, []byte) (int, error) {
	<-n.done
	return 0, rtpmedia.ErrWebRTCClosed
}
func (n *fakeNet) WriteRTP(*rtp.Packet) error { return nil }
func (n *fakeNet) CreateOffer(context.Context) (string, error) {
	return "net-offer", nil
}
func (n *fakeNet) SetAnswer(string) error { return nil }
func (n *fakeNet) AcceptOffer(ctx context.Context, _ string) (string, error) {
	if n.accept != nil {
		select {
		case <-n.accept:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return "net-answer", n.acceptEr
}
func (n *fakeNet) Reoffer(_ context.Context, dir rtpmedia.Direction) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.reoffer {
		return "", rtpmedia.ErrWebRTCState
	}
	n.reoffer, n.pending = true, dir
	n.dir = n.dir.Intersect(dir)
	n.signal()
	return "reoffer " + dir.String(), nil
}
func (n *fakeNet) SetReofferAnswer(string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.reoffer {
		return rtpmedia.ErrWebRTCState
	}
	n.reoffer, n.dir = false, n.pending
	n.signal()
	return nil
}

// AnswerReoffer reads the offered direction from a=... in the offer.
func (n *fakeNet) AnswerReoffer(_ context.Context, offer string) (string, rtpmedia.Direction, error) {
	md, err := rtpmedia.ParseSDP([]byte(offer))
	if err != nil {
		return "", rtpmedia.SendRecv, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dir = md.Direction.Answer()
	n.signal()
	return "reanswer " + n.dir.String(), md.Direction, nil
}
func (n *fakeNet) Checkpoint() func() {
	n.mu.Lock()
	dir, pending, re := n.dir, n.pending, n.reoffer
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.dir, n.pending, n.reoffer = dir, pending, re
		n.restores++
		n.signal()
	}
}
func (n *fakeNet) Codec() rtpmedia.Codec { return unitPCMU }
func (n *fakeNet) DTMF() *rtpmedia.Codec { return nil }
func (n *fakeNet) Done() <-chan struct{} { return n.done }
func (n *fakeNet) Err() error            { return rtpmedia.ErrWebRTCClosed }
func (n *fakeNet) Close() error          { n.once.Do(func() { close(n.done) }); return nil }
func (n *fakeNet) state() (rtpmedia.Direction, bool, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dir, n.reoffer, n.restores
}

type fakeMedia struct {
	mu   sync.Mutex
	legs []*fakeNet
	mod  func(*fakeNet)
	made chan *fakeNet
}

func (m *fakeMedia) NewNetLeg([]rtpmedia.Codec) (NetLeg, error) {
	n := newFakeNet()
	if m.mod != nil {
		m.mod(n)
	}
	m.mu.Lock()
	m.legs = append(m.legs, n)
	m.mu.Unlock()
	select {
	case m.made <- n:
	default:
	}
	return n, nil
}

// fakeLeg is the phone's RTP leg.
type fakeLeg struct {
	mu     sync.Mutex
	dir    rtpmedia.Direction
	keys   *rtpmedia.SRTPKeys // the last SetSRTP
	remote netip.AddrPort
	closed chan struct{}
	once   sync.Once
}

func (l *fakeLeg) ReadRTP(*rtp.Packet, []byte) (int, error) {
	<-l.closed
	return 0, errors.New("closed")
}
func (l *fakeLeg) WriteRTP(*rtp.Packet) error    { return nil }
func (l *fakeLeg) LocalAddr() netip.AddrPort     { return netip.MustParseAddrPort("127.0.0.1:40000") }
func (l *fakeLeg) LocalRTCPAddr() netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:40001") }
func (l *fakeLeg) SetRemote(a netip.AddrPort) {
	l.mu.Lock()
	l.remote = a
	l.mu.Unlock()
}
func (l *fakeLeg) SetRemoteRTCP(netip.AddrPort) {}
func (l *fakeLeg) SetDirection(d rtpmedia.Direction) {
	l.mu.Lock()
	l.dir = d
	l.mu.Unlock()
}
func (l *fakeLeg) SetSRTP(k *rtpmedia.SRTPKeys) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if k == nil {
		l.keys = nil
		return nil
	}
	c := *k
	l.keys = &c
	return nil
}
func (l *fakeLeg) srtp() *rtpmedia.SRTPKeys {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keys
}
func (l *fakeLeg) Stats() rtpmedia.LegStats { return rtpmedia.LegStats{} }
func (l *fakeLeg) Close() error             { l.once.Do(func() { close(l.closed) }); return nil }

// fakeRelay records the directions it was told to pause.
type fakeRelay struct {
	mu                sync.Mutex
	sipToNet, netToSI bool // paused
	done              chan struct{}
	err               error
	changed           chan struct{} // signalled on every SetHold
}

func (r *fakeRelay) Start()             {}
func (r *fakeRelay) Update(RelayParams) {}
func (r *fakeRelay) SetHold(s2n, n2s bool) {
	r.mu.Lock()
	r.sipToNet, r.netToSI = s2n, n2s
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}
func (r *fakeRelay) SendDTMFToNet(rune, time.Duration) error { return nil }
func (r *fakeRelay) Done() <-chan struct{}                   { return r.done }
func (r *fakeRelay) Err() error                              { return r.err }
func (r *fakeRelay) NetStats() LegStats                      { return LegStats{} }
func (r *fakeRelay) Close()                                  {}

// paused returns which directions are paused: sip→net, net→sip.
func (r *fakeRelay) paused() (bool, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sipToNet, r.netToSI
}

// --- the SIP side ---

// phoneSDP is what the fake phones offer and answer with.
func phoneSDP(dir rtpmedia.Direction) []byte {
	b, err := rtpmedia.BuildOffer(rtpmedia.OfferConfig{Addr: netip.MustParseAddrPort("127.0.0.1:30000"),
		Codecs: []rtpmedia.Codec{unitPCMU}, Direction: dir, SessionID: 1, Version: uint64(time.Now().UnixNano())})
	if err != nil {
		panic(err)
	}
	return b
}

// netOfferSDP is a network offer (invitation or re-offer) with direction dir.
func netOfferSDP(dir rtpmedia.Direction) string {
	b, err := rtpmedia.BuildOffer(rtpmedia.OfferConfig{Addr: netip.MustParseAddrPort("127.0.0.1:50000"),
		Codecs: []rtpmedia.Codec{unitPCMU}, Direction: dir, SessionID: 2, Version: uint64(time.Now().UnixNano())})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// fakeDialog is an established dialog; the test is the phone.
type fakeDialog struct {
	id      string
	events  chan sip.Event
	mu      sync.Mutex
	ended   bool
	reinv   []int // codes of the next re-INVITEs (200 when empty)
	byes    chan string
	reinvs  chan rtpmedia.Direction // every re-INVITE's offered direction
	replies chan int                // the code each re-INVITE got
}

func newFakeDialog(id string) *fakeDialog {
	return &fakeDialog{id: id, events: make(chan sip.Event, 16), byes: make(chan string, 4),
		reinvs: make(chan rtpmedia.Direction, 8), replies: make(chan int, 8)}
}

func (d *fakeDialog) CallID() string           { return d.id }
func (d *fakeDialog) Events() <-chan sip.Event { return d.events }
func (d *fakeDialog) RemoteSDP() []byte        { return phoneSDP(rtpmedia.SendRecv) }
func (d *fakeDialog) Hangup(_ context.Context, reason string) error {
	d.mu.Lock()
	if d.ended {
		d.mu.Unlock()
		return nil
	}
	d.ended = true
	d.mu.Unlock()
	d.byes <- reason
	d.events <- &sip.TerminatedEvent{}
	close(d.events)
	return nil
}

// phoneHangsUp is a BYE from the phone.
func (d *fakeDialog) phoneHangsUp() {
	d.mu.Lock()
	d.ended = true
	d.mu.Unlock()
	d.events <- &sip.ByeEvent{}
	d.events <- &sip.TerminatedEvent{}
	close(d.events)
}

func (d *fakeDialog) ReInvite(_ context.Context, sdp []byte) ([]byte, error) {
	md, err := rtpmedia.ParseSDP(sdp)
	if err != nil {
		return nil, err
	}
	d.reinvs <- md.Direction
	d.mu.Lock()
	code := 200
	if len(d.reinv) > 0 {
		code, d.reinv = d.reinv[0], d.reinv[1:]
	}
	d.mu.Unlock()
	d.replies <- code
	if code != 200 {
		return nil, &sip.StatusError{Code: code, Retryable: code == 491}
	}
	return phoneSDP(md.Direction.Answer()), nil
}

func (d *fakeDialog) answerReinvites(codes ...int) {
	d.mu.Lock()
	d.reinv = append(d.reinv, codes...)
	d.mu.Unlock()
}

// offer sends a re-INVITE from the phone and returns the final code.
func (d *fakeDialog) offer(t *testing.T, dir rtpmedia.Direction) int {
	t.Helper()
	got := make(chan int, 1)
	d.events <- &sip.OfferEvent{SDP: phoneSDP(dir), Method: "INVITE", Respond: func(code int, _ []byte) error {
		got <- code
		return nil
	}}
	return wait(t, got, "the answer to the phone's re-INVITE")
}

// fakeInvite is the phone's INVITE of an outbound call.
type fakeInvite struct {
	offer    []byte
	srtp     string // the caller's SRTP policy (SRTP())
	secure   bool   // arrived over TLS (Secure())
	dlg      *fakeDialog
	answerEr error
	mu       sync.Mutex
	prov     chan int
	finals   chan int
	reasons  chan string
	answered chan struct{}
	done     chan struct{}
	once     sync.Once
}

func newFakeInvite() *fakeInvite {
	return &fakeInvite{offer: phoneSDP(rtpmedia.SendRecv), dlg: newFakeDialog("sip-out-1"), prov: make(chan int, 8),
		finals: make(chan int, 2), reasons: make(chan string, 2), answered: make(chan struct{}, 1), done: make(chan struct{})}
}

func (f *fakeInvite) CallID() string    { return "sip-out-1" }
func (f *fakeInvite) Offer() []byte     { return f.offer }
func (f *fakeInvite) SRTP() string      { return f.srtp }
func (f *fakeInvite) Secure() bool      { return f.secure }
func (f *fakeInvite) Transport() string { return "udp" }
func (f *fakeInvite) Progress(_ context.Context, code int, _ []byte) error {
	f.prov <- code
	return nil
}
func (f *fakeInvite) RejectWithReason(code int, reason string) error {
	f.finals <- code
	f.reasons <- reason
	f.close()
	return nil
}
func (f *fakeInvite) RejectWithWarning(code int, reason string, _ int, _ string) error {
	return f.RejectWithReason(code, reason)
}
func (f *fakeInvite) Reject(code int, reason string) error { return f.RejectWithReason(code, reason) }
func (f *fakeInvite) Answer(context.Context, []byte) (sipDialog, error) {
	if f.answerEr != nil {
		f.close()
		return nil, f.answerEr
	}
	f.finals <- 200
	f.close()
	return f.dlg, nil
}
func (f *fakeInvite) Done() <-chan struct{} { return f.done }
func (f *fakeInvite) Err() error            { return nil }
func (f *fakeInvite) close()                { f.once.Do(func() { close(f.done) }) }

// cancel is the phone's CANCEL (the sip package answers 487 itself).
func (f *fakeInvite) cancel() { f.close() }

// fakeFork is an inbound call's fork; the test is the phones.
type fakeFork struct {
	events  chan sip.ForkEvent
	mu      sync.Mutex
	over    bool
	cancels chan string
	dlg     *fakeDialog
	done    chan struct{}
}

func (f *fakeFork) Events() <-chan sip.ForkEvent { return f.events }
func (f *fakeFork) Done() <-chan struct{}        { return f.done }
func (f *fakeFork) Branches() []sip.BranchResult { return nil }
func (f *fakeFork) Dialog(*sip.AnsweredEvent) sipDialog {
	return f.dlg
}
func (f *fakeFork) Cancel(reason string) {
	f.mu.Lock()
	if f.over {
		f.mu.Unlock()
		return
	}
	f.over = true
	f.mu.Unlock()
	f.cancels <- reason
	f.events <- &sip.FailedEvent{Code: 487, Reason: "Request Terminated"}
	close(f.events)
	close(f.done)
}

// fail ends the fork without an answer (every phone refused, or the ring timeout).
func (f *fakeFork) fail(code int) {
	f.mu.Lock()
	f.over = true
	f.mu.Unlock()
	f.events <- &sip.FailedEvent{Code: code, Reason: "no"}
	close(f.events)
	close(f.done)
}

func (f *fakeFork) ring() { f.events <- &sip.ProgressEvent{Code: 180, Branch: "alice"} }

func (f *fakeFork) answer() {
	f.mu.Lock()
	f.over = true
	f.mu.Unlock()
	f.events <- &sip.AnsweredEvent{Branch: "alice", SDP: phoneSDP(rtpmedia.SendRecv)}
	close(f.done)
}

type fakeSIP struct {
	forks chan *fakeFork
	dials chan sip.DialRequest
}

func (s *fakeSIP) SetHandler(sip.Handler) {}
func (s *fakeSIP) Contacts(user string) []sip.Contact {
	return []sip.Contact{{AOR: "sip:" + user + "@ynagw", URI: "sip:" + user + "@127.0.0.1:5070", Transport: "udp"}}
}
func (s *fakeSIP) UserSRTP(string) string { return "" }
func (s *fakeSIP) Dial(_ context.Context, req sip.DialRequest) (sipFork, error) {
	f := &fakeFork{events: make(chan sip.ForkEvent, 8), cancels: make(chan string, 2), dlg: newFakeDialog("sip-in-1"), done: make(chan struct{})}
	s.dials <- req
	s.forks <- f
	return f, nil
}

// --- the clock ---

// fakeClock fires a timer when the test advances past it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	armed  chan time.Duration // every NewTimer's duration
}

type fakeTimer struct {
	at      time.Time
	c       chan time.Time
	stopped bool
	clk     *fakeClock
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) timer {
	c.mu.Lock()
	t := &fakeTimer{at: c.now.Add(d), c: make(chan time.Time, 1), clk: c}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	select {
	case c.armed <- d:
	default:
	}
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// advance moves the clock by d and fires the timers due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	now := c.now
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.c <- now
	}
}

// --- CDRs and the pending DELETE /end store ---

type unitCDRs struct {
	cdrs    chan CDR
	mu      sync.Mutex
	pending map[string]PendingEnd
	added   chan PendingEnd
	removed chan string
}

func (u *unitCDRs) Write(_ context.Context, c CDR) error { u.cdrs <- c; return nil }
func (u *unitCDRs) AddPendingEnd(_ context.Context, e PendingEnd) error {
	u.mu.Lock()
	u.pending[e.YNACallID] = e
	u.mu.Unlock()
	u.added <- e
	return nil
}
func (u *unitCDRs) RemovePendingEnd(_ context.Context, id string) error {
	u.mu.Lock()
	delete(u.pending, id)
	u.mu.Unlock()
	u.removed <- id
	return nil
}
func (u *unitCDRs) PendingEnds(context.Context) ([]PendingEnd, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []PendingEnd
	for _, e := range u.pending {
		out = append(out, e)
	}
	return out, nil
}

// --- the installation ---

type unit struct {
	t      *testing.T
	g      *Gateway
	y      *fakeYNA
	tok    *fakeTokens
	sip    *fakeSIP
	media  *fakeMedia
	clk    *fakeClock
	cdrs   *unitCDRs
	relays chan *fakeRelay
	legs   chan *fakeLeg // phone legs, as made
	cm     *countingMetrics
}

// newUnit builds a Gateway on fakes; mod may change its config.
func newUnit(t *testing.T, mod func(*Config)) *unit {
	t.Helper()
	u := &unit{t: t, y: newFakeYNA(), sip: &fakeSIP{forks: make(chan *fakeFork, 4), dials: make(chan sip.DialRequest, 4)},
		media: &fakeMedia{made: make(chan *fakeNet, 4)}, clk: &fakeClock{now: time.Unix(1_800_000_000, 0), armed: make(chan time.Duration, 64)},
		cdrs:   &unitCDRs{cdrs: make(chan CDR, 8), pending: map[string]PendingEnd{}, added: make(chan PendingEnd, 8), removed: make(chan string, 8)},
		relays: make(chan *fakeRelay, 4), legs: make(chan *fakeLeg, 4), cm: &countingMetrics{started: map[string]int{}, ended: map[string]int{}}}
	u.tok = &fakeTokens{tok: "tok1", y: u.y}
	cfg := Config{
		Lines: []LineConfig{{MSISDN: testLine, Ring: []string{"alice"}, Outbound: []string{"alice"}}},
		Media: MediaConfig{BindIP: netip.MustParseAddr("127.0.0.1")},
	}
	if mod != nil {
		mod(&cfg)
	}
	cfg.Init()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p := parts{sip: u.sip, api: &tokenAPI{c: u.y, tokens: u.tok, log: zaptest.NewLogger(t)}, clock: u.clk,
		newLeg: func(rtpmedia.LegConfig) (phoneLeg, error) {
			l := &fakeLeg{closed: make(chan struct{})}
			select {
			case u.legs <- l:
			default:
			}
			return l, nil
		},
		newRelay: func(phoneLeg, NetLeg, RelayParams, *zap.Logger) Relay {
			r := &fakeRelay{done: make(chan struct{}), changed: make(chan struct{}, 1)}
			u.relays <- r
			return r
		},
		jitter: func(d time.Duration) time.Duration { return d / 2 },
	}
	var err error
	u.g, err = newGateway(cfg, Deps{Media: u.media, Tokens: u.tok, CDR: u.cdrs, Metrics: u.cm, Logger: zaptest.NewLogger(t, zaptest.Level(testLogLevel))}, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := u.g.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		started, ended := u.cm.counts()
		for _, d := range []string{DirectionInbound, DirectionOutbound} {
			if started[d] != ended[d] {
				t.Errorf("%s calls: %d started, %d ended", d, started[d], ended[d])
			}
		}
	})
	return u
}

// note delivers a status notification of call id.
func (u *unit) note(id, status string, code int, sdp string, offer bool) {
	st := &yna.SessionStatus{Status: status, ResponseCode: yna.ResponseCode(code), SDP: sdp, CallObjectRef: "https://yna/sessions/" + id}
	if offer {
		st.Offer = &yna.Offer{}
	}
	u.g.dispatch(st)
}

func (u *unit) cdr() CDR { return wait(u.t, u.cdrs.cdrs, "CDR") }

// req waits for the next YNA request of op (skipping others).
func (u *unit) req(op string) ynaReq {
	u.t.Helper()
	deadline := time.After(unitWait)
	for {
		select {
		case r := <-u.y.reqs:
			if r.op == op {
				return r
			}
		case <-deadline:
			u.t.Fatalf("no YNA %s request; requests so far %v", op, u.y.ops())
		}
	}
}

func joinOps(ops []string) string { return strings.Join(ops, ",") }
