package e2e

// Harness of the process-level daemon tests (daemon_*_test.go): the ynagw binary, built
// once per test run by TestDaemonProcess, runs as a subprocess (`ynagw run`) against an
// in-process ynasim; the test reads its JSON logs from stderr and plays desk phones with
// demo.Phone.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/ynagw/ynagw/demo"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

const (
	dpLine     = "14255550100"
	dpAccount  = "dpacct"
	dpClientID = testenv.ClientID
	dpSecret   = testenv.Secret
	dpRedirect = testenv.Redirect
	dpDomain   = "ynagw.test"
	dpFar      = "2065550123"
)

// buildYnagw builds the ynagw binary into dir (once per TestDaemonProcess run).
func buildYnagw(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "ynagw")
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version=e2e-test", "github.com/ynagw/ynagw/cmd/ynagw")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// dpUser is a desk phone account in the generated configuration.
type dpUser struct{ Name, Password string }

// dpConfig is what the generated YAML varies.
type dpConfig struct {
	SimURL, StoreKey string
	Users            []dpUser
	Outbound         []string
	DrainTimeout     string
}

var dpTemplate = template.Must(template.New("cfg").Parse(`sip:
  domain: ` + dpDomain + `
  listen:
    - transport: udp
      bind: 127.0.0.1:0
  digest_algorithms: [MD5]
rtp:
  bind_ip: 127.0.0.1
webrtc:
  allow_loopback: true
  ice_gather_timeout: 2s
yna:
  base_url: {{.SimURL}}
  client_id: ` + dpClientID + `
  client_secret: ` + dpSecret + `
  pop_key_file: pop.pem
  redirect_uri: ` + dpRedirect + `
lines:
  - msisdn: "` + dpLine + `"
    ring: [201]
    outbound: [{{range $i, $o := .Outbound}}{{if $i}}, {{end}}"{{$o}}"{{end}}]
users:
{{- range .Users}}
  - username: "{{.Name}}"
    password: "{{.Password}}"
{{- end}}
timers:
  ring_timeout: 15s
  setup_timeout: 20s
  drain_timeout: {{.DrainTimeout}}
  hangup_timeout: 3s
  rest_timeout: 10s
store:
  path: ynagw.db
  key: {{.StoreKey}}
admin:
  listen: 127.0.0.1:0
log:
  level: info
  format: json
`))

// dpEnv is one installation: a ynasim in this process, a directory with the config, the
// PoP key and the store (with the line already linked through the real link flow).
type dpEnv struct {
	t        *testing.T
	bin, dir string
	sim      *ynasim.Sim
	cfg      dpConfig
	keyBytes []byte
}

func newDPEnv(t *testing.T, bin string) *dpEnv {
	t.Helper()
	e := &dpEnv{t: t, bin: bin, dir: t.TempDir()}
	priv, err := yna.MarshalPrivateKeyPEM(testenv.AppKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "pop.pem"), priv, 0o600); err != nil {
		t.Fatal(err)
	}
	e.sim = testenv.NewSim(t, ynasim.Config{Accounts: []ynasim.Account{{ID: dpAccount, Lines: []string{dpLine}}}})
	e.sim.SetFarEndConfig(farend.Config{AllowLoopback: true})
	sk, err := store.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	e.keyBytes, err = store.ParseKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = dpConfig{SimURL: e.sim.URL(), StoreKey: sk, Outbound: []string{"201"}, DrainTimeout: "20s",
		Users: []dpUser{{"201", "pw-201"}, {"202", "pw-202"}}}
	e.writeConfig()
	e.seedLine()
	return e
}

func (e *dpEnv) configPath() string { return filepath.Join(e.dir, "ynagw.yaml") }

func (e *dpEnv) writeConfig() {
	e.t.Helper()
	var b strings.Builder
	if err := dpTemplate.Execute(&b, e.cfg); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(e.configPath(), []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// seedLine links the account through the real link flow and stores the tokens, as the
// admin link page would have.
func (e *dpEnv) seedLine() {
	e.t.Helper()
	ctx := testenv.Ctx(e.t, 20*time.Second)
	tr := testenv.Link(e.t, testenv.NewClient(e.t, e.sim), dpAccount)
	st := e.openStore()
	defer st.Close()
	if err := st.PutLine(ctx, store.Line{MSISDN: dpLine, AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken,
		ExpiresAt: time.Now().Add(tr.Lifetime())}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *dpEnv) openStore() *store.SQLite {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.OpenSQLite(ctx, filepath.Join(e.dir, "ynagw.db"), e.keyBytes)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// cdrs returns the stored CDRs (newest first).
func (e *dpEnv) cdrs() []store.CDR {
	e.t.Helper()
	st := e.openStore()
	defer st.Close()
	cs, err := st.CDRs(context.Background(), store.CDRFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

// dpProc is one running `ynagw run`.
type dpProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process exited
	code   int
	logsMu sync.Mutex
	logs   []map[string]any
	raw    []string
	wake   chan struct{}
	sip    netip.AddrPort
	admin  string
}

// start runs `ynagw run` and waits until it logged that it started and the line's
// notification channel is open at the simulator.
func (e *dpEnv) start() *dpProc {
	e.t.Helper()
	opened := e.channelSockets()
	p := startDaemon(e.t, e.bin, e.dir, e.configPath())
	started := p.waitLog("ynagw started", 30*time.Second)
	ap, err := netip.ParseAddrPort(fmt.Sprint(started["sip_udp"]))
	if err != nil {
		e.t.Fatalf("sip_udp in %v: %v", started, err)
	}
	p.sip = ap
	if a := p.findLog("admin listening"); a != nil {
		p.admin = fmt.Sprint(a["addr"])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.sim.WaitChannel(ctx, dpAccount, func(ci ynasim.ChannelInfo) bool {
		return ci.SocketsOpen > 0 && ci.SocketsOpened > opened
	}); err != nil {
		e.t.Fatalf("the daemon's notification channel did not open: %v", err)
	}
	return p
}

func (e *dpEnv) channelSockets() int {
	ci, err := e.sim.Channel(dpAccount)
	if err != nil {
		return 0
	}
	return ci.SocketsOpened
}

func (p *dpProc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		_ = json.Unmarshal([]byte(line), &m)
		p.logsMu.Lock()
		p.raw = append(p.raw, line)
		if m != nil {
			p.logs = append(p.logs, m)
		}
		p.logsMu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// findLog returns the first log entry whose msg contains s (nil if none yet).
func (p *dpProc) findLog(s string) map[string]any {
	p.logsMu.Lock()
	defer p.logsMu.Unlock()
	for _, m := range p.logs {
		if msg, _ := m["msg"].(string); strings.Contains(msg, s) {
			return m
		}
	}
	return nil
}

// waitLog waits for a log entry whose msg contains s.
func (p *dpProc) waitLog(s string, d time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.After(d)
	for {
		if m := p.findLog(s); m != nil {
			return m
		}
		select {
		case <-p.wake:
		case <-p.done:
			if m := p.findLog(s); m != nil {
				return m
			}
			p.t.Fatalf("ynagw exited (code %d) before logging %q", p.code, s)
		case <-deadline:
			p.t.Fatalf("ynagw did not log %q within %s", s, d)
		}
	}
}

func (p *dpProc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *dpProc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		p.t.Fatalf("ynagw did not exit within %s", d)
	}
	return 0
}

func (p *dpProc) dumpLogs() {
	p.logsMu.Lock()
	defer p.logsMu.Unlock()
	for _, l := range p.raw {
		p.t.Log(l)
	}
}

// phone starts a demo phone against the process's SIP address.
func (p *dpProc) phone(user, pass string) *demo.Phone {
	p.t.Helper()
	ph, err := demo.NewPhone(user, pass, dpDomain, p.sip)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(ph.Close)
	return ph
}

func dpCtx(t *testing.T, d time.Duration) context.Context { return testenv.Ctx(t, d) }

// connectedCall has user place a call to dpFar and waits for audio both ways; it returns
// the call and the simulator's call id.
func (e *dpEnv) connectedCall(p *dpProc, ph *demo.Phone) (*demo.Call, string) {
	e.t.Helper()
	ctx := dpCtx(e.t, 30*time.Second)
	c, err := ph.Dial(ctx, dpFar, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if c.Code != 200 {
		e.t.Fatalf("call answered %d %s", c.Code, c.Reason)
	}
	id, err := e.sim.WaitCall(ctx, func(ci ynasim.CallInfo) bool {
		return ci.Direction == ynasim.DirectionOutbound && ci.State == ynasim.CallConnected
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.WaitReceived(ctx, 10); err != nil {
		e.t.Fatal(err)
	}
	return c, id
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(dpCtx(t, 10*time.Second), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{}
	defer c.CloseIdleConnections()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// startDaemon runs `ynagw run -config cfgPath` in dir and reads its JSON logs; cleanup
// kills it if still running. dpEnv.start builds on it.
func startDaemon(t *testing.T, bin, dir, cfgPath string) *dpProc {
	t.Helper()
	cmd := exec.Command(bin, "run", "-config", cfgPath)
	cmd.Dir = dir
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &dpProc{t: t, cmd: cmd, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		p.read(stderr)
	}()
	go func() {
		<-readDone
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		if err != nil && p.code == 0 {
			p.code = -1
		}
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
			p.dumpLogs()
		}
	})
	return p
}
