package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
	"go.uber.org/zap/zaptest"
)

// tokenEnv is a tokenStore over a real store and a real YNA client against ynasim, with a
// linked line whose tokens came from the link flow.
type tokenEnv struct {
	sim    *ynasim.Sim
	st     *store.SQLite
	ts     *tokenStore
	tr     *yna.TokenResponse
	mu     sync.Mutex
	failed []string
}

func newTokenEnv(t *testing.T) *tokenEnv {
	t.Helper()
	e := &tokenEnv{sim: newSim(t, ynasim.Config{})}
	yc, err := yna.NewClient(ynaConfig(e.sim))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(yc.CloseIdleConnections)
	ctx := ctxT(t, 20*time.Second)
	e.tr, err = yc.ExchangeCode(ctx, linkCode(t, yc), tRedirect)
	if err != nil {
		t.Fatal(err)
	}
	e.st = openStore(t, filepath.Join(t.TempDir(), "db"), testKey(t))
	t.Cleanup(func() { _ = e.st.Close() })
	e.ts = &tokenStore{st: e.st, yc: yc, log: zaptest.NewLogger(t), before: 10 * time.Minute,
		onFail: func(l string) { e.mu.Lock(); e.failed = append(e.failed, l); e.mu.Unlock() }}
	if err := e.ts.put(ctx, store.Line{MSISDN: tLine, AccessToken: e.tr.AccessToken, RefreshToken: e.tr.RefreshToken,
		ExpiresAt: time.Now().Add(time.Minute), State: store.LineLinked}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestTokenSourceServesStoredToken(t *testing.T) {
	e := newTokenEnv(t)
	ctx := ctxT(t, 5*time.Second)
	if tok, err := e.ts.AccessToken(ctx, tLine); err != nil || tok != e.tr.AccessToken {
		t.Fatalf("AccessToken %q %v", tok, err)
	}
	if _, err := e.ts.AccessToken(ctx, "14255550199"); !errors.Is(err, bridge.ErrNoToken) {
		t.Errorf("unknown line: %v", err)
	}
	// A fresh tokenStore loads what the store holds (a restart).
	ts2 := &tokenStore{st: e.st}
	if _, err := ts2.load(ctx); err != nil {
		t.Fatal(err)
	}
	if tok, _ := ts2.AccessToken(ctx, tLine); tok != e.tr.AccessToken {
		t.Errorf("after load: %q", tok)
	}
	e.ts.SetToken(tLine, "")
	if _, err := e.ts.AccessToken(ctx, tLine); !errors.Is(err, bridge.ErrNoToken) {
		t.Errorf("after SetToken(\"\"): %v", err)
	}
}

func TestTokenRefreshBeforeExpiry(t *testing.T) {
	e := newTokenEnv(t)
	ctx := ctxT(t, 20*time.Second)
	// Not due yet: nothing happens.
	e.ts.refreshDue(ctx, time.Now().Add(-time.Hour))
	if l, _ := e.st.GetLine(ctx, tLine); l.AccessToken != e.tr.AccessToken {
		t.Fatal("refreshed before due")
	}
	e.ts.refreshDue(ctx, time.Now())
	l, err := e.st.GetLine(ctx, tLine)
	if err != nil {
		t.Fatal(err)
	}
	if l.AccessToken == e.tr.AccessToken || l.State != store.LineLinked || !l.ExpiresAt.After(time.Now().Add(time.Hour)) {
		t.Errorf("after refresh: state %s expires %s, token changed %v", l.State, l.ExpiresAt, l.AccessToken != e.tr.AccessToken)
	}
	if tok, _ := e.ts.AccessToken(ctx, tLine); tok != l.AccessToken {
		t.Error("cache not updated")
	}
	if len(e.failed) != 0 {
		t.Errorf("failed %v", e.failed)
	}
}

func TestTokenRefreshFailures(t *testing.T) {
	cases := []struct {
		name       string
		mangle     func(e *tokenEnv, l *store.Line)
		now        func(l store.Line) time.Time
		wantRelink bool
	}{
		{"refused refresh token", func(_ *tokenEnv, l *store.Line) { l.RefreshToken = "not-a-refresh-token" },
			func(store.Line) time.Time { return time.Now() }, true},
		{"no refresh token and expired", func(_ *tokenEnv, l *store.Line) { l.RefreshToken = "" },
			func(l store.Line) time.Time { return l.ExpiresAt.Add(time.Second) }, true},
		{"network down before expiry", func(e *tokenEnv, _ *store.Line) { _ = e.sim.Close() },
			func(store.Line) time.Time { return time.Now() }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTokenEnv(t)
			ctx := ctxT(t, 20*time.Second)
			l, _ := e.ts.get(tLine)
			tc.mangle(e, &l)
			if err := e.ts.put(ctx, l); err != nil {
				t.Fatal(err)
			}
			e.ts.refreshDue(ctx, tc.now(l))
			got, err := e.st.GetLine(ctx, tLine)
			if err != nil {
				t.Fatal(err)
			}
			relinked := got.State == store.LineNeedsRelink
			if relinked != tc.wantRelink || (len(e.failed) == 1) != tc.wantRelink {
				t.Fatalf("state %s (%s), onFail %v; want relink %v", got.State, got.Reason, e.failed, tc.wantRelink)
			}
			_, aerr := e.ts.AccessToken(ctx, tLine)
			if tc.wantRelink && !errors.Is(aerr, ErrNeedsRelink) {
				t.Errorf("AccessToken after relink mark: %v", aerr)
			}
			if !tc.wantRelink && aerr != nil {
				t.Errorf("AccessToken: %v", aerr)
			}
		})
	}
}

func TestTokenRefreshLoopStops(t *testing.T) {
	e := newTokenEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.ts.refreshLoop(ctx, time.Hour) }()
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("refreshLoop did not stop")
	}
}
