package daemon

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/admin"
	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna/ynasim"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// refresher is e.ts as the gateway sees it after a 401.
func (e *tokenEnv) refresher(t *testing.T) bridge.TokenRefresher {
	t.Helper()
	r, ok := bridge.TokenSource(e.ts).(bridge.TokenRefresher)
	if !ok {
		t.Fatal("the daemon's token source does not refresh a token the network refused (bridge.TokenRefresher)")
	}
	return r
}

// Issue 9, failure 3: the network forgot the line's token (401). The gateway's calls
// ask for one refresh; calls that saw the same refused token at once share one refresh,
// the new token is stored, and it is what AccessToken serves from then on.
func TestTokenRefusedIsRefreshedOnce(t *testing.T) {
	e := newTokenEnv(t)
	r := e.refresher(t)
	ctx := ctxT(t, 20*time.Second)
	old, _ := e.ts.AccessToken(ctx, tLine)
	if err := e.sim.ExpireTokens(tAccount); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	toks := make([]string, 5)
	errs := make([]error, 5)
	for i := range toks {
		wg.Add(1)
		go func() { defer wg.Done(); toks[i], errs[i] = r.RefreshAccessToken(ctx, tLine, old) }()
	}
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || toks[i] == "" || toks[i] == old || toks[i] != toks[0] {
			t.Fatalf("refresh %d: %q %v (first %q)", i, toks[i], errs[i], toks[0])
		}
	}
	if cur, _ := e.ts.AccessToken(ctx, tLine); cur != toks[0] {
		t.Errorf("AccessToken %q after the refresh, want %q", cur, toks[0])
	}
	if got, err := e.st.GetLine(ctx, tLine); err != nil || got.AccessToken != toks[0] || got.State != store.LineLinked {
		t.Errorf("stored %+v %v", got, err)
	}
	// A refresh asked with a token that is no longer current hands out the current one.
	if tok, err := r.RefreshAccessToken(ctx, tLine, old); err != nil || tok != toks[0] {
		t.Errorf("stale refresh: %q %v", tok, err)
	}
}

// A refresh the network refuses makes the line need a relink at once: store, metric,
// the line's channel stopped, AccessToken failing, and one warn log however many calls
// report it.
func TestTokenRefreshRefusedNeedsRelink(t *testing.T) {
	e := newTokenEnv(t)
	core, logs := observer.New(zap.WarnLevel)
	e.ts.log = zap.New(core)
	var relinks []bool
	e.ts.onRelink = func(_ string, needs bool) { relinks = append(relinks, needs) }
	r := e.refresher(t)
	ctx := ctxT(t, 20*time.Second)
	l, _ := e.ts.get(tLine)
	l.RefreshToken = "not-a-refresh-token"
	if err := e.ts.put(ctx, l); err != nil {
		t.Fatal(err)
	}
	relinks = nil
	if _, err := r.RefreshAccessToken(ctx, tLine, l.AccessToken); err == nil {
		t.Fatal("refresh with a refused refresh token succeeded")
	}
	for range 3 { // every call of the line reports it
		r.MarkNeedsRelink(ctx, tLine, "YNA refused the token")
	}
	got, err := e.st.GetLine(ctx, tLine)
	if err != nil || got.State != store.LineNeedsRelink {
		t.Fatalf("stored %+v %v", got, err)
	}
	if _, err := e.ts.AccessToken(ctx, tLine); !errors.Is(err, ErrNeedsRelink) {
		t.Errorf("AccessToken: %v", err)
	}
	if len(e.failed) != 1 || len(relinks) != 1 || !relinks[0] {
		t.Errorf("onFail %v, ynagw_line_needs_relink updates %v; want one each", e.failed, relinks)
	}
	if n := logs.FilterMessage("line needs relink").Len(); n != 1 || logs.Len() != 1 {
		t.Errorf("%d 'line needs relink' logs of %d warnings, want exactly one", n, logs.Len())
	}
}

// The daemon: a line the gateway reports as needing a relink shows it at once in
// ynagw_line_needs_relink, on the admin page's lines and in /readyz's notes.
func TestNeedsRelinkReportedEverywhere(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	d := startDaemon(t, testOptions(t, sim, t.TempDir(), testKey(t)))
	LinkForTest(t, d, sim)
	ctx := ctxT(t, 20*time.Second)
	wantRelinkGauge(t, d, tLineLabel, 0, "linked")
	d.tokens.MarkNeedsRelink(ctx, tLine, "YNA refused a refreshed token")
	wantRelinkGauge(t, d, tLineLabel, 1, "marked")
	if ls := d.Backend().Lines(ctx); len(ls) != 1 || ls[0].State != admin.LineNeedsRelink {
		t.Errorf("admin lines %+v", ls)
	}
	notes, _ := d.Backend().ReadyDetail(ctx, true)
	if len(notes) != 1 || !strings.Contains(notes[0], tLine) || !strings.Contains(notes[0], "relink") {
		t.Errorf("ready notes %q", notes)
	}
	if notes, _ := d.Backend().ReadyDetail(ctx, false); len(notes) != 1 || notes[0] != "1 line needs a relink" {
		t.Errorf("ready notes without credentials %q", notes)
	}
}
