package ynasim

// Calls part of the simulator: the calling REST API of fact sheet §7 (start, call status
// operations, end), the network's notifications for calls (§8, §9), scripted called-number
// behaviour, inbound call injection and network-side mid-call actions, and the /sim/calls
// control API (README.md, section Calls). One goroutine per call owns that call's state (call_state.go).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
	"go.uber.org/zap"
)

// callStore owns every simulated call of a Sim (outbound and inbound), the scripted
// behaviour per called number and the /sim/calls control API.
type callStore struct {
	s *Sim

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Seams to the rest of the simulator (set by newCallStore, replaced in unit tests).
	notify    func(acct *Account, typ string, v any, onAck func(msgID string)) string
	authorize func(w http.ResponseWriter, r *http.Request, endpoint string) (*Account, []byte, bool)
	byLine    func(msisdn string) *Account
	ackState  func(acct *Account, msgID string) string
	newFarEnd farEndFactory
	baseURL   func() string
	log       *zap.Logger

	startNotifyDelay time.Duration
	ringTimeout      time.Duration
	mediaTimeout     time.Duration
	retention        time.Duration    // ended calls are dropped this long after they ended
	history          int              // at most this many ended calls are kept
	now              func() time.Time // the Sim's clock (retention)

	notifID   atomic.Int64
	snapshots atomic.Uint64 // call snapshots taken (tests: waitCall's cost)

	mu         sync.Mutex
	calls      map[string]*call // live calls and the ended ones still retained
	order      []*call          // the same, oldest first
	ended      []*call          // retained ended calls, in the order they ended
	version    uint64           // incremented on every change of any call (call.ver)
	numbers    map[string]Behaviour
	acctCodecs map[string]CodecMode // account id -> codec behaviour
	quirks     CallQuirks
	feCfg      farend.Config
	changed    chan struct{} // closed and replaced when a call is added or changes
	closed     bool
}

// newCallStore creates the call store of s. Called by New.
func newCallStore(s *Sim) *callStore {
	ctx, cancel := context.WithCancel(context.Background())
	cs := &callStore{
		s:                s,
		ctx:              ctx,
		cancel:           cancel,
		startNotifyDelay: defaultStartNotifyDelay,
		ringTimeout:      defaultRingTimeout,
		mediaTimeout:     15 * time.Second,
		retention:        DefaultRetention,
		history:          DefaultCallHistory,
		now:              time.Now,
		calls:            map[string]*call{},
		numbers:          map[string]Behaviour{},
		acctCodecs:       map[string]CodecMode{},
		changed:          make(chan struct{}),
		feCfg:            defaultFarEndConfig(),
		baseURL:          func() string { return defaultCallBaseURL },
	}
	cs.newFarEnd = cs.realFarEnd
	// Inert defaults; a Sim replaces them (unit tests install fakes).
	cs.notify = func(*Account, string, any, func(string)) string { return "" }
	cs.byLine = func(string) *Account { return nil }
	cs.authorize = func(w http.ResponseWriter, _ *http.Request, _ string) (*Account, []byte, bool) {
		writeError(w, http.StatusServiceUnavailable, "no simulator")
		return nil, nil, false
	}
	if s != nil {
		cs.notify = s.hub.notifyAck
		cs.authorize = s.authorize
		cs.retention, cs.history, cs.now = s.cfg.Retention, s.cfg.CallHistory, s.now
		cs.byLine = s.accountByLine
		cs.wireSim(s)
	}
	return cs
}

// defaultCallBaseURL prefixes callObjectRef when the simulator's own URL is unknown.
// guess: fact sheet §11 (only the last path segment matters to clients).
const defaultCallBaseURL = "https://naas.t-mobile.com"

func (cs *callStore) logger() *zap.Logger {
	if cs.log != nil {
		return cs.log
	}
	if cs.s != nil && cs.s.log != nil {
		return cs.s.log.Named("calls")
	}
	return zap.NewNop()
}

func (cs *callStore) ackStateOf(acct *Account, msgID string) string {
	if msgID == "" {
		return "unsent"
	}
	if cs.ackState == nil {
		return "unknown"
	}
	return cs.ackState(acct, msgID)
}

func (cs *callStore) nextNotificationID() int64 { return cs.notifID.Add(1) }

// routes registers the calling REST endpoints and the /sim/calls control API.
func (cs *callStore) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+yna.PathCall+"/"+yna.OpStart, cs.handleStart)
	for _, op := range yna.CallOps {
		method := http.MethodPost
		if op == yna.OpEnd {
			method = http.MethodDelete
		}
		mux.HandleFunc(method+" "+yna.PathCall+"/"+op+"/{callId}", cs.handleOp(op))
	}
	cs.controlRoutes(mux)
}

// close ends every call (without notifications) and waits for their goroutines.
func (cs *callStore) close() {
	cs.mu.Lock()
	cs.closed = true
	cs.mu.Unlock()
	cs.cancel()
	cs.wg.Wait()
}

func (cs *callStore) getQuirks() CallQuirks {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.quirks
}

func (cs *callStore) setQuirks(q CallQuirks) {
	cs.mu.Lock()
	cs.quirks = q
	cs.mu.Unlock()
}

func (cs *callStore) behaviourFor(number string) Behaviour {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if b, ok := cs.numbers[numberKey(number)]; ok {
		return b
	}
	return Behaviour{Kind: BehaviourAnswer}
}

func (cs *callStore) setBehaviour(number string, b Behaviour) error {
	key := numberKey(number)
	if key == "" {
		return fmt.Errorf("%w: bad number %q", ErrBadAction, number)
	}
	if b.Kind == "" {
		b.Kind = BehaviourAnswer
	}
	if err := b.validate(); err != nil {
		return err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if b == (Behaviour{Kind: BehaviourAnswer}) {
		delete(cs.numbers, key)
	} else {
		cs.numbers[key] = b
	}
	return nil
}

// codecsFor resolves the codec behaviour of a call: explicit (an injected call's), else the
// remote number's, else the account's, else CodecsBrowser.
func (cs *callStore) codecsFor(acct *Account, number string, explicit CodecMode) CodecMode {
	if explicit != "" {
		return explicit
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if b, ok := cs.numbers[numberKey(number)]; ok && b.Codecs != "" {
		return b.Codecs
	}
	if m := cs.acctCodecs[acct.ID]; m != "" {
		return m
	}
	return CodecsBrowser
}

// setAccountCodecs sets an account's codec behaviour ("" = back to CodecsBrowser).
func (cs *callStore) setAccountCodecs(accountID string, m CodecMode) error {
	if err := m.validate(); err != nil {
		return err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if m == "" || m == CodecsBrowser {
		delete(cs.acctCodecs, accountID)
	} else {
		cs.acctCodecs[accountID] = m
	}
	return nil
}

func (cs *callStore) accountCodecs(accountID string) CodecMode {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if m := cs.acctCodecs[accountID]; m != "" {
		return m
	}
	return CodecsBrowser
}

func (cs *callStore) behaviours() map[string]Behaviour {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := make(map[string]Behaviour, len(cs.numbers))
	for k, v := range cs.numbers {
		out[k] = v
	}
	return out
}

// add registers c and starts its goroutine; false if the store is closed.
func (cs *callStore) add(c *call) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		c.cancel()
		return false
	}
	cs.pruneLocked(cs.now())
	cs.calls[c.id] = c
	cs.order = append(cs.order, c)
	cs.version++
	c.ver = cs.version
	close(cs.changed)
	cs.changed = make(chan struct{})
	cs.wg.Add(1)
	go c.run()
	return true
}

// retire records that c ended (its goroutine is about to exit) and drops what the retention
// no longer keeps.
func (cs *callStore) retire(c *call) {
	now := cs.now()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c.endedAt = now
	cs.ended = append(cs.ended, c)
	cs.pruneLocked(now)
}

// pruneLocked drops ended calls beyond cs.history and those that ended cs.retention ago or
// more. Caller holds cs.mu.
func (cs *callStore) pruneLocked(now time.Time) {
	n := 0
	for n < len(cs.ended) && (len(cs.ended)-n > cs.history || now.Sub(cs.ended[n].endedAt) >= cs.retention) {
		c := cs.ended[n]
		delete(cs.calls, c.id)
		c.dropped = true
		n++
	}
	if n == 0 {
		return
	}
	cs.ended = append([]*call(nil), cs.ended[n:]...)
	order := make([]*call, 0, len(cs.order)-n)
	for _, c := range cs.order {
		if !c.dropped {
			order = append(order, c)
		}
	}
	cs.order = order
}

func (cs *callStore) get(id string) *call {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.pruneLocked(cs.now())
	return cs.calls[id]
}

func (cs *callStore) list() []CallInfo {
	cs.mu.Lock()
	cs.pruneLocked(cs.now())
	calls := append([]*call(nil), cs.order...)
	cs.mu.Unlock()
	out := make([]CallInfo, 0, len(calls))
	for _, c := range calls {
		out = append(out, c.snapshot())
	}
	return out
}

// bump records that c changed and wakes waitCall waiters.
func (cs *callStore) bump(c *call) {
	cs.mu.Lock()
	cs.version++
	c.ver = cs.version
	close(cs.changed)
	cs.changed = make(chan struct{})
	cs.mu.Unlock()
}

func (cs *callStore) waitState(ctx context.Context, id, state string) error {
	c := cs.get(id)
	if c == nil {
		return fmt.Errorf("%w: %s", ErrCallNotFound, id)
	}
	return c.waitState(ctx, state)
}

// waitCall returns the id of the first call satisfying match. Each round snapshots only the
// calls that changed since the previous round (call.ver), not every retained call.
func (cs *callStore) waitCall(ctx context.Context, match func(CallInfo) bool) (string, error) {
	var seen uint64
	for {
		cs.mu.Lock()
		var calls []*call
		for _, c := range cs.order {
			if c.ver > seen {
				calls = append(calls, c)
			}
		}
		ver, ch := cs.version, cs.changed
		cs.mu.Unlock()
		seen = ver
		for _, c := range calls {
			if ci := c.snapshot(); match(ci) {
				return ci.ID, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// newCallID returns a fresh call id: 84 upper-case hex characters (fact sheet §11).
func newCallID() string {
	b := make([]byte, 42)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

func (cs *callStore) callObjectRef(line, id string) string {
	// guess: fact sheet §11 — <base>/cpaas/v1/call/<user>/sessions/<callId>.
	return strings.TrimRight(cs.baseURL(), "/") + yna.PathCall + "/" + line + "/sessions/" + id
}

var (
	reLine      = regexp.MustCompile(`^1[2-9]\d{2}[2-9]\d{6}$`)
	reIntl      = regexp.MustCompile(`^\+\d{11,15}$`)
	reDigits    = regexp.MustCompile(`^\d{1,20}$`)
	reTenDigits = regexp.MustCompile(`^\d{10}$`)
)

// nanpLine returns a NANP number as 1+10 digits, or "" (accepts +, tel:, 10 digits).
func nanpLine(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "tel:")
	s = strings.TrimPrefix(s, "+")
	if reTenDigits.MatchString(s) {
		s = "1" + s
	}
	if reLine.MatchString(s) {
		return s
	}
	return ""
}

// validTo reports whether to is in a form the SDK's normalization produces (fact sheet §10.4).
func validTo(to string) bool {
	return reLine.MatchString(to) || reIntl.MatchString(to) || reDigits.MatchString(to)
}

// emergencyNumbers are blocked (fact sheet §10.4; the SDK blocks them locally).
var emergencyNumbers = map[string]bool{"911": true, "912": true, "922": true, "112": true,
	"1911": true, "1912": true, "1112": true, "0911": true, "0912": true, "0112": true,
	"00911": true, "00912": true, "00112": true}

// numberKey is the lookup key of a called number: digits only, NANP 10 digits get a 1.
func numberKey(n string) string {
	if l := nanpLine(n); l != "" {
		return l
	}
	var b strings.Builder
	for _, r := range n {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// telURI renders a number as tel:+<digits> (fact sheet §8.1, §14 item 8).
func telURI(n string) string {
	if n == "anonymous" {
		return "sip:anonymous@anonymous.invalid"
	}
	return "tel:+" + strings.TrimPrefix(n, "+")
}

func (a *Account) hasLine(line string) bool {
	for _, l := range a.Lines {
		if l == line || nanpLine(l) == line {
			return true
		}
	}
	return false
}

// handleStart is POST /cpaas/v1/call/start.
func (cs *callStore) handleStart(w http.ResponseWriter, r *http.Request) {
	acct, body, ok := cs.authorize(w, r, yna.OpStart)
	if !ok {
		return
	}
	req, status, msg := parseStart(body)
	if status == 0 && !acct.hasLine(req.From) {
		status, msg = http.StatusForbidden, "from is not a line of this account"
	}
	if status != 0 {
		cs.logger().Info("start rejected", zap.Int("status", status), zap.String("reason", msg))
		writeError(w, status, msg)
		return
	}
	id := newCallID()
	c := newCall(cs, acct, CallInfo{
		ID: id, Direction: DirectionOutbound, Line: req.From, Peer: req.To,
		CallObjectRef:    cs.callObjectRef(req.From, id),
		ClientCorrelator: req.ClientCorrelator,
		Behaviour:        cs.behaviourFor(req.To),
		Codecs:           cs.codecsFor(acct, req.To, ""),
	})
	c.offer = req.SDP
	c.ringTimeout = cs.ringTimeout
	c.info.Events = append(c.info.Events, CallEvent{At: time.Now(), Kind: "rest", Name: yna.OpStart, HTTPStatus: http.StatusCreated, SDP: true})
	if !cs.add(c) {
		writeError(w, http.StatusServiceUnavailable, "simulator closing")
		return
	}
	writeJSON(w, http.StatusCreated, yna.StartResponse{To: req.To, From: req.From, CallID: id, ClientCorrelator: req.ClientCorrelator})
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	c.runThen(c.startScript) // fact sheet §18.1: notifications only after the response
}

// parseStart validates a CallStartRequest; status is 0 when valid.
func parseStart(body []byte) (req yna.StartRequest, status int, msg string) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return req, http.StatusBadRequest, "body is not a JSON object"
	}
	fields := map[string]*string{"from": &req.From, "to": &req.To, "sdp": &req.SDP, "clientCorrelator": &req.ClientCorrelator}
	for _, name := range []string{"from", "to", "sdp", "clientCorrelator"} {
		raw, ok := m[name]
		if !ok {
			return req, http.StatusBadRequest, "Schema validation failed: " + name + " is required"
		}
		if err := json.Unmarshal(raw, fields[name]); err != nil {
			return req, http.StatusBadRequest, "Schema validation failed: " + name + " must be a string"
		}
	}
	switch {
	case !reLine.MatchString(req.From):
		return req, http.StatusBadRequest, "from must be a line in the form 1NXXNXXXXXX"
	case req.To == "":
		return req, http.StatusBadRequest, "to is required"
	case emergencyNumbers[strings.TrimPrefix(req.To, "+")]:
		return req, http.StatusForbidden, "Emergency Calls Not Supported"
	case !validTo(req.To):
		return req, http.StatusBadRequest, "to must be 1NXXNXXXXXX, +<11-15 digits> or up to 20 digits"
	case strings.TrimSpace(req.ClientCorrelator) == "":
		return req, http.StatusBadRequest, "clientCorrelator is required"
	}
	if _, err := requireDirection(req.SDP, dirSendRecv, dirSendOnly, dirRecvOnly); err != nil {
		return req, http.StatusBadRequest, "sdp: " + err.Error()
	}
	return req, 0, ""
}

// handleOp serves POST /cpaas/v1/call/<op>/{callId} and DELETE /cpaas/v1/call/end/{callId}.
func (cs *callStore) handleOp(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		acct, body, ok := cs.authorize(w, r, op)
		if !ok {
			return
		}
		id := r.PathValue("callId")
		c := cs.get(id)
		if c == nil || c.acct.ID != acct.ID {
			writeError(w, http.StatusNotFound, "Entity does not exist")
			return
		}
		rep, ok := c.post(r.Context(), callEvent{kind: evREST, op: op, body: body, hdr: r.Header.Clone()})
		if !ok {
			writeError(w, http.StatusNotFound, "call has ended")
			return
		}
		if !rep.ok() {
			writeError(w, rep.status, rep.msg)
			return
		}
		writeJSON(w, rep.status, rep.body)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		if rep.written != nil {
			close(rep.written)
		}
	}
}

// inject creates an inbound call and sends its invitation.
func (cs *callStore) inject(ctx context.Context, in InboundCall) (string, error) {
	line := nanpLine(in.Line)
	if line == "" {
		return "", fmt.Errorf("%w: line %q is not 1NXXNXXXXXX", ErrBadAction, in.Line)
	}
	from := in.From
	if from != "anonymous" {
		from = numberKey(in.From)
		if from == "" {
			return "", fmt.Errorf("%w: bad from %q", ErrBadAction, in.From)
		}
	}
	acct := cs.byLine(line)
	if acct == nil {
		return "", fmt.Errorf("%w: %s", ErrNoAccount, line)
	}
	if err := in.Codecs.validate(); err != nil {
		return "", err
	}
	id := newCallID()
	c := newCall(cs, acct, CallInfo{
		ID: id, Direction: DirectionInbound, Line: line, Peer: from,
		CallObjectRef:    cs.callObjectRef(line, id),
		ServerCorrelator: uuid.NewString(),
		Codecs:           cs.codecsFor(acct, from, in.Codecs),
	})
	c.ringTimeout = cs.ringTimeout
	if in.RingTimeoutMs > 0 {
		c.ringTimeout = time.Duration(in.RingTimeoutMs) * time.Millisecond
	}
	if in.RingTimeout > 0 {
		c.ringTimeout = in.RingTimeout
	}
	c.originatorName = in.Name
	c.verification = in.VerificationStatus
	if c.verification == "" {
		c.verification = defaultVerificationStatus
	}
	if !cs.add(c) {
		return "", fmt.Errorf("%w: simulator closed", ErrCallEnded)
	}
	r, ok := c.post(ctx, callEvent{kind: evInvite})
	if !ok {
		if err := ctx.Err(); err != nil {
			return id, err
		}
		return id, fmt.Errorf("%w: %s", ErrCallEnded, id)
	}
	if !r.ok() {
		return id, replyError(r)
	}
	return id, nil
}
