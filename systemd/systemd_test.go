package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
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
			out[section] = map[string][]string{}
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
		{"Service", "Type", "simple"},
		{"Service", "ExecStart", installed + " run -config /etc/ynagw/ynagw.yaml"},
		{"Service", "EnvironmentFile", "-/etc/ynagw/env"},
		{"Service", "DynamicUser", "yes"},
		{"Service", "StateDirectory", "ynagw"},
		{"Service", "ConfigurationDirectory", "ynagw"},
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
