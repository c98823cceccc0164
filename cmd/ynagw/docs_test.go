package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/internal/ynagwproc"
)

// TestManAndCompletion: `ynagw man` (roff ynagw(1)) and `ynagw completion bash` name every
// command of the command table; bash -n accepts the script, and sourced, it completes
// command names and a command's flags.
func TestManAndCompletion(t *testing.T) {
	bin := testBin(t)
	man, code := ynagwproc.RunOnce(t, bin, "man")
	if code != 0 || !strings.HasPrefix(man, ".TH YNAGW 1") {
		t.Fatalf("ynagw man: exit %d\n%s", code, man)
	}
	comp, code := ynagwproc.RunOnce(t, bin, "completion", "bash")
	if code != 0 {
		t.Fatalf("ynagw completion bash: exit %d\n%s", code, comp)
	}
	for _, c := range commands {
		if !strings.Contains(man, ".B "+roff("ynagw "+c.name)) {
			t.Errorf("man page lacks command %q", c.name)
		}
		if !strings.Contains(comp, "\t"+c.name+") words=") {
			t.Errorf("completion lacks command %q", c.name)
		}
	}
	script := filepath.Join(t.TempDir(), "ynagw.bash")
	if err := os.WriteFile(script, []byte(comp), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	complete := func(words ...string) string {
		t.Helper()
		sh := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _ynagw; echo "${COMPREPLY[*]}"`
		out, err := exec.Command("bash", append([]string{"-c", sh, "x", script}, words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("completing %v: %v\n%s", words, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("ynagw", "c"); got != strings.Join(cNames(), " ") {
		t.Errorf("completing `ynagw c`: %q, want %q", got, strings.Join(cNames(), " "))
	}
	if got := complete("ynagw", "cdrs", "-l"); got != "-limit" {
		t.Errorf("completing `ynagw cdrs -l`: %q, want -limit", got)
	}
}

func cNames() []string {
	var out []string
	for _, c := range commands {
		if strings.HasPrefix(c.name, "c") {
			out = append(out, c.name)
		}
	}
	return out
}

// TestConfigShow: `ynagw config show` prints the effective configuration (the PoP key
// file read, defaults applied) with no secret value of the test configuration in it.
func TestConfigShow(t *testing.T) {
	bin := testBin(t)
	dir := t.TempDir()
	s := ynagwproc.NewSecrets(t)
	text := ynagwproc.Config("http://127.0.0.1:9", filepath.Join(dir, "ynagw.db"), ynagwproc.InlineSecrets(t, dir, s))
	text = strings.Replace(text, "  username: admin\n", "  username: admin\n  token: tok-secret-admin-0123456789\n", 1)
	cfg := filepath.Join(dir, "ynagw.yaml")
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := ynagwproc.RunOnce(t, bin, "config", "show", "-config", cfg)
	if code != 0 {
		t.Fatalf("config show: exit %d\n%s", code, out)
	}
	secrets := []string{s.ClientSecret, s.StoreKey, s.AdminPassword, "pw-201", "tok-secret-admin-0123456789"}
	for _, l := range strings.Split(string(s.PoPKeyPEM), "\n") {
		if len(l) > 20 {
			secrets = append(secrets, l)
		}
	}
	for _, sec := range secrets {
		// testenv's client secret is the word "secret", also part of the key client_secret.
		if strings.Contains(out, sec) && (len(sec) >= 8 || strings.Contains(out, ": "+sec+"\n")) {
			t.Errorf("config show prints the secret %q", sec)
		}
	}
	for _, want := range []string{"domain: ynagw.test", "client_id: " + testenv.ClientID, "password: '" + masked + "'", "pop_key: '" + masked + "'"} {
		if !strings.Contains(out, want) {
			t.Errorf("config show lacks %q:\n%s", want, out)
		}
	}
	if out, code := ynagwproc.RunOnce(t, bin, "config", "show", "-h"); code != 0 || !strings.Contains(out, "usage") {
		t.Errorf("config show -h: exit %d\n%s", code, out)
	}
}
