// Package ynagwproc is test support for tests that run the built ynagw binary (cmd/ynagw,
// systemd): it builds the binary, writes a minimal installation against an in-process
// ynasim, starts `ynagw run` and reads its JSON log lines so a test can wait for one
// (never sleep). Only tests import it.
package ynagwproc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// Line and Account of the simulator NewSim starts.
const (
	Line    = "14255550100"
	Account = "opsacct"
)

// Build runs `go build [args] -o dir/ynagw ./cmd/ynagw` and returns the binary's path.
func Build(t testing.TB, dir string, args ...string) string {
	t.Helper()
	bin := filepath.Join(dir, "ynagw")
	a := append([]string{"build"}, args...)
	a = append(a, "-o", bin, "github.com/ynagw/ynagw/cmd/ynagw")
	cmd := exec.Command("go", a...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(a, " "), err, out)
	}
	return bin
}

// NewSim starts a ynasim with one account holding Line (closed on cleanup).
func NewSim(t testing.TB) *ynasim.Sim {
	t.Helper()
	return testenv.NewSim(t, ynasim.Config{Accounts: []ynasim.Account{{ID: Account, Lines: []string{Line}}}})
}

// Secrets are the secret values of an installation (Install writes them).
type Secrets struct {
	ClientSecret, StoreKey, AdminPassword string
	PoPKeyPEM                             []byte
}

// NewSecrets returns the test app's secrets and a fresh store key.
func NewSecrets(t testing.TB) Secrets {
	t.Helper()
	pem, err := yna.MarshalPrivateKeyPEM(testenv.AppKey())
	if err != nil {
		t.Fatal(err)
	}
	k, err := store.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return Secrets{ClientSecret: testenv.Secret, StoreKey: k, AdminPassword: "admin-pw", PoPKeyPEM: pem}
}

// Config is a minimal configuration against sim: SIP UDP and admin on 127.0.0.1 with
// ephemeral ports, one line (not linked), one user, the store at storePath; s gives each
// secret's YAML line (see InlineSecrets).
func Config(simURL, storePath string, s SecretRefs) string {
	return fmt.Sprintf(`sip:
  domain: ynagw.test
  listen:
    - transport: udp
      bind: 127.0.0.1:0
rtp:
  bind_ip: 127.0.0.1
webrtc:
  allow_loopback: true
yna:
  base_url: %s
  client_id: %s
  %s
  %s
  redirect_uri: %s
lines:
  - msisdn: "%s"
    ring: [201]
users:
  - username: "201"
    password: pw-201
store:
  path: %s
  %s
admin:
  listen: 127.0.0.1:0
  username: admin
  %s
log:
  level: info
  format: json
`, simURL, testenv.ClientID, s.ClientSecret, s.PoPKey, testenv.Redirect, Line, storePath, s.StoreKey, s.AdminPassword)
}

// SecretRefs are the YAML key: value lines of each secret in Config.
type SecretRefs struct{ ClientSecret, PoPKey, StoreKey, AdminPassword string }

// InlineSecrets writes the PoP key as pop.pem in dir and returns the references: the
// other secrets inline.
func InlineSecrets(t testing.TB, dir string, s Secrets) SecretRefs {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "pop.pem"), s.PoPKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return SecretRefs{
		ClientSecret:  "client_secret: " + s.ClientSecret,
		PoPKey:        "pop_key_file: pop.pem",
		StoreKey:      "key: " + s.StoreKey,
		AdminPassword: "password: " + s.AdminPassword,
	}
}

// Install writes dir/ynagw.yaml (mode 0600, inline secrets, store dir/ynagw.db) and
// returns its path.
func Install(t testing.TB, dir, simURL string) string {
	t.Helper()
	p := filepath.Join(dir, "ynagw.yaml")
	cfg := Config(simURL, filepath.Join(dir, "ynagw.db"), InlineSecrets(t, dir, NewSecrets(t)))
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Proc is one running ynagw process whose stderr is read as JSON log lines.
type Proc struct {
	t    testing.TB
	Cmd  *exec.Cmd
	done chan struct{}
	code int

	mu   sync.Mutex
	logs []map[string]any
	raw  []string
	wake chan struct{}
}

// Start starts cmd (stdout discarded unless set, stderr read as log lines); on cleanup
// it is killed if still running and, when the test failed, its output is logged.
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{t: t, Cmd: cmd, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		p.read(stderr)
	}()
	go func() {
		<-readDone
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s %q output:\n%s", cmd.Path, cmd.Args[1:], p.Output())
		}
	})
	return p
}

// Run starts `bin run -config cfg` in the config's directory.
func Run(t testing.TB, bin, cfg string, env ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, "run", "-config", cfg)
	cmd.Dir = filepath.Dir(cfg)
	cmd.Env = append(os.Environ(), env...)
	return Start(t, cmd)
}

func (p *Proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		_ = json.Unmarshal([]byte(line), &m)
		p.mu.Lock()
		p.raw = append(p.raw, line)
		if m != nil {
			p.logs = append(p.logs, m)
		}
		p.mu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Logs returns every log entry whose msg contains s, oldest first.
func (p *Proc) Logs(s string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, m := range p.logs {
		if msg, _ := m["msg"].(string); strings.Contains(msg, s) {
			out = append(out, m)
		}
	}
	return out
}

// Output is everything the process wrote to stderr so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.raw, "\n")
}

// WaitLog waits for the n-th (1-based) log entry whose msg contains s and returns it;
// the test fails when the process exits first or d passes.
func (p *Proc) WaitLog(s string, n int, d time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if ls := p.Logs(s); len(ls) >= n {
			return ls[n-1]
		}
		select {
		case <-p.wake:
		case <-p.done:
			if ls := p.Logs(s); len(ls) >= n {
				return ls[n-1]
			}
			p.t.Fatalf("ynagw exited (code %d) before logging %q (#%d)", p.code, s, n)
		case <-deadline.C:
			p.t.Fatalf("ynagw did not log %q (#%d) within %s", s, n, d)
		}
	}
}

// WaitLogOrExit waits up to d for a log entry whose msg contains s or for the process
// to exit, whichever comes first: it returns the entry (nil if the process exited
// without it) and whether it exited.
func (p *Proc) WaitLogOrExit(s string, d time.Duration) (map[string]any, bool) {
	p.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if ls := p.Logs(s); len(ls) > 0 {
			return ls[0], false
		}
		select {
		case <-p.wake:
		case <-p.done:
			if ls := p.Logs(s); len(ls) > 0 {
				return ls[0], true
			}
			return nil, true
		case <-deadline.C:
			p.t.Fatalf("ynagw neither logged %q nor exited within %s", s, d)
		}
	}
}

// Code is the exit code (valid once Done is closed).
func (p *Proc) Code() int {
	<-p.done
	return p.code
}

// Started waits for "ynagw started" and returns the admin listener's address.
func (p *Proc) Started(d time.Duration) (admin string) {
	p.t.Helper()
	p.WaitLog("ynagw started", 1, d)
	if ls := p.Logs("admin listening"); len(ls) > 0 {
		return fmt.Sprint(ls[0]["addr"])
	}
	return ""
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits up to d for the process to exit and returns its exit code.
func (p *Proc) Wait(d time.Duration) int {
	p.t.Helper()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return p.code
	case <-t.C:
		p.t.Fatalf("ynagw did not exit within %s", d)
	}
	return 0
}

// Done is closed when the process exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// RunOnce runs bin with args to completion and returns its combined output and exit code.
func RunOnce(t testing.TB, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("%s %v: %v", bin, args, err)
		}
	}
	return out.String(), cmd.ProcessState.ExitCode()
}
