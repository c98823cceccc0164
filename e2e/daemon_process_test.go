package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ynagw/ynagw/daemon"
	"github.com/ynagw/ynagw/demo"
	"github.com/ynagw/ynagw/internal/testpeer"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// TestDaemonProcess builds the ynagw binary once and runs the process-level tests
// against it: demo, check-config, version, SIGTERM drain, crash recovery, SIGHUP reload
// and a promtool check of /metrics during a call.
func TestDaemonProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the ynagw binary")
	}
	bin := buildYnagw(t, t.TempDir())
	t.Run("Version", func(t *testing.T) { testVersion(t, bin) })
	t.Run("CheckConfig", func(t *testing.T) { testCheckConfig(t, bin) })
	t.Run("Demo", func(t *testing.T) { testDemo(t, bin) })
	t.Run("Drain", func(t *testing.T) { testDrain(t, bin) })
	t.Run("DrainTimeout", func(t *testing.T) { testDrainTimeout(t, bin) })
	t.Run("Interrupt", func(t *testing.T) { testInterrupt(t, bin) })
	t.Run("Lines", func(t *testing.T) { testLines(t, bin) })
	t.Run("CrashRecovery", func(t *testing.T) { testCrashRecovery(t, bin) })
	t.Run("Reload", func(t *testing.T) { testReload(t, bin) })
	t.Run("Metrics", func(t *testing.T) { testMetrics(t, bin) })
}

func runBin(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("%v: %v", args, err)
		}
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

func testVersion(t *testing.T, bin string) {
	out, code := runBin(t, bin, "version")
	if code != 0 || strings.TrimSpace(out) != "ynagw e2e-test" {
		t.Errorf("version: exit %d, output %q", code, out)
	}
	if _, code := runBin(t, bin, "no-such-command"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

func testCheckConfig(t *testing.T, bin string) {
	e := newDPEnv(t, bin)
	out, code := runBin(t, bin, "check-config", "-config", e.configPath())
	if code != 0 || strings.TrimSpace(out) != "OK" {
		t.Errorf("good config: exit %d, output %q", code, out)
	}
	bad := `sip:
  domain: "bad domain"
yna:
  client_id: x
  client_secret: y
  pop_key_file: pop.pem
  redirect_uri: http://127.0.0.1:8080/link/callback
lines:
  - msisdn: "12"
timers:
  ring_timeout: 10ms
store:
  path: x.db
log:
  level: loud
`
	p := filepath.Join(e.dir, "bad.yaml")
	if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = runBin(t, bin, "check-config", "-config", p)
	if code != 1 {
		t.Errorf("bad config: exit %d, want 1\n%s", code, out)
	}
	for _, field := range []string{"sip.domain", "lines[0].msisdn", "timers.ring_timeout", "store.key", "log.level"} {
		if !strings.Contains(out, field) {
			t.Errorf("bad config output does not name %s:\n%s", field, out)
		}
	}
	if err := os.WriteFile(p, []byte("sip:\n  nonsense: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code = runBin(t, bin, "check-config", "-config", p); code != 1 || !strings.Contains(out, "nonsense") {
		t.Errorf("unknown key: exit %d, output %q", code, out)
	}
}

func testDemo(t *testing.T, bin string) {
	out, code := runBin(t, bin, "demo")
	if code != 0 {
		t.Fatalf("demo exit %d:\n%s", code, out)
	}
	steps := []string{
		"ynasim (simulated T-Mobile YNA) listening",
		"gateway started: SIP udp 127.0.0.1:",
		"link approved",
		"line 14255550100 linked",
		"notification channel of line 14255550100 connected",
		"phone registered as 201@ynagw.local",
		"phone dials 2065550123",
		"ringing:",
		"connected (200 OK)",
		"audio both ways",
		"hold: phone re-INVITE a=sendonly answered a=recvonly",
		"resume: phone re-INVITE a=sendrecv answered a=sendrecv",
		"audio both ways",
		"phone hung up (BYE); network call ended: endedByClient",
		"incoming call from 12065550199",
		"phone rang (180) and answered (200 OK)",
		"audio both ways",
		"phone hung up (BYE)",
		"CDR outbound",
		"CDR inbound",
		"summary:",
		"demo finished OK",
	}
	rest := out
	for _, s := range steps {
		i := strings.Index(rest, s)
		if i < 0 {
			t.Fatalf("demo output lacks %q (in order):\n%s", s, out)
		}
		rest = rest[i+len(s):]
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "[") || !strings.Contains(l, "s] ") {
			t.Errorf("line without a time stamp: %q", l)
		}
	}
}

// testDrain: SIGTERM during a call; a new INVITE gets 503; the call finishes; exit 0;
// the CDR is closed.
func testDrain(t *testing.T, bin string) {
	e := newDPEnv(t, bin)
	p := e.start()
	ph := p.phone("201", "pw-201")
	c, id := e.connectedCall(p, ph)

	p.signal(syscall.SIGTERM)
	p.waitLog("draining: new calls are refused", 10*time.Second)
	ph2 := p.phone("201", "pw-201")
	c2, err := ph2.Dial(dpCtx(t, 20*time.Second), dpFar, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Code != 503 || c2.RetryAfter == "" {
		t.Errorf("INVITE while draining answered %d %s (Retry-After %q), want 503 with Retry-After", c2.Code, c2.Reason, c2.RetryAfter)
	}
	select {
	case <-p.done:
		t.Fatal("ynagw exited while a call was active")
	default:
	}
	if err := c.WaitReceived(dpCtx(t, 10*time.Second), 60); err != nil {
		t.Errorf("media stopped during the drain: %v", err)
	}
	if err := c.Hangup(dpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit code %d after the drain, want 0", code)
	}
	p.findLog("drained: no active calls")
	if err := e.sim.WaitCallState(dpCtx(t, 10*time.Second), id, ynasim.CallTerminated); err != nil {
		t.Errorf("sim call: %v", err)
	}
	var answered int
	for _, cdr := range e.cdrs() {
		if cdr.Open() {
			t.Errorf("CDR left open: %+v", cdr)
		}
		if cdr.YNACallID == id && cdr.Result == "answered" && !cdr.AnswerAt.IsZero() {
			answered++
		}
	}
	if answered != 1 {
		t.Errorf("want 1 answered CDR for %s, CDRs: %+v", id, e.cdrs())
	}
}

// testCrashRecovery: kill -9 during a call; the restarted daemon ends the orphaned YNA
// call (DELETE /end) and closes its CDR as orphaned.
func testCrashRecovery(t *testing.T, bin string) {
	e := newDPEnv(t, bin)
	p := e.start()
	ph := p.phone("201", "pw-201")
	_, id := e.connectedCall(p, ph)
	p.signal(syscall.SIGKILL)
	p.wait(10 * time.Second)

	var open int
	for _, c := range e.cdrs() {
		if c.Open() {
			open++
		}
	}
	if open != 1 {
		t.Fatalf("want 1 open CDR after the crash, have %d: %+v", open, e.cdrs())
	}
	p2 := e.start()
	p2.waitLog("orphaned call closed", 10*time.Second)
	var orphaned []string
	for _, c := range e.cdrs() {
		if c.Open() {
			t.Errorf("CDR still open after restart: %+v", c)
		}
		if c.Result == daemon.ResultOrphaned && c.EndReason == daemon.ReasonRestart {
			orphaned = append(orphaned, c.YNACallID)
		}
	}
	if len(orphaned) != 1 {
		t.Fatalf("want 1 orphaned CDR, CDRs: %+v", e.cdrs())
	}
	if orphaned[0] != id {
		// bridge records the YNA call id durably (CallRecorder.Update) before the answer.
		t.Errorf("orphaned CDR has YNA call id %q, want %q", orphaned[0], id)
	}
	if err := e.sim.WaitCallState(dpCtx(t, 10*time.Second), id, ynasim.CallTerminated); err != nil {
		t.Errorf("the orphaned YNA call was not ended: %v", err)
	}
	ci, _ := e.sim.Call(id)
	if len(ci.EventsOf("rest", "end")) == 0 {
		t.Errorf("no DELETE /end seen by ynasim: %+v", ci.Events)
	}
	p2.signal(syscall.SIGINT)
	if code := p2.wait(20 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGINT", code)
	}
}

// testReload: SIGHUP applies routing (a second user may call out) without dropping the
// active call; a password change needs the SIP server's user hook.
func testReload(t *testing.T, bin string) {
	e := newDPEnv(t, bin)
	p := e.start()
	ph := p.phone("201", "pw-201")
	c, id := e.connectedCall(p, ph)

	ph202 := p.phone("202", "pw-202")
	before, err := ph202.Dial(dpCtx(t, 20*time.Second), dpFar, nil)
	if err != nil {
		t.Fatal(err)
	}
	if before.Code != 403 {
		t.Fatalf("202 before reload: %d %s, want 403", before.Code, before.Reason)
	}

	// A broken file is refused and the running configuration kept.
	if err := os.WriteFile(e.configPath(), []byte("sip: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	p.waitLog("reload: configuration rejected", 10*time.Second)

	e.cfg.Outbound = []string{"201", "202"}
	e.cfg.Users[0].Password = "pw-201-new"
	e.writeConfig()
	p.signal(syscall.SIGHUP)
	p.waitLog("configuration reloaded", 10*time.Second)

	after, err := ph202.Dial(dpCtx(t, 30*time.Second), "2065550124", nil)
	if err != nil {
		t.Fatal(err)
	}
	if after.Code != 200 {
		t.Errorf("202 after reload: %d %s, want 200", after.Code, after.Reason)
	} else if err := after.Hangup(dpCtx(t, 10*time.Second)); err != nil {
		t.Error(err)
	}
	// The call placed before the reload is still up, media flowing both ways.
	_, r0, _ := c.Counters()
	if err := c.WaitReceived(dpCtx(t, 10*time.Second), r0+25); err != nil {
		t.Errorf("active call after reload: %v", err)
	}
	if ci, _ := e.sim.Call(id); ci.State != ynasim.CallConnected {
		t.Errorf("active call state %s after reload", ci.State)
	}
	if err := c.Hangup(dpCtx(t, 10*time.Second)); err != nil {
		t.Error(err)
	}

	t.Run("NewPassword", func(t *testing.T) {
		newPh := p.phone("201", "pw-201-new")
		if err := newPh.Register(dpCtx(t, 10*time.Second)); err != nil {
			t.Errorf("new password after reload: %v", err)
		}
		oldPh := p.phone("201", "pw-201")
		if err := oldPh.Register(dpCtx(t, 10*time.Second)); err == nil {
			t.Error("old password still accepted after reload")
		}
	})

	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// testMetrics scrapes /metrics during a call and checks it with promtool.
func testMetrics(t *testing.T, bin string) {
	promtool := testpeer.Require(t, "promtool")
	e := newDPEnv(t, bin)
	p := e.start()
	if p.admin == "" {
		t.Fatal("no admin address logged")
	}
	ph := p.phone("201", "pw-201")
	c, _ := e.connectedCall(p, ph)
	body := httpGet(t, "http://"+p.admin+"/metrics")
	for _, want := range []string{`ynagw_calls_active{direction="outbound"} 1`, "ynagw_up 1", "ynagw_build_info",
		`ynagw_sip_requests_total{method="INVITE"}`, `ynagw_sip_responses_total{code_class="2xx"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	if ready := httpGet(t, "http://"+p.admin+"/readyz"); !strings.Contains(ready, "ready") {
		t.Errorf("/readyz: %q", ready)
	}
	if err := c.Hangup(dpCtx(t, 10*time.Second)); err != nil {
		t.Error(err)
	}
	p.signal(syscall.SIGINT)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// forcedEnd checks that the gateway ended an active call itself: the phone got a BYE,
// ynasim saw DELETE /end, the process exited 0 and the CDR is closed.
func forcedEnd(t *testing.T, e *dpEnv, p *dpProc, c *demo.Call, id string) {
	t.Helper()
	select {
	case <-c.Ended():
	case <-time.After(30 * time.Second):
		t.Fatal("the phone got no BYE")
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if err := e.sim.WaitCallState(dpCtx(t, 10*time.Second), id, ynasim.CallTerminated); err != nil {
		t.Fatalf("sim call: %v", err)
	}
	if ci, _ := e.sim.Call(id); len(ci.EventsOf("rest", "end")) == 0 || ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("no DELETE /end (outcome %s)", ci.Outcome)
	}
	cs := e.cdrs()
	if len(cs) != 1 || cs[0].Open() || cs[0].YNACallID != id || cs[0].AnswerAt.IsZero() {
		t.Errorf("CDRs %+v", cs)
	}
}

// testDrainTimeout: a call still up when the drain timeout expires is ended properly.
func testDrainTimeout(t *testing.T, bin string) {
	e := newDPEnv(t, bin)
	e.cfg.DrainTimeout = "1s"
	e.writeConfig()
	p := e.start()
	c, id := e.connectedCall(p, p.phone("201", "pw-201"))
	p.signal(syscall.SIGTERM)
	p.waitLog("drain timeout: ending the remaining calls", 15*time.Second)
	forcedEnd(t, e, p, c, id)
}

// testInterrupt: SIGINT ends active calls at once (still BYE + /end) and exits 0.
func testInterrupt(t *testing.T, bin string) {
	e := newDPEnv(t, bin)
	p := e.start()
	c, id := e.connectedCall(p, p.phone("201", "pw-201"))
	p.signal(syscall.SIGINT)
	forcedEnd(t, e, p, c, id)
	if p.findLog("draining") != nil {
		t.Error("SIGINT drained")
	}
}

// testLines: `ynagw lines` asks the running daemon's admin API (credentials from the
// configuration) and prints the linked line with its channel.
func testLines(t *testing.T, bin string) {
	e := newDPEnv(t, bin)
	b, err := os.ReadFile(e.configPath())
	if err != nil {
		t.Fatal(err)
	}
	withAuth := strings.Replace(string(b), "admin:\n  listen: 127.0.0.1:0\n", "admin:\n  listen: 127.0.0.1:0\n  username: admin\n  password: admin-pw\n", 1)
	if withAuth == string(b) {
		t.Fatal("admin section not found in the generated configuration")
	}
	if err := os.WriteFile(e.configPath(), []byte(withAuth), 0o600); err != nil {
		t.Fatal(err)
	}
	p := e.start()
	out, code := runBin(t, bin, "lines", "-config", e.configPath(), "-addr", p.admin)
	if code != 0 || !strings.Contains(out, "HEALTH") || !strings.Contains(out, dpLine) || !strings.Contains(out, "linked") {
		t.Errorf("lines: exit %d\n%s", code, out)
	}
	p.signal(syscall.SIGTERM)
	p.wait(30 * time.Second)
}
