package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/ynagw/ynagw/internal/testpeer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	unitFile  = "ynagw.service"
	installed = "/usr/local/bin/ynagw"
)

// directives parses a unit file into section → key → values (keys may repeat).
func directives(t *testing.T, text string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if out[section] == nil { // a drop-in adds to the unit's section
				out[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("malformed unit line %q", line)
			}
			out[section][strings.TrimSpace(k)] = append(out[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return out
}

// TestUnitDirectives pins the directives the deployment relies on, so an edit
// cannot silently drop a hardening option.
func TestUnitDirectives(t *testing.T) {
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	d := directives(t, string(b))
	tests := []struct{ section, key, want string }{
		{"Service", "Type", "notify"},
		{"Service", "NotifyAccess", "main"},
		{"Service", "ExecStart", installed + " run -config /etc/ynagw/ynagw.yaml"},
		{"Service", "ExecReload", "kill -HUP $MAINPID"},
		{"Service", "WatchdogSec", "30"},
		{"Service", "EnvironmentFile", "-/etc/ynagw/env"},
		{"Service", "LoadCredential", "store_key:/etc/ynagw/credentials/store_key"},
		{"Service", "LoadCredential", "client_secret:/etc/ynagw/credentials/client_secret"},
		{"Service", "LoadCredential", "pop.pem:/etc/ynagw/credentials/pop.pem"},
		{"Service", "LoadCredential", "admin_password:/etc/ynagw/credentials/admin_password"},
		{"Service", "DynamicUser", "yes"},
		{"Service", "StateDirectory", "ynagw"},
		{"Service", "ConfigurationDirectory", "ynagw"},
		// The dynamic user must be able to read its configuration (issue 11: 0750 did not).
		{"Service", "ConfigurationDirectoryMode", "0755"},
		{"Service", "StateDirectoryMode", "0700"},
		{"Service", "UMask", "0077"},
		{"Service", "AmbientCapabilities", "CAP_NET_BIND_SERVICE"},
		{"Service", "CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "ProtectHome", "yes"},
		{"Service", "PrivateTmp", "yes"},
		{"Service", "PrivateDevices", "yes"},
		{"Service", "ProtectKernelTunables", "yes"},
		{"Service", "ProtectKernelModules", "yes"},
		{"Service", "ProtectKernelLogs", "yes"},
		{"Service", "ProtectControlGroups", "yes"},
		{"Service", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_NETLINK"},
		{"Service", "RestrictNamespaces", "yes"},
		{"Service", "LockPersonality", "yes"},
		{"Service", "MemoryDenyWriteExecute", "yes"},
		{"Service", "SystemCallArchitectures", "native"},
		{"Service", "SystemCallFilter", "@system-service"},
		{"Service", "SystemCallFilter", "~@privileged @resources"},
		{"Service", "PrivateMounts", "yes"},
		{"Service", "ProcSubset", "pid"},
		{"Service", "Restart", "on-failure"},
		{"Service", "RestartSec", "2"},
		{"Service", "KillSignal", "SIGTERM"},
		{"Service", "TimeoutStopSec", "90"},
		{"Service", "LimitNOFILE", "65536"},
		{"Install", "WantedBy", "multi-user.target"},
	}
	for _, tt := range tests {
		t.Run(tt.section+"/"+tt.key, func(t *testing.T) {
			got := d[tt.section][tt.key]
			for _, v := range got {
				if v == tt.want {
					return
				}
			}
			t.Fatalf("[%s] %s = %q, want %q", tt.section, tt.key, got, tt.want)
		})
	}
}

// verify runs `systemd-analyze verify` on unit text. The ExecStart binary is
// not installed on a build machine and verify rejects a missing executable, so
// the unit is copied into a temp dir with ExecStart pointing at a temporary
// executable stand-in; everything else is verified as shipped. verify exits 0
// on mere warnings (unknown keys, bad values), so any output line naming the
// unit file counts as a failure too.
func verify(t *testing.T, bin, unit string) (problems []string, err error) {
	t.Helper()
	dir := t.TempDir()
	fake := filepath.Join(dir, "ynagw")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(unit, installed) {
		t.Fatalf("unit does not reference %s", installed)
	}
	path := filepath.Join(dir, unitFile)
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, installed, fake)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "verify", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, unitFile) {
			problems = append(problems, line)
		}
	}
	return problems, err
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	bin := testpeer.Require(t, "systemd-analyze")
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	tests := []struct {
		name   string
		unit   string
		wantOK bool
	}{
		{"shipped unit", unit, true},
		{"with the passwords drop-in", unit + "\n" + readFile(t, "ynagw.service.d/passwords.conf"), true},
		// The check itself must be able to fail.
		{"unknown key", strings.Replace(unit, "[Service]\n", "[Service]\nNoSuchKey=1\n", 1), false},
		{"bad value", strings.Replace(unit, "Restart=on-failure", "Restart=sometimes", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems, err := verify(t, bin, tt.unit)
			ok := err == nil && len(problems) == 0
			if ok != tt.wantOK {
				t.Fatalf("verify ok=%v (err=%v, problems=%q), want ok=%v", ok, err, problems, tt.wantOK)
			}
		})
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exposure runs `systemd-analyze security --offline=yes` on unit text and returns the
// overall exposure level (0 = locked down, 10 = unprotected).
func exposure(t *testing.T, bin, unit string) float64 {
	t.Helper()
	path := filepath.Join(t.TempDir(), unitFile)
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "security", "--offline=yes", "--no-pager", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for [^:]+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		if err != nil && strings.Contains(string(out), "offline") {
			t.Skipf("systemd-analyze security --offline not supported: %s", out)
		}
		t.Fatalf("no exposure level in the output (%v):\n%s", err, out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSystemdAnalyzeSecurity: the shipped unit's exposure is at most 2.0; a unit
// without its sandboxing lines scores far worse (the measurement can fail).
func TestSystemdAnalyzeSecurity(t *testing.T) {
	bin := testpeer.Require(t, "systemd-analyze")
	unit := readFile(t, unitFile)
	got := exposure(t, bin, unit)
	t.Logf("systemd-analyze security exposure: %.1f", got)
	if got > 2.0 {
		t.Errorf("exposure %.1f, want <= 2.0", got)
	}
	var bare []string
	for _, l := range strings.Split(unit, "\n") {
		if k, _, ok := strings.Cut(l, "="); ok && (strings.HasPrefix(k, "Protect") || strings.HasPrefix(k, "Private") ||
			strings.HasPrefix(k, "Restrict") || strings.HasPrefix(k, "SystemCall") || k == "DynamicUser" ||
			k == "CapabilityBoundingSet" || k == "NoNewPrivileges") {
			continue
		}
		bare = append(bare, l)
	}
	weak := exposure(t, bin, strings.Join(bare, "\n"))
	t.Logf("without sandboxing: %.1f", weak)
	if weak <= 2.0 {
		t.Errorf("the unsandboxed unit scores %.1f: the measurement does not tell", weak)
	}
}
