package main

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/ynagw/ynagw/internal/ynagwproc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if binDir != "" {
			_ = os.RemoveAll(binDir)
		}
		os.Exit(code)
	}))
}

const testVersion = "v9.8.7-test"

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  string
)

// testBin is ynagw built once per test binary with -X main.version=testVersion.
func testBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the ynagw binary")
	}
	binOnce.Do(func() {
		d, err := os.MkdirTemp("", "ynagw-cmd-test")
		if err != nil {
			binErr = err.Error()
			return
		}
		binDir = d
		out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion,
			"-o", filepath.Join(d, "ynagw"), ".").CombinedOutput()
		if err != nil {
			binErr = err.Error() + "\n" + string(out)
			return
		}
		binPath = filepath.Join(d, "ynagw")
	})
	if binPath == "" {
		t.Fatalf("go build: %s", binErr)
	}
	return binPath
}

// TestVersionFlag: `ynagw version` and `ynagw --version` both print the version set by
// -ldflags (issue 11: --version was an unknown command, exit 2).
func TestVersionFlag(t *testing.T) {
	bin := testBin(t)
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		out, code := ynagwproc.RunOnce(t, bin, args...)
		if code != 0 || strings.TrimSpace(out) != "ynagw "+testVersion {
			t.Errorf("ynagw %v: exit %d, output %q; want 0 and %q", args, code, out, "ynagw "+testVersion)
		}
	}
}

// TestVersionFromVCS: a binary built from the git checkout without -ldflags names the
// commit it was built from (and -dirty when the tree had changes), never just "devel".
func TestVersionFromVCS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the ynagw binary")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	rev, err := exec.Command(git, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	// -buildvcs=true overrides a GOFLAGS=-buildvcs=false of the environment: the test is
	// about what the binary makes of the VCS stamp.
	bin := ynagwproc.Build(t, t.TempDir(), "-buildvcs=true")
	if bi, err := buildinfo.ReadFile(bin); err != nil {
		t.Fatal(err)
	} else if !slices.ContainsFunc(bi.Settings, func(s debug.BuildSetting) bool { return s.Key == "vcs.revision" }) {
		// go stamps only when .git is a directory (not in a git worktree or submodule).
		t.Skip("go build did not stamp VCS information here (git worktree?)")
	}
	out, code := ynagwproc.RunOnce(t, bin, "--version")
	want := strings.TrimSpace(string(rev))[:12]
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("--version: exit %d, output %q; want the revision %s", code, out, want)
	}
	if strings.Contains(out, "devel") {
		t.Errorf("--version %q still says devel", out)
	}
	st, err := exec.Command(git, "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil {
		if dirty := len(strings.TrimSpace(string(st))) > 0; dirty != strings.Contains(out, "dirty") {
			t.Errorf("--version %q: tree dirty=%v but the version does not say so", out, dirty)
		}
	}
}

// TestHelpExitsZero: -h / --help of ynagw and of every subcommand prints the usage to
// stdout and exits 0 (issue 11: `<cmd> -h` exited 2).
func TestHelpExitsZero(t *testing.T) {
	bin := testBin(t)
	cmds := [][]string{{}, {"run"}, {"demo"}, {"check-config"}, {"lines"}, {"version"}, {"health"}}
	for _, c := range cmds {
		for _, h := range []string{"-h", "--help", "-help"} {
			args := append(append([]string{}, c...), h)
			cmd := exec.Command(bin, args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if err != nil {
				t.Errorf("ynagw %v: %v (stderr %q)", args, err, stderr.String())
				continue
			}
			if !strings.Contains(strings.ToLower(stdout.String()), "usage") {
				t.Errorf("ynagw %v: no usage on stdout: %q (stderr %q)", args, stdout.String(), stderr.String())
			}
		}
	}
	// Errors still exit 2 (the check can fail).
	if out, code := ynagwproc.RunOnce(t, bin, "run", "-no-such-flag"); code != 2 {
		t.Errorf("run -no-such-flag: exit %d, want 2\n%s", code, out)
	}
	if out, code := ynagwproc.RunOnce(t, bin, "no-such-command"); code != 2 {
		t.Errorf("no-such-command: exit %d, want 2\n%s", code, out)
	}
}

// shortTempDir is a temp dir with a short path (for unix socket names), removed on
// cleanup.
func shortTempDir(t *testing.T) (string, error) {
	d, err := os.MkdirTemp("/tmp", "yg")
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d, nil
}

// TestMakeBuildVersion: `make build`, the build the README installs, stamps the
// version from git (issue 11: a build as documented said "devel"; e.g. with
// GOFLAGS=-buildvcs=false, or from a tree without VCS stamping).
func TestMakeBuildVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the ynagw binary")
	}
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not installed")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	desc, err := exec.Command(git, "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "ynagw")
	cmd := exec.Command(mk, "-C", "../..", "build", "BIN="+bin)
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out, code := ynagwproc.RunOnce(t, bin, "--version")
	if want := "ynagw " + strings.TrimSpace(string(desc)); code != 0 || strings.TrimSpace(out) != want {
		t.Errorf("make build: --version %q (exit %d), want %q", out, code, want)
	}
}
