package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/store"
	"go.uber.org/zap"
)

// cdrSink is the gateway's CDRSink and bridge.CallRecorder backed by the store.
//
// The store's durability contract wants a row at call setup (OpenCall), the YNA call id
// and the answer recorded before they matter (UpdateCall) and the end at the end
// (CloseCall). bridge calls Open at setup (before POST /start or the SIP fork), Update
// once the YNA call id is known and at the answer (before the 200 OK / POST /connected),
// and Write at the end. Rows are keyed by bridge.CDR.ID (the store id), so a crashed
// daemon's orphans carry the YNA call id recovery needs for DELETE /end.
//
// A write the store refuses for a reason other than the record itself (a full or
// read-only disk, a closed database) does not fail the call: it is queued in memory
// (bounded by maxQueue, newest dropped past that) and retried in order with backoff until
// it lands; while anything waits, health reports it (/readyz) and every failure counts in
// ynagw_store_errors_total{op="cdr"}.
type cdrSink struct {
	st   store.Store
	log  *zap.Logger
	node string // clustered mode: this node's id, recorded in every row it opens

	onStoreError           func(op string) // metrics; nil = none
	maxQueue               int
	backoffMin, backoffMax time.Duration

	mu   sync.Mutex
	open map[string]bool // store ids of the rows opened and not yet closed

	// turns serialise do per call id (turn): a later write of a call waits for an earlier
	// one still being tried directly, then finds it queued and queues behind it.
	omu    sync.Mutex
	turns  map[string]*cdrTurn
	onWait func(id string) // tests: a write waits for an earlier write of its call

	qmu     sync.Mutex
	q       []cdrOp       // writes waiting for the store, oldest first
	lastErr error         // why the head of q failed last
	dropped int           // records dropped because q was full
	running bool          // a retry goroutine runs
	idle    chan struct{} // closed (and replaced) when q empties
	stop    chan struct{} // closed by close
	done    sync.WaitGroup
}

// cdrOp is one queued store write: open and/or close of a row, or an update.
type cdrOp struct {
	open   *store.CDR
	update *store.CDR
	close  *store.CallEnd
	id     string
}

const (
	defaultCDRQueue   = 10000
	defaultBackoffMin = 100 * time.Millisecond
	defaultBackoffMax = 30 * time.Second
)

// errCDRsDropped: the retry queue was full and call records were lost.
var errCDRsDropped = errors.New("call records dropped (retry queue full)")

var (
	_ bridge.CDRSink      = (*cdrSink)(nil)
	_ bridge.CallRecorder = (*cdrSink)(nil)
	_ bridge.EndRecorder  = (*cdrSink)(nil)
)

func newCDRSink(st store.Store, log *zap.Logger) *cdrSink {
	return &cdrSink{st: st, log: log, open: map[string]bool{}, maxQueue: defaultCDRQueue,
		backoffMin: defaultBackoffMin, backoffMax: defaultBackoffMax,
		idle: make(chan struct{}), stop: make(chan struct{})}
}

// apply performs op on the store. Replays of a write that landed (row exists, already
// closed) count as done.
func (s *cdrSink) apply(ctx context.Context, op cdrOp) error {
	if op.open != nil {
		rec := *op.open
		if rec.Node == "" {
			rec.Node = s.node
		}
		if err := s.st.OpenCall(ctx, rec); err != nil && !errors.Is(err, store.ErrExists) {
			return err
		}
	}
	if op.update != nil {
		if err := s.st.UpdateCall(ctx, *op.update); err != nil {
			return err
		}
	}
	if op.close != nil {
		if err := s.st.CloseCall(ctx, op.id, *op.close); err != nil && !errors.Is(err, store.ErrAlreadyClosed) {
			return err
		}
	}
	return nil
}

// do writes op now, or queues it behind earlier writes still waiting; a write the store
// refuses for a reason other than the record (ErrInvalid, or ErrNotFound: no row to
// update or close) is queued. nil unless the record itself is refused. Writes of one call
// take turns, so one never overtakes an earlier one of the same call being tried.
func (s *cdrSink) do(ctx context.Context, op cdrOp) error {
	done := s.turn(op.id)
	defer done()
	s.qmu.Lock()
	waiting := len(s.q) > 0
	s.qmu.Unlock()
	if !waiting {
		err := s.apply(ctx, op)
		if err == nil || refused(err) {
			return err
		}
		s.storeError(err)
		s.enqueue(op, err)
		return nil
	}
	s.enqueue(op, nil)
	return nil
}

// refused: the store will never take the record (invalid, or its row does not exist);
// retrying cannot help.
func refused(err error) bool {
	return errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNotFound)
}

// turn waits until no other write of call id is in do and returns the function that
// ends this one's turn.
func (s *cdrSink) turn(id string) (done func()) {
	s.omu.Lock()
	if s.turns == nil {
		s.turns = map[string]*cdrTurn{}
	}
	t := s.turns[id]
	if t == nil {
		t = &cdrTurn{}
		s.turns[id] = t
	}
	t.n++
	busy := t.n > 1
	s.omu.Unlock()
	if busy && s.onWait != nil {
		s.onWait(id)
	}
	t.mu.Lock()
	return func() {
		t.mu.Unlock()
		s.omu.Lock()
		if t.n--; t.n == 0 {
			delete(s.turns, id)
		}
		s.omu.Unlock()
	}
}

func (s *cdrSink) storeError(err error) {
	if s.onStoreError != nil {
		s.onStoreError("cdr")
	}
	s.log.Warn("CDR write failed; queued for retry", zap.Error(err))
}

func (s *cdrSink) enqueue(op cdrOp, err error) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if err != nil {
		s.lastErr = err
	}
	if len(s.q) >= s.maxQueue {
		s.dropped++
		s.log.Error("CDR retry queue full: call record dropped", zap.String("id", op.id), zap.Int("queued", len(s.q)))
		return
	}
	s.q = append(s.q, op)
	if !s.running {
		select {
		case <-s.stop:
			return
		default:
		}
		s.running = true
		s.done.Add(1)
		go s.retry()
	}
}

// retry writes the queue's head until the queue is empty, backing off after failures.
func (s *cdrSink) retry() {
	defer s.done.Done()
	wait := s.backoffMin
	for {
		t := time.NewTimer(wait)
		select {
		case <-s.stop:
			t.Stop()
			s.qmu.Lock()
			s.running = false
			s.qmu.Unlock()
			return
		case <-t.C:
		}
		for {
			s.qmu.Lock()
			if len(s.q) == 0 {
				s.running, s.lastErr = false, nil
				close(s.idle)
				s.idle = make(chan struct{})
				s.qmu.Unlock()
				return
			}
			op := s.q[0]
			s.qmu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := s.apply(ctx, op)
			cancel()
			if err != nil && !refused(err) {
				s.qmu.Lock()
				s.lastErr = err
				s.qmu.Unlock()
				if s.onStoreError != nil {
					s.onStoreError("cdr")
				}
				wait = min(wait*2, s.backoffMax)
				break
			}
			if err != nil {
				s.log.Error("queued CDR refused; dropped", zap.String("id", op.id), zap.Error(err))
			}
			s.qmu.Lock()
			s.q = s.q[1:]
			s.qmu.Unlock()
			wait = s.backoffMin
		}
	}
}

// queued returns the writes waiting and the records dropped so far.
func (s *cdrSink) queued() (int, int) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.q), s.dropped
}

// health is nil while every call record landed; else why not (for /readyz).
func (s *cdrSink) health() error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	var errs []error
	if len(s.q) > 0 {
		errs = append(errs, fmt.Errorf("store: %d call records waiting to be written: %w", len(s.q), s.lastErr))
	}
	if s.dropped > 0 {
		errs = append(errs, fmt.Errorf("store: %d %w", s.dropped, errCDRsDropped))
	}
	return errors.Join(errs...)
}

// waitIdle returns once no write waits, or ctx's error.
func (s *cdrSink) waitIdle(ctx context.Context) error {
	for {
		s.qmu.Lock()
		n, idle := len(s.q), s.idle
		s.qmu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// close stops retrying (after one last attempt at the queue) and logs what is lost.
func (s *cdrSink) close() {
	s.qmu.Lock()
	select {
	case <-s.stop:
		s.qmu.Unlock()
		return
	default:
	}
	close(s.stop)
	s.qmu.Unlock()
	s.done.Wait()
	s.qmu.Lock()
	q := s.q
	s.q = nil
	s.qmu.Unlock()
	lost := 0
	for i, op := range q {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.apply(ctx, op)
		cancel()
		if err != nil {
			lost = len(q) - i
			s.log.Error("call records not written at shutdown", zap.Int("lost", lost), zap.Error(err))
			break
		}
	}
}

func (s *cdrSink) isOpen(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open[id]
}

func (s *cdrSink) setOpen(id string, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if open {
		s.open[id] = true
	} else {
		delete(s.open, id)
	}
}

// openCount returns the number of rows open.
func (s *cdrSink) openCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// cdrNoLine is the line of a call record for a call refused before a line was chosen.
const cdrNoLine = "none"

// toStore converts a bridge CDR (From/To follow the call's direction).
func toStore(id string, c bridge.CDR) store.CDR {
	r := store.CDR{ID: id, Direction: c.Direction, Line: c.Line, SIPCallID: c.SIPCallID, YNACallID: c.YNACallID,
		SetupAt: c.SetupAt, AnswerAt: c.AnsweredAt}
	if c.Direction == bridge.DirectionInbound {
		r.From, r.To = c.Peer, c.SIPUser
	} else {
		r.From, r.To = c.SIPUser, c.Peer
	}
	if r.Direction == "" {
		r.Direction = store.Outbound
	}
	if r.Line == "" {
		r.Line = cdrNoLine // refused before routing, e.g. an emergency number
	}
	return r
}

// Open implements bridge.CallRecorder: records a call at setup; it returns once the row
// is durable.
func (s *cdrSink) Open(ctx context.Context, c bridge.CDR) error {
	if c.ID == "" {
		return errors.New("daemon: open CDR: no call id")
	}
	if s.isOpen(c.ID) {
		return s.Update(ctx, c)
	}
	r := toStore(c.ID, c)
	if r.SetupAt.IsZero() {
		r.SetupAt = time.Now()
	}
	if err := s.do(ctx, cdrOp{open: &r, id: c.ID}); err != nil {
		return fmt.Errorf("daemon: open CDR: %w", err)
	}
	s.setOpen(c.ID, true)
	return nil
}

// Update implements bridge.CallRecorder: merges what is known now (YNA call id, answer
// time) into the open row.
func (s *cdrSink) Update(ctx context.Context, c bridge.CDR) error {
	if !s.isOpen(c.ID) {
		return s.Open(ctx, c)
	}
	r := toStore(c.ID, c)
	r.SetupAt = time.Time{}
	if c.AnsweredAt.IsZero() {
		r.AnswerAt = time.Time{}
	} else {
		r.SIPCode = 200
	}
	if err := s.do(ctx, cdrOp{update: &r, id: c.ID}); err != nil {
		return fmt.Errorf("daemon: update CDR: %w", err)
	}
	return nil
}

// Write implements bridge.CDRSink: the call ended. A call never opened (or a CDR without
// id) gets its row opened and closed in one go.
func (s *cdrSink) Write(ctx context.Context, c bridge.CDR) error {
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	var op cdrOp
	if !s.isOpen(c.ID) { // opened and closed in one write
		r := toStore(c.ID, c)
		if r.SetupAt.IsZero() {
			r.SetupAt = time.Now()
		}
		op.open = &r
	} else if err := s.Update(ctx, c); err != nil {
		s.log.Warn("CDR update at end", zap.Error(err))
	}
	defer s.setOpen(c.ID, false)
	code := c.SIPStatus
	if code == 0 && !c.AnsweredAt.IsZero() {
		code = 200
	}
	end := store.CallEnd{At: c.EndedAt, Result: c.Result, Reason: c.EndReason, SIPCode: code, Stats: store.Stats{
		PacketsSIPIn: c.SIPMedia.PacketsIn, PacketsSIPOut: c.SIPMedia.PacketsOut,
		PacketsNetIn: c.NetMedia.PacketsIn, PacketsNetOut: c.NetMedia.PacketsOut,
		LostSIP: nonNeg(c.SIPMedia.Lost), LostNet: nonNeg(c.NetMedia.Lost),
	}}
	op.close, op.id = &end, c.ID
	if err := s.do(ctx, op); err != nil {
		return fmt.Errorf("daemon: close CDR: %w", err)
	}
	return nil
}

func nonNeg(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// errNoPendingEnds: the store cannot keep pending DELETE /end requests.
var errNoPendingEnds = errors.New("daemon: the store keeps no pending DELETE /end requests")

func (s *cdrSink) pendingEnds() (store.PendingEnds, error) {
	p, ok := s.st.(store.PendingEnds)
	if !ok {
		return nil, errNoPendingEnds
	}
	return p, nil
}

// AddPendingEnd implements bridge.EndRecorder: a DELETE /end the network did not take,
// kept until it does so that a restart retries it.
func (s *cdrSink) AddPendingEnd(ctx context.Context, e bridge.PendingEnd) error {
	p, err := s.pendingEnds()
	if err != nil {
		return err
	}
	if err := p.AddPendingEnd(ctx, store.PendingEnd{YNACallID: e.YNACallID, Line: e.Line, CDRID: e.CDRID, Since: e.Since}); err != nil {
		if s.onStoreError != nil && !errors.Is(err, store.ErrInvalid) {
			s.onStoreError("pending_end")
		}
		return err
	}
	return nil
}

// RemovePendingEnd implements bridge.EndRecorder.
func (s *cdrSink) RemovePendingEnd(ctx context.Context, ynaCallID string) error {
	p, err := s.pendingEnds()
	if err != nil {
		return err
	}
	return p.RemovePendingEnd(ctx, ynaCallID)
}

// PendingEnds implements bridge.EndRecorder.
func (s *cdrSink) PendingEnds(ctx context.Context) ([]bridge.PendingEnd, error) {
	p, err := s.pendingEnds()
	if err != nil {
		return nil, err
	}
	es, err := p.ListPendingEnds(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]bridge.PendingEnd, 0, len(es))
	for _, e := range es {
		out = append(out, bridge.PendingEnd{YNACallID: e.YNACallID, Line: e.Line, CDRID: e.CDRID, Since: e.Since})
	}
	return out, nil
}

// cdrTurn is one call id's turn in do: its lock and how many writes hold or wait for it
// (the entry goes when that reaches 0).
type cdrTurn struct {
	mu sync.Mutex
	n  int
}
