package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ynagw/ynagw/internal/testpeer"
)

const dashboardPath = "../configs/grafana-dashboard.json"

type dashPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

type dashboard struct {
	SchemaVersion int         `json:"schemaVersion"`
	UID           string      `json:"uid"`
	Panels        []dashPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	return d
}

var metricName = regexp.MustCompile(`\b(?:ynagw|go|process)_[a-z0-9_]+`)

// TestDashboard: valid JSON, the datasource variable, unique panel ids, and every metric
// an expression references is one the registry exposes (ynagw_ ones from Names()).
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.SchemaVersion < 36 || d.UID == "" {
		t.Errorf("schemaVersion %d uid %q", d.SchemaVersion, d.UID)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "DS_PROMETHEUS" && v.Type == "datasource" {
			hasDS = true
		}
	}
	if !hasDS {
		t.Error("no DS_PROMETHEUS datasource variable")
	}
	m := New("x")
	exercise(m)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]string{} // name → type
	for _, mf := range mfs {
		exposed[mf.GetName()] = strings.ToLower(mf.GetType().String())
	}
	for _, n := range Names() {
		if _, ok := exposed[n]; !ok {
			t.Errorf("%s in Names() but not exposed", n)
		}
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("duplicate panel id %d", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("panel %q: datasource is not ${DS_PROMETHEUS}", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		for _, tg := range p.Targets {
			names := metricName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: expression %q references no metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				base := n
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b := strings.TrimSuffix(n, suf); b != n && exposed[b] == "histogram" {
						base = b
					}
				}
				if _, ok := exposed[base]; !ok {
					t.Errorf("panel %q references unknown metric %s", p.Title, n)
				}
				used[base] = true
			}
		}
	}
	for _, n := range Names() {
		if !used[n] && n != NameBuildInfo && n != NameCallsActive && n != NameUp {
			t.Logf("note: %s not on the dashboard", n)
		}
	}
	for _, must := range []string{NameCallsActive, NameCallsTotal, NameCallSetup, NameYNARequests, NameYNARequestSeconds,
		NameChannelUp, NameChannelReconnects, NameRegistrations, NameRTPPackets, NameRTPLost, NameOneWayCalls,
		NameMediaTimeouts, NameTokenExpiry, NameLineNeedsRelink} {
		if !used[must] {
			t.Errorf("dashboard lacks a panel on %s", must)
		}
	}
}

// TestDashboardPromQL checks every expression parses, by handing them to
// `promtool check rules` as recording rules (Grafana variables substituted).
func TestDashboardPromQL(t *testing.T) {
	promtool := testpeer.Require(t, "promtool")
	d := loadDashboard(t)
	repl := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			n++
			expr, err := json.Marshal(repl.Replace(tg.Expr)) // a JSON string is a valid YAML scalar
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "      - record: ynagw_dashboard:expr%d\n        expr: %s\n", n, expr)
		}
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, b.String())
	}
	if !strings.Contains(string(out), fmt.Sprintf("%d rules found", n)) {
		t.Fatalf("promtool output: %s", out)
	}
}

// TestDashboardCoversAlerts: every metric an alert in configs/alerts.yaml watches is on
// some dashboard panel, and the failing-call ratio the alert computes has its own panel.
func TestDashboardCoversAlerts(t *testing.T) {
	b, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	d := loadDashboard(t)
	onPanel := map[string]bool{}
	ratio := false
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, n := range metricName.FindAllString(tg.Expr, -1) {
				onPanel[n] = true
			}
			if strings.Contains(tg.Expr, `result=~"network_error|media_error|codec|error"`) && strings.Contains(tg.Expr, "/") {
				ratio = true
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for _, n := range metricName.FindAllString(r.Expr, -1) {
				if !onPanel[n] {
					t.Errorf("alert %s watches %s, which no dashboard panel shows", r.Alert, n)
				}
			}
		}
	}
	if !ratio {
		t.Error("no dashboard panel shows the failing-call ratio of YnagwFailingCalls")
	}
}
