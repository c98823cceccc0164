package daemon

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/metrics"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// TestChannelUpSeriesFromStart: a configured line that was never linked has a
// ynagw_channel_up series of 0 from the start (so "channel down" and "not linked" alerts
// can see it), and linking it brings the series to 1.
func TestChannelUpSeriesFromStart(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	d := startDaemon(t, testOptions(t, sim, t.TempDir(), testKey(t)))
	series := func(v string) string { return metrics.NameChannelUp + `{line="` + tLineLabel + `"} ` + v }
	if n := testutil.CollectAndCount(d.metrics.Registry(), metrics.NameChannelUp); n != 1 {
		t.Fatalf("never-linked line: %d %s series, want 1", n, metrics.NameChannelUp)
	}
	if v := lineGauge(t, d, metrics.NameChannelUp, tLineLabel); v != 0 {
		t.Fatalf("never-linked line: %s = %v, want 0", series("?"), v)
	}
	ctx := ctxT(t, 30*time.Second)
	yc, err := yna.NewClient(ynaConfig(sim))
	if err != nil {
		t.Fatal(err)
	}
	defer yc.CloseIdleConnections()
	if _, err := d.Backend().CompleteLink(ctx, linkCode(t, yc), tRedirect); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, series("1"), func() bool {
		return lineGauge(t, d, metrics.NameChannelUp, tLineLabel) == 1
	})
}

// lineGauge is the value of the gauge name{line=label} of d's registry (-1 if absent).
func lineGauge(t *testing.T, d *Daemon, name, label string) float64 {
	t.Helper()
	mfs, err := d.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "line" && lp.GetValue() == label {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}
