// Package testpeer finds the third-party peers (sipp, baresip, chromium, ...) that
// tests run against. Outside CI a missing peer skips the test; in CI (CI set) it fails,
// so a broken install step can never turn into a silently green run.
package testpeer

import (
	"os"
	"os/exec"
	"testing"
)

// Require returns the path of bin, or skips (locally) / fails (in CI) the test.
func Require(t testing.TB, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("test peer %q not installed (the test command installs it: make test-deps)", bin)
	}
	t.Skipf("test peer %q not installed; run `make test-deps` as root", bin)
	return ""
}
