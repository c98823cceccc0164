package daemon

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
	// Clustered mode (tokens_cluster.go): owns says whether this node holds the line's
	// lease (only the holder refreshes); reload reads a line from the shared store.
	owns   func(line string) bool
	reload func(ctx context.Context, line string) (store.Line, error)

	mu       sync.Mutex
	lines    map[string]store.Line
	locks    map[string]*sync.Mutex // one refresh at a time per line
	relinked map[string]string      // lines marked needs_relink by this run, with the reason
}

var (
	_ bridge.TokenSource    = (*tokenStore)(nil)
	_ bridge.TokenSetter    = (*tokenStore)(nil)
	_ bridge.TokenRefresher = (*tokenStore)(nil)
)

// lineLock is the lock serialising the refreshes of line.
func (t *tokenStore) lineLock(line string) *sync.Mutex {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.locks == nil {
		t.locks = map[string]*sync.Mutex{}
	}
	if t.locks[line] == nil {
		t.locks[line] = &sync.Mutex{}
	}
	return t.locks[line]
}

// RefreshAccessToken implements bridge.TokenRefresher: the network refused the token
// refused of line (401), so it is refreshed now, once: calls that saw the same token
// refused wait for that one refresh and get its token; a caller whose refused token is
// no longer the current one gets the current one. The error of a refused refresh is
// returned as is (the gateway then calls MarkNeedsRelink).
func (t *tokenStore) RefreshAccessToken(ctx context.Context, line, refused string) (string, error) {
	mu := t.lineLock(line)
	mu.Lock()
	defer mu.Unlock()
	l, ok := t.get(line)
	switch {
	case !ok || l.AccessToken == "" || l.State == store.LineUnlinked:
		return "", bridge.ErrNoToken
	case l.State == store.LineNeedsRelink:
		return "", fmt.Errorf("%w: %s", ErrNeedsRelink, line)
	case l.AccessToken != refused:
		return l.AccessToken, nil
	}
	if tok := t.reloadRefused(ctx, line, refused); tok != "" {
		return tok, nil // another node refreshed it
	}
	t.log.Info("YNA refused the access token; refreshing it", zap.String("line", line))
	if err := t.refresh(ctx, l); err != nil {
		return "", fmt.Errorf("daemon: refresh the token of %s: %w", line, err)
	}
	l, _ = t.get(line)
	return l.AccessToken, nil
}

// MarkNeedsRelink implements bridge.TokenRefresher: the line cannot get a token the
// network takes.
func (t *tokenStore) MarkNeedsRelink(ctx context.Context, line, reason string) {
	t.markRelink(ctx, line, reason)
}

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
	delete(t.relinked, line)
	t.relinkState(line, false)
}

// relinkNotes names the lines this run found needing a relink (for /readyz).
func (t *tokenStore) relinkNotes() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.relinked))
	for line, reason := range t.relinked {
		out = append(out, "line "+line+" needs a relink: "+reason)
	}
	sort.Strings(out)
	return out
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
	prev, had := t.lines[l.MSISDN]
	_, marked := t.relinked[l.MSISDN]
	t.lines[l.MSISDN] = l
	if l.State == store.LineLinked {
		delete(t.relinked, l.MSISDN)
	}
	t.mu.Unlock()
	if l.State == store.LineLinked && (marked || had && prev.State == store.LineNeedsRelink) {
		t.log.Info("line linked again", zap.String("line", l.MSISDN))
	}
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
		if !t.mayRefresh(l.MSISDN) {
			continue // its lease holder refreshes it; adopt brings the new token
		}
		err := t.refreshIfCurrent(ctx, l)
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

// refreshIfCurrent refreshes l under the line's lock, unless a call's 401 refreshed it
// meanwhile.
func (t *tokenStore) refreshIfCurrent(ctx context.Context, l store.Line) error {
	mu := t.lineLock(l.MSISDN)
	mu.Lock()
	defer mu.Unlock()
	if cur, ok := t.get(l.MSISDN); ok && (cur.AccessToken != l.AccessToken || cur.State != store.LineLinked) {
		return nil
	}
	return t.refresh(ctx, l)
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

// markRelink records that the line needs a relink (once: later reports of the same
// line change nothing); the other lines are unaffected.
func (t *tokenStore) markRelink(ctx context.Context, line, reason string) {
	t.mu.Lock()
	l, ok := t.lines[line]
	if _, done := t.relinked[line]; done || ok && l.State == store.LineNeedsRelink {
		t.mu.Unlock()
		return
	}
	if t.relinked == nil {
		t.relinked = map[string]string{}
	}
	t.relinked[line] = reason
	if ok {
		l.State, l.Reason = store.LineNeedsRelink, reason
		t.lines[line] = l
	}
	t.mu.Unlock()
	t.log.Warn("line needs relink", zap.String("line", line), zap.String("reason", reason))
	if err := t.st.MarkNeedsRelink(ctx, line, reason); err != nil {
		t.log.Warn("mark needs_relink", zap.String("line", line), zap.Error(err))
	}
	t.relinkState(line, true)
	if t.onFail != nil {
		t.onFail(line)
	}
}
