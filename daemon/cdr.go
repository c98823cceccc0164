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

// cdrSink is the gateway's CDRSink backed by the store.
//
// The store's durability contract wants a row at call setup (OpenCall), the answer
// recorded before the 200 OK (UpdateCall) and the end at the end (CloseCall). bridge's
// CDRSink only has Write (at the end), so:
//   - Open is called by the daemon's INVITE wrapper for outbound calls (setup, SIP Call-ID
//     known) and can be called by bridge for any call once it offers a setup hook;
//   - Update records a YNA call id / the answer when bridge offers such a hook;
//   - Write closes the open row, or opens and closes it in one go.
//
// Rows are keyed by SIP Call-ID while open (bridge.CDR carries no id of its own).
type cdrSink struct {
	st  store.Store
	log *zap.Logger

	mu   sync.Mutex
	open map[string]string // key (sip:<Call-ID> or yna:<callId>) → store id
}

var _ bridge.CDRSink = (*cdrSink)(nil)

func newCDRSink(st store.Store, log *zap.Logger) *cdrSink {
	return &cdrSink{st: st, log: log, open: map[string]string{}}
}

func cdrKeys(c bridge.CDR) []string {
	var ks []string
	if c.SIPCallID != "" {
		ks = append(ks, "sip:"+c.SIPCallID)
	}
	if c.YNACallID != "" {
		ks = append(ks, "yna:"+c.YNACallID)
	}
	return ks
}

func (s *cdrSink) lookup(c bridge.CDR) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range cdrKeys(c) {
		if id, ok := s.open[k]; ok {
			return id, true
		}
	}
	return "", false
}

func (s *cdrSink) remember(c bridge.CDR, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range cdrKeys(c) {
		s.open[k] = id
	}
}

func (s *cdrSink) forget(c bridge.CDR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range cdrKeys(c) {
		delete(s.open, k)
	}
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

// Open records a call at setup; it returns once the row is durable.
func (s *cdrSink) Open(ctx context.Context, c bridge.CDR) error {
	if _, ok := s.lookup(c); ok {
		return s.Update(ctx, c)
	}
	id := uuid.NewString()
	r := toStore(id, c)
	if r.SetupAt.IsZero() {
		r.SetupAt = time.Now()
	}
	if err := s.st.OpenCall(ctx, r); err != nil {
		return fmt.Errorf("daemon: open CDR: %w", err)
	}
	s.remember(c, id)
	return nil
}

// Update merges what is known now (YNA call id, answer time) into the open row.
func (s *cdrSink) Update(ctx context.Context, c bridge.CDR) error {
	id, ok := s.lookup(c)
	if !ok {
		return s.Open(ctx, c)
	}
	s.remember(c, id) // a newly known YNA id becomes a key too
	r := toStore(id, c)
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

// Write implements bridge.CDRSink: the call ended.
func (s *cdrSink) Write(ctx context.Context, c bridge.CDR) error {
	id, ok := s.lookup(c)
	if !ok {
		if err := s.Open(ctx, c); err != nil {
			return err
		}
		id, _ = s.lookup(c)
	} else if err := s.Update(ctx, c); err != nil {
		s.log.Warn("CDR update at end", zap.Error(err))
	}
	defer s.forget(c)
	code := c.SIPStatus
	if code == 0 && !c.AnsweredAt.IsZero() {
		code = 200
	}
	end := store.CallEnd{At: c.EndedAt, Result: c.Result, Reason: c.EndReason, SIPCode: code, Stats: store.Stats{
		PacketsSIPIn: c.SIPMedia.PacketsIn, PacketsSIPOut: c.SIPMedia.PacketsOut,
		PacketsNetIn: c.NetMedia.PacketsIn, PacketsNetOut: c.NetMedia.PacketsOut,
		LostSIP: nonNeg(c.SIPMedia.Lost), LostNet: nonNeg(c.NetMedia.Lost),
	}}
	if err := s.st.CloseCall(ctx, id, end); err != nil && !errors.Is(err, store.ErrAlreadyClosed) {
		return fmt.Errorf("daemon: close CDR: %w", err)
	}
	return nil
}

// abandon closes a row opened at setup whose call never reached the gateway (the INVITE
// was refused before bridge saw it).
func (s *cdrSink) abandon(ctx context.Context, c bridge.CDR, result, reason string, code int) {
	id, ok := s.lookup(c)
	if !ok {
		return
	}
	s.forget(c)
	if err := s.st.CloseCall(ctx, id, store.CallEnd{Result: result, Reason: reason, SIPCode: code}); err != nil {
		s.log.Warn("close CDR", zap.Error(err))
	}
}

func nonNeg(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}
