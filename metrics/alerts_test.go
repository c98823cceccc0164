package metrics

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ynagw/ynagw/internal/testpeer"
)

const alertsPath = "../configs/alerts.yaml"

type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertsMetricsExist: every metric an alert expression names is one a ynagw registry
// exposes (Prometheus' own "up" aside), and the alerts the runbook promises are there.
func TestAlertsMetricsExist(t *testing.T) {
	b, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	m := New("x")
	exercise(m)
	m.StoreError("cdr")
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, mf := range mfs {
		exposed[mf.GetName()] = true
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s lacks severity, summary or description", r.Alert)
			}
			names := metricName.FindAllString(r.Expr, -1)
			if len(names) == 0 && !strings.Contains(r.Expr, "up{") {
				t.Errorf("alert %s names no metric: %q", r.Alert, r.Expr)
			}
			for _, n := range names {
				if !exposed[n] {
					t.Errorf("alert %s names %s, which ynagw does not register", r.Alert, n)
				}
			}
		}
	}
	for _, want := range []string{"YnagwDown", "YnagwLineNeedsRelink", "YnagwLineNotLinked", "YnagwChannelDown", "YnagwFailingCalls",
		"YnagwOneWayCalls", "YnagwStoreErrors", "YnagwDraining"} {
		if !alerts[want] {
			t.Errorf("alerts.yaml lacks %s", want)
		}
	}
}

// TestAlertsPromtool runs `promtool check rules` and `promtool test rules` on the shipped files.
func TestAlertsPromtool(t *testing.T) {
	promtool := testpeer.Require(t, "promtool")
	out, err := exec.Command(promtool, "check", "rules", alertsPath).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
	cmd := exec.Command(promtool, "test", "rules", "alerts_test.yaml")
	cmd.Dir = "../configs"
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules: %s", out)
	}
}

// TestStoreErrorsMetric: the op label is bounded and the series exist from the start.
func TestStoreErrorsMetric(t *testing.T) {
	m := New("x")
	m.StoreError("cdr")
	m.StoreError("cdr")
	m.StoreError("bogus")
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != NameStoreErrors {
			continue
		}
		for _, mt := range mf.GetMetric() {
			got[mt.GetLabel()[0].GetValue()] = mt.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"cdr": 2, "line": 0, "pending_end": 0, "other": 1}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s{op=%q} = %v (present %v), want %v", NameStoreErrors, k, g, ok, v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("series: %v", got)
	}
}
