package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/ynagwproc"
)

// TestReloadRestartPending: a change SIGHUP cannot apply stays reported as pending on
// every later reload (log and /readyz) until it is reverted or the daemon restarted
// (issue 11: the second SIGHUP said applied:[] and nothing pending, though the change
// was still not live).
func TestReloadRestartPending(t *testing.T) {
	bin := testBin(t)
	sim := ynagwproc.NewSim(t)
	cfg := ynagwproc.Install(t, t.TempDir(), sim.URL())
	orig, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(from, to string) {
		t.Helper()
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(b), from, to, 1)
		if s == string(b) {
			t.Fatalf("%q not in the configuration", from)
		}
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := ynagwproc.Run(t, bin, cfg)
	admin := p.Started(30 * time.Second)

	n := 0
	reload := func() map[string]any {
		t.Helper()
		n++
		p.Signal(syscall.SIGHUP)
		return p.WaitLog("configuration reloaded", n, 10*time.Second)
	}
	fields := func(m map[string]any, key string) string {
		v, _ := m[key].([]any)
		var s []string
		for _, x := range v {
			s = append(s, fmt.Sprint(x))
		}
		return strings.Join(s, ",")
	}
	readyz := func() string {
		t.Helper()
		// Not ready (no line linked): exit 1, the notes still printed after the reason.
		out, code := ynagwproc.RunOnce(t, bin, "health", "-ready", "-addr", admin)
		if code != 0 && !strings.Contains(out, "no line linked") {
			t.Fatalf("health -ready: exit %d: %s", code, out)
		}
		return out
	}

	edit("domain: ynagw.test", "domain: other.test") // sip.domain: restart only
	for i := 1; i <= 2; i++ {                        // the second SIGHUP with no edit
		m := reload()
		if got := fields(m, "restart_pending"); got != "sip.domain" {
			t.Errorf("reload %d: restart_pending %q, want sip.domain (%v)", i, got, m)
		}
		if got := fields(m, "applied"); got != "" {
			t.Errorf("reload %d: applied %q, want nothing", i, got)
		}
		if r := readyz(); !strings.Contains(r, "restart pending: sip.domain") {
			t.Errorf("reload %d: /readyz %q does not report the pending restart", i, r)
		}
	}
	// A reloadable change is applied; the pending one is still reported.
	edit("password: pw-201", "password: pw-201-new")
	m := reload()
	if got := fields(m, "applied"); got != "users" {
		t.Errorf("applied %q, want users", got)
	}
	if got := fields(m, "restart_pending"); got != "sip.domain" {
		t.Errorf("restart_pending %q after a users change, want sip.domain", got)
	}
	// Reverted: nothing pending any more.
	if err := os.WriteFile(cfg, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	m = reload()
	if got := fields(m, "restart_pending"); got != "" {
		t.Errorf("restart_pending %q after reverting, want none", got)
	}
	if r := readyz(); strings.Contains(r, "restart pending") {
		t.Errorf("/readyz %q still reports a pending restart", r)
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}
