package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/ynagwproc"
)

// TestHealth: `ynagw health` exits 0 against a running daemon with no line linked yet
// (/healthz, the default and -live; the address given or taken from a configuration's
// admin.listen, a wildcard host probed on loopback), while -ready (/readyz) exits 1 saying
// no line is linked; 1 once the daemon is gone.
func TestHealth(t *testing.T) {
	bin := testBin(t)
	sim := ynagwproc.NewSim(t)
	dir := t.TempDir()
	cfg := ynagwproc.Install(t, dir, sim.URL())
	p := ynagwproc.Run(t, bin, cfg)
	admin := p.Started(30 * time.Second)
	if admin == "" {
		t.Fatal("no admin address logged")
	}

	if out, code := ynagwproc.RunOnce(t, bin, "health", "-addr", admin); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Errorf("health -addr %s: exit %d, output %q", admin, code, out)
	}
	if out, code := ynagwproc.RunOnce(t, bin, "health", "-live", "-addr", admin); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Errorf("health -live: exit %d, output %q", code, out)
	}
	if out, code := ynagwproc.RunOnce(t, bin, "health", "-ready", "-addr", admin); code != 1 ||
		!strings.Contains(out, "503") || !strings.Contains(out, "no line linked") {
		t.Errorf("health -ready with no line linked: exit %d, output %q", code, out)
	}
	// The address from a configuration file (what the Docker HEALTHCHECK does).
	_, port, _ := net.SplitHostPort(admin)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "probe.yaml")
	text := strings.Replace(string(b), "listen: 127.0.0.1:0\n  username", "listen: 0.0.0.0:"+port+"\n  username", 1)
	if text == string(b) {
		t.Fatal("admin.listen not found in the generated configuration")
	}
	if err := os.WriteFile(other, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := ynagwproc.RunOnce(t, bin, "health", "-config", other); code != 0 {
		t.Errorf("health -config: exit %d, output %q", code, out)
	}
	// A configuration with an ephemeral admin port cannot be probed: exit 1, saying so.
	if out, code := ynagwproc.RunOnce(t, bin, "health", "-config", cfg); code != 1 || !strings.Contains(out, "-addr") {
		t.Errorf("health -config (port 0): exit %d, output %q", code, out)
	}

	p.Signal(syscall.SIGTERM)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
	if out, code := ynagwproc.RunOnce(t, bin, "health", "-addr", admin); code != 1 {
		t.Errorf("health after exit: exit %d, want 1\n%s", code, out)
	}
}

// TestHealthNotReady: with -ready a 503 from /readyz is exit 1 with the reason; the
// default (liveness) probe of the same daemon exits 0.
func TestHealthNotReady(t *testing.T) {
	bin := testBin(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			_, _ = w.Write([]byte("ok\n"))
			return
		case "/readyz":
		default:
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: draining\n"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if out, code := ynagwproc.RunOnce(t, bin, "health", "-addr", addr); code != 0 {
		t.Errorf("health (liveness) of a daemon that is not ready: exit %d, output %q", code, out)
	}
	out, code := ynagwproc.RunOnce(t, bin, "health", "-ready", "-addr", addr)
	if code != 1 || !strings.Contains(out, "503") || !strings.Contains(out, "draining") {
		t.Errorf("health on 503: exit %d, output %q", code, out)
	}
}
