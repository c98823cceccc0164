package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/metrics"
)

// TestFromConfigLineLabels: lines[].name and metrics.label_msisdn reach the metrics'
// line labels (default names by position).
func TestFromConfigLineLabels(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(y string) string
		names map[string]string
		byNum bool
	}{
		{"default names", func(y string) string { return y }, map[string]string{tLine: "line1"}, false},
		{"configured name", func(y string) string {
			return strings.Replace(y, `    ring: [alice]`, "    name: office\n    ring: [alice]", 1)
		}, map[string]string{tLine: "office"}, false},
		{"label_msisdn", func(y string) string { return y + "metrics:\n  label_msisdn: true\n" },
			map[string]string{tLine: "line1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "ynagw.yaml")
			if err := os.WriteFile(p, []byte(tt.edit(validYAML(t, dir))), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			o, err := FromConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := o.Metrics.lineLabels(o.Bridge.Lines)
			if want := (metrics.LineLabels{Names: tt.names, MSISDN: tt.byNum}); !reflect.DeepEqual(got, want) {
				t.Errorf("line labels %+v, want %+v", got, want)
			}
		})
	}
}

// TestDefaultLineLabels: options built directly (no LineNames) name lines by position.
func TestDefaultLineLabels(t *testing.T) {
	lines := []bridge.LineConfig{{MSISDN: "14255550100"}, {MSISDN: "14255550101"}}
	got := MetricsOptions{}.lineLabels(lines)
	want := metrics.LineLabels{Names: map[string]string{"14255550100": "line1", "14255550101": "line2"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("line labels %+v, want %+v", got, want)
	}
}
