package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// ErrNeedsRelink is returned for a line whose tokens can no longer be refreshed.
var ErrNeedsRelink = errors.New("daemon: line needs to be relinked")

// tokenStore is the gateway's TokenSource backed by the store: an in-memory copy of every
// line's tokens (loaded at start, written through on link and refresh) plus the refresher
// that renews access tokens before they expire.
type tokenStore struct {
	st       store.Store
	yc       *yna.Client
	log      *zap.Logger
	before   time.Duration
	onExp    func(line string, at time.Time) // metrics: token expiry
	onRelink func(line string, needs bool)   // metrics: the line needs a relink (true) or is linked (false)
	onFail   func(line string)               // the line needs a relink (stop its channel)

	mu    sync.Mutex
	lines map[string]store.Line
}

var (
	_ bridge.TokenSource = (*tokenStore)(nil)
	_ bridge.TokenSetter = (*tokenStore)(nil)
)

func (t *tokenStore) load(ctx context.Context) ([]store.Line, error) {
	ls, err := t.st.Lines(ctx)
	if err != nil {
		return nil, fmt.Errorf("daemon: load lines: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = map[string]store.Line{}
	for _, l := range ls {
		t.lines[l.MSISDN] = l
		if t.onExp != nil && !l.ExpiresAt.IsZero() {
			t.onExp(l.MSISDN, l.ExpiresAt)
		}
		t.relinkState(l.MSISDN, l.State == store.LineNeedsRelink)
	}
	return ls, nil
}

// AccessToken implements bridge.TokenSource.
func (t *tokenStore) AccessToken(_ context.Context, line string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.lines[line]
	switch {
	case !ok || l.AccessToken == "" || l.State == store.LineUnlinked:
		return "", bridge.ErrNoToken
	case l.State == store.LineNeedsRelink:
		return "", fmt.Errorf("%w: %s", ErrNeedsRelink, line)
	}
	return l.AccessToken, nil
}

// SetToken implements bridge.TokenSetter. The store row is written by whoever obtained
// the token (link completion); here only the cache follows. "" forgets the line.
func (t *tokenStore) SetToken(line, token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if token == "" {
		delete(t.lines, line)
		return
	}
	if t.lines == nil {
		t.lines = map[string]store.Line{}
	}
	l := t.lines[line]
	l.MSISDN, l.AccessToken, l.State = line, token, store.LineLinked
	t.lines[line] = l
	t.relinkState(line, false)
}

// relinkState reports to onRelink (if set) whether line needs a relink.
func (t *tokenStore) relinkState(line string, needs bool) {
	if t.onRelink != nil {
		t.onRelink(line, needs)
	}
}

// put stores a freshly obtained token set and caches it.
func (t *tokenStore) put(ctx context.Context, l store.Line) error {
	if err := t.st.PutLine(ctx, l); err != nil {
		return err
	}
	t.mu.Lock()
	if t.lines == nil {
		t.lines = map[string]store.Line{}
	}
	t.lines[l.MSISDN] = l
	t.mu.Unlock()
	if t.onExp != nil && !l.ExpiresAt.IsZero() {
		t.onExp(l.MSISDN, l.ExpiresAt)
	}
	t.relinkState(l.MSISDN, l.State == store.LineNeedsRelink) // linked or refreshed: 0
	return nil
}

func (t *tokenStore) get(line string) (store.Line, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.lines[line]
	return l, ok
}

// due returns the linked lines whose access token expires within t.before.
func (t *tokenStore) due(now time.Time) []store.Line {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []store.Line
	for _, l := range t.lines {
		if l.State == store.LineLinked && !l.ExpiresAt.IsZero() && l.ExpiresAt.Sub(now) < t.before {
			out = append(out, l)
		}
	}
	return out
}

// refreshLoop renews due tokens every period until ctx ends.
func (t *tokenStore) refreshLoop(ctx context.Context, period time.Duration) {
	tk := time.NewTicker(period)
	defer tk.Stop()
	for {
		t.refreshDue(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

// refreshDue refreshes every due line. A refusal (or a token that has expired with no way
// to refresh it) marks the line needs_relink; a transient failure is retried next round.
func (t *tokenStore) refreshDue(ctx context.Context, now time.Time) {
	for _, l := range t.due(now) {
		if ctx.Err() != nil {
			return
		}
		err := t.refresh(ctx, l)
		if err == nil {
			continue
		}
		expired := !now.Before(l.ExpiresAt)
		if yna.IsRetryable(err) && !expired {
			t.log.Warn("token refresh failed; will retry", zap.String("line", l.MSISDN), zap.Error(err))
			continue
		}
		t.markRelink(ctx, l.MSISDN, "token refresh failed: "+err.Error())
	}
}

func (t *tokenStore) refresh(ctx context.Context, l store.Line) error {
	if l.RefreshToken == "" {
		return errors.New("no refresh token")
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tr, err := t.yc.RefreshToken(rctx, l.RefreshToken)
	if err != nil {
		return err
	}
	l.AccessToken = tr.AccessToken
	if tr.RefreshToken != "" {
		l.RefreshToken = tr.RefreshToken
	}
	l.ExpiresAt = time.Now().Add(tr.Lifetime())
	l.State, l.Reason, l.UpdatedAt = store.LineLinked, "", time.Time{}
	if err := t.put(rctx, l); err != nil {
		return fmt.Errorf("store refreshed token: %w", err)
	}
	t.log.Info("access token refreshed", zap.String("line", l.MSISDN), zap.Time("expires_at", l.ExpiresAt))
	return nil
}

// markRelink records that the line needs a relink; the other lines are unaffected.
func (t *tokenStore) markRelink(ctx context.Context, line, reason string) {
	t.log.Error("line needs relink", zap.String("line", line), zap.String("reason", reason))
	if err := t.st.MarkNeedsRelink(ctx, line, reason); err != nil {
		t.log.Warn("mark needs_relink", zap.String("line", line), zap.Error(err))
	}
	t.mu.Lock()
	if l, ok := t.lines[line]; ok {
		l.State, l.Reason = store.LineNeedsRelink, reason
		t.lines[line] = l
	}
	t.mu.Unlock()
	t.relinkState(line, true)
	if t.onFail != nil {
		t.onFail(line)
	}
}
