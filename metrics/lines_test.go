package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ynagw/ynagw/yna"
)

// byNumber labels lines with their number: the tests of the per-line gauges use it to see
// one series per line without configuring names.
var byNumber = WithLineLabels(LineLabels{MSISDN: true})

// TestLineLabels: every per-line metric is labelled with the line's configured name (or
// Other), never its number, unless LineLabels.MSISDN asks for the number.
func TestLineLabels(t *testing.T) {
	const a, b, unknown = "14255550100", "14255550101", "14255550199"
	names := map[string]string{a: "office", b: "line2"}
	tests := []struct {
		name string
		opts []Option
		want map[string]string // line → label
	}{
		{"no option: other", nil, map[string]string{a: Other, b: Other, unknown: Other}},
		{"names", []Option{WithLineLabels(LineLabels{Names: names})},
			map[string]string{a: "office", b: "line2", unknown: Other}},
		{"numbers", []Option{WithLineLabels(LineLabels{Names: names, MSISDN: true})},
			map[string]string{a: a, b: b, unknown: unknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New("x", tt.opts...)
			for line := range tt.want {
				m.ChannelState(line, yna.ChannelRecovering)
				m.TokenExpiry(line, time.Unix(1_800_000_000, 0))
				m.LineNeedsRelink(line, true)
				m.ChannelUp(line, false)
				m.ChannelReconnect(line)
			}
			var scrape strings.Builder
			mfs, err := m.Registry().Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				scrape.WriteString(mf.String())
			}
			for line, label := range tt.want {
				for _, c := range []struct {
					name string
					v    float64
				}{
					{"channel_up", testutil.ToFloat64(m.channelUp.WithLabelValues(label))},
					{"needs_relink", testutil.ToFloat64(m.needsRelink.WithLabelValues(label))},
					{"token_expiry", testutil.ToFloat64(m.tokenExpiry.WithLabelValues(label))},
				} {
					want := map[string]float64{"channel_up": 0, "needs_relink": 1, "token_expiry": 1_800_000_000}[c.name]
					if c.v != want {
						t.Errorf("%s of %s (label %q) = %v, want %v", c.name, line, label, c.v, want)
					}
				}
				if label != line && strings.Contains(scrape.String(), line[1:]) {
					t.Errorf("the number %s is in the registry:\n%s", line, scrape.String())
				}
			}
			labels := map[string]bool{}
			for _, l := range tt.want {
				labels[l] = true
			}
			if n := testutil.CollectAndCount(m.channelUp, NameChannelUp); n != len(labels) {
				t.Errorf("channel_up series = %d, want %d (%v)", n, len(labels), labels)
			}
		})
	}
}

// TestRemoveLineByName: RemoveLine takes the number and deletes the series of its label;
// a line labelled Other leaves the shared Other series alone.
func TestRemoveLineByName(t *testing.T) {
	const a, unknown = "14255550100", "14255550199"
	m := New("x", WithLineLabels(LineLabels{Names: map[string]string{a: "office"}}))
	m.LineNeedsRelink(a, false)
	m.LineNeedsRelink(unknown, true)
	m.RemoveLine(unknown)
	if n := testutil.CollectAndCount(m.needsRelink, NameLineNeedsRelink); n != 2 {
		t.Fatalf("after removing a line labelled other: %d series, want 2", n)
	}
	m.RemoveLine(a)
	want := "# HELP " + NameLineNeedsRelink + " " + help(NameLineNeedsRelink) + "\n# TYPE " + NameLineNeedsRelink +
		" gauge\n" + NameLineNeedsRelink + `{line="other"} 1` + "\n"
	if err := testutil.CollectAndCompare(m.needsRelink, strings.NewReader(want), NameLineNeedsRelink); err != nil {
		t.Fatal(err)
	}
	m.LineNeedsRelink(a, true) // the slot is free again
	if got := testutil.ToFloat64(m.needsRelink.WithLabelValues("office")); got != 1 {
		t.Fatalf("office after re-adding = %v", got)
	}
}
