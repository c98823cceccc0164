package bridge

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// PendingEnd is a DELETE /end the network has not taken yet.
type PendingEnd struct {
	Line      string
	YNACallID string
	CDRID     string // the call's CDR.ID ("" for a call a crash left open)
	Since     time.Time
}

// EndRecorder is an optional CDRSink extension that keeps failed DELETE /end requests
// durable: the gateway adds one when DELETE /end fails, removes it once the network took
// it (or said it does not know the call, 404), and at Start retries every one a previous
// run left. Without it the retries live in memory only.
type EndRecorder interface {
	AddPendingEnd(ctx context.Context, e PendingEnd) error
	RemovePendingEnd(ctx context.Context, ynaCallID string) error
	PendingEnds(ctx context.Context) ([]PendingEnd, error)
}

// endBackoff paces the retries of one DELETE /end.
var endBackoff = yna.Backoff{Min: time.Second, Max: 5 * time.Minute}

// endRetrier retries failed DELETE /end requests with backoff until they go through (or
// the network answers 404), one goroutine per call; Close stops the goroutines and
// leaves what is left in the EndRecorder for the next start.
type endRetrier struct {
	g  *Gateway
	mu sync.Mutex
	on map[string]bool // YNA callIds being retried
}

// add starts retrying e; record stores it first (false when it came from the store).
func (r *endRetrier) add(e PendingEnd, record bool) {
	r.mu.Lock()
	if r.on == nil {
		r.on = map[string]bool{}
	}
	if r.on[e.YNACallID] {
		r.mu.Unlock()
		return
	}
	r.on[e.YNACallID] = true
	r.mu.Unlock()
	rec, _ := r.g.cdr.(EndRecorder)
	if rec != nil && record {
		ctx, cancel := context.WithTimeout(context.Background(), r.g.cfg.Timers.DrainTimeout)
		if err := rec.AddPendingEnd(ctx, e); err != nil {
			r.g.log.Warn("cannot store the pending DELETE /end; retrying from memory only", zap.String("yna_call_id", e.YNACallID), zap.Error(err))
		}
		cancel()
	}
	if !r.g.goOwned(func() { r.run(e, rec) }) {
		r.done(e.YNACallID)
	}
}

// RetryEnd stores e (EndRecorder) and retries its DELETE /end with backoff until the
// network takes it or does not know the call, like a failed end of the gateway's own
// calls (clustered mode: the orphaned calls of a node that stopped).
func (g *Gateway) RetryEnd(e PendingEnd) { g.ends.add(e, true) }

func (r *endRetrier) done(id string) {
	r.mu.Lock()
	delete(r.on, id)
	r.mu.Unlock()
}

// pending reports the callIds being retried.
func (r *endRetrier) pending() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.on))
	for id := range r.on {
		out = append(out, id)
	}
	return out
}

// run retries e until the network took it, knows nothing of it, or the gateway closes.
func (r *endRetrier) run(e PendingEnd, rec EndRecorder) {
	defer r.done(e.YNACallID)
	log := r.g.log.With(zap.String("line", e.Line), zap.String("yna_call_id", e.YNACallID))
	for attempt := 0; ; attempt++ {
		t := r.g.clock.NewTimer(endBackoff.Delay(attempt))
		select {
		case <-r.g.ctx.Done():
			t.Stop()
			return // kept in the store: the next start retries it
		case <-t.C():
		}
		ctx, cancel := context.WithTimeout(r.g.ctx, r.g.cfg.Timers.RESTTimeout)
		err := r.g.parts.api.End(ctx, e.Line, e.YNACallID)
		cancel()
		if err != nil && !errors.Is(err, yna.ErrNotFound) {
			if r.g.ctx.Err() == nil {
				log.Info("DELETE /end failed again", zap.Int("attempt", attempt+1), zap.Error(err))
			}
			continue
		}
		log.Info("pending DELETE /end done", zap.Bool("network_knew_the_call", err == nil), zap.Int("attempts", attempt+1))
		if rec != nil {
			ctx, cancel := context.WithTimeout(context.Background(), r.g.cfg.Timers.DrainTimeout)
			if err := rec.RemovePendingEnd(ctx, e.YNACallID); err != nil {
				log.Warn("cannot remove the done DELETE /end from the store", zap.Error(err))
			}
			cancel()
		}
		return
	}
}

// resume retries the DELETE /end requests a previous run left in the store.
func (r *endRetrier) resume(ctx context.Context) {
	rec, ok := r.g.cdr.(EndRecorder)
	if !ok {
		return
	}
	es, err := rec.PendingEnds(ctx)
	if err != nil {
		r.g.log.Warn("cannot read the pending DELETE /end requests", zap.Error(err))
		return
	}
	for _, e := range es {
		r.add(e, false)
	}
	if len(es) > 0 {
		r.g.log.Info("retrying DELETE /end requests left by the previous run", zap.Int("calls", len(es)))
	}
}
