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
type cdrSink struct {
	st  store.Store
	log *zap.Logger

	mu   sync.Mutex
	open map[string]bool // store ids of the rows opened and not yet closed
}

var (
	_ bridge.CDRSink      = (*cdrSink)(nil)
	_ bridge.CallRecorder = (*cdrSink)(nil)
	_ bridge.EndRecorder  = (*cdrSink)(nil)
)

func newCDRSink(st store.Store, log *zap.Logger) *cdrSink {
	return &cdrSink{st: st, log: log, open: map[string]bool{}}
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
	if err := s.st.OpenCall(ctx, r); err != nil {
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
	if err := s.st.UpdateCall(ctx, r); err != nil {
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
	if !s.isOpen(c.ID) {
		if err := s.Open(ctx, c); err != nil {
			return err
		}
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
	if err := s.st.CloseCall(ctx, c.ID, end); err != nil && !errors.Is(err, store.ErrAlreadyClosed) {
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
	return p.AddPendingEnd(ctx, store.PendingEnd{YNACallID: e.YNACallID, Line: e.Line, CDRID: e.CDRID, Since: e.Since})
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
