package daemon

import (
	"encoding/json"
	"strings"
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
	// Unlinked, the configured line is back to "no tokens": channel_up 0 (YnagwLineNotLinked
	// sees it), no token expiry.
	if err := d.Backend().Unlink(ctx, tLine); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{metrics.NameChannelUp: 0, metrics.NameTokenExpiry: -1} {
		if v := lineGauge(t, d, name, tLineLabel); v != want {
			t.Errorf("after unlink: %s{line=%q} = %v, want %v (-1: absent)", name, tLineLabel, v, want)
		}
	}
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

// TestReadyzLineDetail: /readyz?format=json gives the overall status and each configured
// line's health (by name, never its number): never linked, linked with its channel,
// needs relink with why (for a caller with credentials) and since when its channel is
// down; the text form stays.
func TestReadyzLineDetail(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	opts := testOptions(t, sim, t.TempDir(), testKey(t))
	opts.Admin = adminFromYAML(t, "listen: 127.0.0.1:0\nusername: admin\npassword: admin-pw")
	d := startDaemon(t, opts)
	type body struct {
		Ready  bool     `json:"ready"`
		Reason string   `json:"reason"`
		Notes  []string `json:"notes"`
		Lines  []struct {
			Name             string    `json:"name"`
			State            string    `json:"state"`
			Reason           string    `json:"reason"`
			Channel          string    `json:"channel"`
			ChannelDownSince time.Time `json:"channelDownSince"`
		} `json:"lines"`
	}
	get := func(step, auth string) body {
		t.Helper()
		code, raw := scrape(t, d.AdminAddr(), "/readyz?format=json", auth)
		var b body
		if err := json.Unmarshal([]byte(raw), &b); err != nil {
			t.Fatalf("%s: readyz %d %q: %v", step, code, raw, err)
		}
		if (code == 200) != b.Ready || auth == "none" && strings.Contains(raw, tLine) {
			t.Errorf("%s: readyz %d %s", step, code, raw)
		}
		if len(b.Lines) != 1 || b.Lines[0].Name != tLineLabel {
			t.Fatalf("%s: lines %s", step, raw)
		}
		return b
	}
	if b := get("never linked", "none"); b.Lines[0].State != "never_linked" {
		t.Errorf("never linked: %+v", b)
	}
	LinkForTest(t, d, sim)
	testenv.Eventually(t, 10*time.Second, "linked, channel connected", func() bool {
		b := get("linked", "none")
		return b.Ready && b.Lines[0].State == "linked" && b.Lines[0].Channel == "connected"
	})
	ctx := ctxT(t, 20*time.Second)
	d.tokens.MarkNeedsRelink(ctx, tLine, "YNA refused a refreshed token")
	b := get("needs relink", "basic")
	if l := b.Lines[0]; l.State != "needs_relink" || !strings.Contains(l.Reason, "refused") || l.ChannelDownSince.IsZero() {
		t.Errorf("needs relink: %+v", b)
	}
	// Only a line needing a relink: not ready (TestReadyzNoLineLinked), the text form says why.
	if code, raw := scrape(t, d.AdminAddr(), "/readyz", "none"); code != 503 || !strings.HasPrefix(raw, "not ready: no line linked") {
		t.Errorf("text readyz: %d %q", code, raw)
	}
}
