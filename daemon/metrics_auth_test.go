package daemon

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/internal/testpeer"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// Credentials of the admin sections below.
const (
	tAdminUser  = "admin"
	tAdminPass  = "admin-pw"
	tAdminToken = "scrape-token"
)

// scrape GETs path on the admin listener at addr with the credentials named by auth
// ("none", "basic", "bearer", "wrong") and returns the status and body.
func scrape(t *testing.T, addr, path, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t, 10*time.Second), http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	switch auth {
	case "basic":
		req.SetBasicAuth(tAdminUser, tAdminPass)
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+tAdminToken)
	case "wrong":
		req.SetBasicAuth(tAdminUser, "not-the-password")
	}
	cl := &http.Client{Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// adminFromYAML loads validYAML plus the given admin section through config.Load and
// FromConfig and returns the admin options the daemon gets.
func adminFromYAML(t *testing.T, adminSection string) AdminOptions {
	t.Helper()
	dir := t.TempDir()
	y := validYAML(t, dir) + "admin:\n  " + strings.ReplaceAll(strings.TrimSpace(adminSection), "\n", "\n  ") + "\n"
	p := filepath.Join(dir, "ynagw.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	o, err := FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o.Admin
}

// TestMetricsAuth: admin.metrics_auth decides whether /metrics needs the admin API's
// credentials (Basic or bearer, what a Prometheus scrape config can send), with the
// real daemon's admin listener answering real HTTP requests over loopback.
func TestMetricsAuth(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	tests := []struct {
		name  string
		admin string         // YAML admin section
		want  map[string]int // credentials → /metrics status
	}{
		{"required: basic and bearer",
			"listen: 127.0.0.1:0\nusername: admin\npassword: admin-pw\ntoken: scrape-token\nmetrics_auth: required",
			map[string]int{"none": 401, "wrong": 401, "basic": 200, "bearer": 200}},
		{"required: bearer only",
			"listen: 127.0.0.1:0\ntoken: scrape-token\nmetrics_auth: required",
			map[string]int{"none": 401, "basic": 401, "bearer": 200}},
		{"loopback default: open",
			"listen: 127.0.0.1:0\nusername: admin\npassword: admin-pw",
			map[string]int{"none": 200, "basic": 200}},
		{"none on loopback",
			"listen: 127.0.0.1:0\nusername: admin\npassword: admin-pw\nmetrics_auth: none",
			map[string]int{"none": 200, "wrong": 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t, sim, t.TempDir(), testKey(t))
			opts.Admin = adminFromYAML(t, tt.admin)
			d := startDaemon(t, opts)
			for auth, want := range tt.want {
				code, body := scrape(t, d.AdminAddr(), "/metrics", auth)
				if code != want {
					t.Errorf("/metrics with %s credentials: %d, want %d", auth, code, want)
				}
				if code == 200 && !strings.Contains(body, "ynagw_up 1") {
					t.Errorf("/metrics with %s credentials lacks ynagw_up:\n%s", auth, body)
				}
			}
			// The JSON API needs credentials whatever metrics_auth says.
			if code, _ := scrape(t, d.AdminAddr(), "/api/v1/lines", "none"); code != 401 {
				t.Errorf("/api/v1/lines without credentials: %d, want 401", code)
			}
		})
	}
}

// TestMetricsAuthScrapePromtool: an authenticated scrape (as Prometheus does it with a
// bearer token) passes promtool check metrics.
func TestMetricsAuthScrapePromtool(t *testing.T) {
	promtool := testpeer.Require(t, "promtool")
	sim := newSim(t, ynasim.Config{})
	opts := testOptions(t, sim, t.TempDir(), testKey(t))
	opts.Admin = AdminOptions{Listen: "127.0.0.1:0", Token: tAdminToken, MetricsAuth: MetricsAuthRequired}
	d := startDaemon(t, opts)
	if code, _ := scrape(t, d.AdminAddr(), "/metrics", "none"); code != 401 {
		t.Fatalf("/metrics without credentials: %d, want 401", code)
	}
	code, body := scrape(t, d.AdminAddr(), "/metrics", "bearer")
	if code != 200 {
		t.Fatalf("/metrics with bearer: %d", code)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestMetricsAuthDefault: without admin.metrics_auth (options built directly, as the
// demo does) /metrics needs credentials unless the listener is loopback only; required
// without credentials is refused at start.
func TestMetricsAuthDefault(t *testing.T) {
	tests := []struct {
		o       AdminOptions
		open    bool
		wantErr bool
	}{
		{AdminOptions{Listen: "127.0.0.1:8080", Username: "a", Password: "b"}, true, false},
		{AdminOptions{Listen: "[::1]:8080", Token: "t"}, true, false},
		{AdminOptions{Listen: "localhost:8080", Token: "t"}, true, false},
		{AdminOptions{Listen: "127.0.0.1:8080"}, true, false},
		{AdminOptions{Listen: "0.0.0.0:8080", Token: "t"}, false, false},
		{AdminOptions{Listen: ":8080", Token: "t"}, false, false},
		{AdminOptions{Listen: "[::]:8080", Token: "t"}, false, false},
		{AdminOptions{Listen: "192.0.2.10:8080", Token: "t"}, false, false},
		{AdminOptions{Listen: "gw.example.com:8080", Token: "t"}, false, false},
		{AdminOptions{Listen: "0.0.0.0:8080", Token: "t", MetricsAuth: MetricsAuthNone}, true, false},
		{AdminOptions{Listen: "127.0.0.1:8080", Token: "t", MetricsAuth: MetricsAuthRequired}, false, false},
		{AdminOptions{Listen: "127.0.0.1:8080", MetricsAuth: MetricsAuthRequired}, false, true},
		{AdminOptions{Listen: "0.0.0.0:8080"}, false, true},
		{AdminOptions{Listen: "127.0.0.1:8080", Token: "t", MetricsAuth: "sometimes"}, false, true},
	}
	for _, tt := range tests {
		open, err := tt.o.metricsOpen()
		if (err != nil) != tt.wantErr || (err == nil && open != tt.open) {
			t.Errorf("%+v: open %v err %v, want open %v err %v", tt.o, open, err, tt.open, tt.wantErr)
		}
	}
}
