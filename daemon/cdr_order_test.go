package daemon

import (
	"context"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/store"
)

// orderStore is a real SQLite store that logs the order of the writes that reach it and
// holds (then fails, as a full disk would) the first UpdateCall until release closes.
type orderStore struct {
	store.Store
	mu       sync.Mutex
	writes   []string      // "open", "update", "close" as they reached the store
	entered  chan struct{} // closed when the first UpdateCall is in
	release  chan struct{}
	updates  int
	closeHit chan struct{} // closed when a CloseCall reached the store
	once     sync.Once
}

func (s *orderStore) log(w string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, w)
}

func (s *orderStore) OpenCall(ctx context.Context, c store.CDR) error {
	s.log("open")
	return s.Store.OpenCall(ctx, c)
}

func (s *orderStore) UpdateCall(ctx context.Context, c store.CDR) error {
	s.mu.Lock()
	s.updates++
	first := s.updates == 1
	s.mu.Unlock()
	if first {
		close(s.entered)
		<-s.release
		return &fsError{syscall.ENOSPC}
	}
	s.log("update")
	return s.Store.UpdateCall(ctx, c)
}

func (s *orderStore) CloseCall(ctx context.Context, id string, end store.CallEnd) error {
	s.log("close")
	s.once.Do(func() { close(s.closeHit) })
	return s.Store.CloseCall(ctx, id, end)
}

type fsError struct{ errno syscall.Errno }

func (e *fsError) Error() string { return "write: " + e.errno.Error() }
func (e *fsError) Unwrap() error { return e.errno }

// TestCDRWritesOfACallStayInOrder (issue 11): while a call's answer update is being tried
// (and then fails, to be queued), the call's end written meanwhile from another goroutine
// waits for it and queues behind it instead of reaching the store first; the store sees
// open, update, close and the row ends up closed with the answer.
func TestCDRWritesOfACallStayInOrder(t *testing.T) {
	ctx := ctxT(t, 20*time.Second)
	real := openStore(t, filepath.Join(t.TempDir(), "db"), testKey(t))
	defer real.Close()
	st := &orderStore{Store: real, entered: make(chan struct{}), release: make(chan struct{}), closeHit: make(chan struct{})}
	s := newCDRSink(st, zaptest.NewLogger(t))
	s.backoffMin, s.backoffMax = time.Millisecond, 10*time.Millisecond
	defer s.close()
	waited := make(chan struct{})
	var waitOnce sync.Once
	s.onWait = func(string) { waitOnce.Do(func() { close(waited) }) }

	now := time.Now()
	c := bridge.CDR{ID: "call-1", Direction: bridge.DirectionInbound, Line: tLine, SIPUser: "201", Peer: "12065550123", SetupAt: now}
	if err := s.Open(ctx, c); err != nil {
		t.Fatal(err)
	}
	answered := c
	answered.AnsweredAt = now.Add(time.Second)
	updated := make(chan error, 1)
	go func() { updated <- s.Update(ctx, answered) }()
	<-st.entered
	ended := answered
	ended.EndedAt, ended.Result, ended.EndReason = now.Add(5*time.Second), bridge.ResultAnswered, "caller hung up"
	closed := make(chan error, 1)
	go func() { closed <- s.Write(ctx, ended) }()
	select {
	case <-waited: // the end waits for the update's attempt
	case <-st.closeHit:
		t.Error("the call's end reached the store while its answer update was still being tried")
	case <-ctx.Done():
		t.Fatal("the end neither waited nor reached the store")
	}
	close(st.release)
	for _, ch := range []chan error{updated, closed} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if err := s.waitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	got := append([]string(nil), st.writes...)
	st.mu.Unlock()
	// Write's own UpdateCall at the end comes before its close.
	if len(got) < 3 || got[0] != "open" || got[1] != "update" || got[len(got)-1] != "close" {
		t.Errorf("store saw %v, want open, update, ..., close", got)
	}
	cs, err := real.CDRs(ctx, store.CDRFilter{})
	if err != nil || len(cs) != 1 || cs[0].Open() || cs[0].AnswerAt.IsZero() || cs[0].EndReason != "caller hung up" {
		t.Errorf("CDRs %+v %v", cs, err)
	}
}

// TestCDRQueueDropsWriteOfUnknownRow: a queued close whose row does not exist (its open
// was dropped) is dropped with an error log, not retried forever ahead of the others.
func TestCDRQueueDropsWriteOfUnknownRow(t *testing.T) {
	ctx := ctxT(t, 20*time.Second)
	st := openStore(t, filepath.Join(t.TempDir(), "db"), testKey(t))
	defer st.Close()
	s := newCDRSink(st, zaptest.NewLogger(t))
	s.backoffMin, s.backoffMax = time.Millisecond, 10*time.Millisecond
	defer s.close()
	now := time.Now()
	s.enqueue(cdrOp{close: &store.CallEnd{At: now, Result: bridge.ResultAnswered}, id: "never-opened"}, &fsError{syscall.ENOSPC})
	r := toStore("later", bridge.CDR{ID: "later", Direction: bridge.DirectionOutbound, Line: tLine, SIPUser: "201", Peer: "12065550123", SetupAt: now})
	s.enqueue(cdrOp{open: &r, id: "later"}, nil)
	if err := s.waitIdle(ctx); err != nil {
		t.Fatalf("queue stuck behind the close of an unknown row: %v", err)
	}
	if cs, err := st.CDRs(ctx, store.CDRFilter{}); err != nil || len(cs) != 1 || cs[0].ID != "later" {
		t.Errorf("CDRs %+v %v", cs, err)
	}
}
