package daemon

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/metrics"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// wantRelinkGauge compares the daemon's ynagw_line_needs_relink series with one series
// labelled label (the line's name) at want.
func wantRelinkGauge(t *testing.T, d *Daemon, label string, want int, step string) {
	t.Helper()
	var help string
	for _, in := range metrics.List() {
		if in.Name == metrics.NameLineNeedsRelink {
			help = in.Help
		}
	}
	exp := "# HELP " + metrics.NameLineNeedsRelink + " " + help + "\n" +
		"# TYPE " + metrics.NameLineNeedsRelink + " gauge\n" +
		metrics.NameLineNeedsRelink + `{line="` + label + `"} ` + strconv.Itoa(want) + "\n"
	if err := testutil.GatherAndCompare(d.metrics.Registry(), strings.NewReader(exp), metrics.NameLineNeedsRelink); err != nil {
		t.Errorf("%s: %v", step, err)
	}
}

// TestRelinkMetric: a refresh that ynasim refuses sets ynagw_line_needs_relink to 1 (with
// the stored state), a restart restores it from the store, and linking again sets it to 0.
func TestRelinkMetric(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	opts := testOptions(t, sim, t.TempDir(), testKey(t))
	d := startDaemon(t, opts)
	ctx := ctxT(t, 30*time.Second)
	yc, err := yna.NewClient(ynaConfig(sim))
	if err != nil {
		t.Fatal(err)
	}
	defer yc.CloseIdleConnections()

	wantRelinkGauge(t, d, tLineLabel, 0, "configured, not linked yet")
	if _, err := d.Backend().CompleteLink(ctx, linkCode(t, yc), tRedirect); err != nil {
		t.Fatal(err)
	}
	wantRelinkGauge(t, d, tLineLabel, 0, "linked")

	// A refresh token ynasim does not know: the refresh is refused (not a transient
	// failure), so the line needs a relink although its access token has not expired.
	l, ok := d.tokens.get(tLine)
	if !ok {
		t.Fatal("linked line not in the token cache")
	}
	l.RefreshToken = "not-a-refresh-token"
	if err := d.tokens.put(ctx, l); err != nil {
		t.Fatal(err)
	}
	wantRelinkGauge(t, d, tLineLabel, 0, "before the refresh")
	d.tokens.refreshDue(ctx, l.ExpiresAt.Add(-time.Second))
	if got, err := d.Store().GetLine(ctx, tLine); err != nil || got.State != store.LineNeedsRelink {
		t.Fatalf("stored line after refused refresh: %s %v", got.State, err)
	}
	// The gateway stopped the line (which drops its cached token): no token is served.
	if _, err := d.tokens.AccessToken(ctx, tLine); !errors.Is(err, ErrNeedsRelink) && !errors.Is(err, bridge.ErrNoToken) {
		t.Errorf("AccessToken after refused refresh: %v", err)
	}
	wantRelinkGauge(t, d, tLineLabel, 1, "refresh refused")

	// A restart takes the gauge from the stored line state.
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	d2 := startDaemon(t, opts)
	wantRelinkGauge(t, d2, tLineLabel, 1, "after restart")

	// Linking again clears it.
	if _, err := d2.Backend().CompleteLink(ctx, linkCode(t, yc), tRedirect); err != nil {
		t.Fatal(err)
	}
	wantRelinkGauge(t, d2, tLineLabel, 0, "relinked")
	if err := d2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
