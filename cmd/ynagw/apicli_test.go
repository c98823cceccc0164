package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ynagw/ynagw/demo"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/internal/ynagwproc"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// seededInstall writes a configuration like ynagwproc.Install whose store already holds
// the line linked through the sim's real link flow; it returns the configuration's path.
func seededInstall(t *testing.T, dir string, sim *ynasim.Sim) string {
	t.Helper()
	s := ynagwproc.NewSecrets(t)
	db := filepath.Join(dir, "ynagw.db")
	cfg := filepath.Join(dir, "ynagw.yaml")
	text := ynagwproc.Config(sim.URL(), db, ynagwproc.InlineSecrets(t, dir, s))
	withOut := strings.Replace(text, "    ring: [201]\n", "    ring: [201]\n    outbound: [\"201\"]\n", 1)
	if withOut == text {
		t.Fatal("lines[0].ring not found in the generated configuration")
	}
	if err := os.WriteFile(cfg, []byte(withOut), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := store.ParseKey(s.StoreKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Ctx(t, 20*time.Second)
	st, err := store.OpenSQLite(ctx, db, key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	yc := testenv.NewClient(t, sim)
	tr := testenv.Link(t, yc, ynagwproc.Account)
	yc.CloseIdleConnections()
	if err := st.PutLine(ctx, store.Line{MSISDN: ynagwproc.Line, AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken,
		ExpiresAt: time.Now().Add(tr.Lifetime())}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestAPICommands: against a running `ynagw run` (ynasim as T-Mobile, a demo SIP phone
// on loopback) with a call in progress, `ynagw calls` lists it with both ids, `ynagw
// registrations` the phone, `ynagw hangup ID` ends it (the phone gets BYE, the sim the
// DELETE /end) and `ynagw cdrs` (table and -csv) shows its record; the credentials come
// from -config (Basic), a wrong -token is refused (exit 1); -h exits 0 on each.
func TestAPICommands(t *testing.T) {
	bin := testBin(t)
	for _, c := range []string{"calls", "registrations", "hangup", "cdrs"} {
		if out, code := ynagwproc.RunOnce(t, bin, c, "-h"); code != 0 || !strings.Contains(out, "usage: ynagw "+c) {
			t.Errorf("%s -h: exit %d, output %q", c, code, out)
		}
	}
	sim := ynagwproc.NewSim(t)
	sim.SetFarEndConfig(farend.Config{AllowLoopback: true})
	cfg := seededInstall(t, t.TempDir(), sim)
	p := ynagwproc.Run(t, bin, cfg)
	adm := p.Started(30 * time.Second)
	started := p.Logs("ynagw started")[0]
	p.WaitLog("notification channel open", 1, 20*time.Second)
	gw, err := netip.ParseAddrPort(fmt.Sprint(started["sip_udp"]))
	if err != nil {
		t.Fatalf("SIP address in %v: %v", started, err)
	}
	ctx := testenv.Ctx(t, 60*time.Second)
	ph, err := demo.NewPhone("201", "pw-201", "ynagw.test", gw)
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	if err := ph.Register(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := ph.Dial(ctx, "2065550123", nil)
	if err != nil || c.Code != 200 {
		t.Fatalf("outbound call: %v (code %d)", err, c.Code)
	}
	simID := testenv.WaitCall(t, sim, ynasim.DirectionOutbound, 10*time.Second)
	testenv.WaitState(t, sim, simID, ynasim.CallConnected)

	api := []string{"-config", cfg, "-addr", adm}
	run := func(args ...string) (string, int) {
		return ynagwproc.RunOnce(t, bin, append(args[:1:1], append(api, args[1:]...)...)...)
	}

	var out string
	var code int
	testenv.Eventually(t, 10*time.Second, "ynagw calls shows the YNA call id", func() bool {
		out, code = run("calls")
		return code == 0 && strings.Contains(out, simID)
	})
	if !strings.Contains(out, c.CallID) || !strings.Contains(out, "SIP CALL-ID") || !strings.Contains(out, "connected") ||
		!strings.Contains(out, "201") || !strings.Contains(out, ynagwproc.Line) {
		t.Errorf("ynagw calls:\n%s", out)
	}
	var id string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, c.CallID) {
			id = strings.Fields(l)[0]
		}
	}
	if out, code := run("calls", "-json"); code != 0 || !json.Valid([]byte(out)) || !strings.Contains(out, `"ynaCallId":"`+simID+`"`) {
		t.Errorf("ynagw calls -json: exit %d\n%s", code, out)
	}
	if out, code := run("registrations"); code != 0 || !strings.Contains(out, "201@ynagw.test") {
		t.Errorf("ynagw registrations: exit %d\n%s", code, out)
	}
	if out, code := ynagwproc.RunOnce(t, bin, "calls", "-addr", adm, "-token", "wrong"); code != 1 || !strings.Contains(out, "refused the credentials") {
		t.Errorf("calls with a wrong token: exit %d\n%s", code, out)
	}
	if out, code := run("hangup"); code != 2 {
		t.Errorf("hangup without an id: exit %d\n%s", code, out)
	}
	if out, code := run("hangup", "no-such-call"); code != 1 || !strings.Contains(out, "404") {
		t.Errorf("hangup of an unknown id: exit %d\n%s", code, out)
	}
	if out, code := run("hangup", id); code != 0 {
		t.Fatalf("ynagw hangup %s: exit %d\n%s", id, code, out)
	}
	select {
	case <-c.Ended():
	case <-ctx.Done():
		t.Fatal("the phone got no BYE")
	}
	ci := testenv.WaitState(t, sim, simID, ynasim.CallTerminated)
	if !testenv.RESTSucceeded(ci, "end") {
		t.Errorf("no DELETE /end at the sim: %+v", ci.Events)
	}
	testenv.Eventually(t, 10*time.Second, "ynagw cdrs shows the ended call", func() bool {
		out, code = run("cdrs")
		return code == 0 && strings.Contains(out, id) && strings.Contains(out, "answered") && !strings.Contains(out, "open")
	})
	if !strings.Contains(out, simID) || !strings.Contains(out, c.CallID) {
		t.Errorf("ynagw cdrs:\n%s", out)
	}
	if out, code := run("cdrs", "-csv"); code != 0 || !strings.HasPrefix(out, "id,direction,line,") || !strings.Contains(out, id+",outbound,") {
		t.Errorf("ynagw cdrs -csv: exit %d\n%s", code, out)
	}
	if out, code := run("calls"); code != 0 || !strings.Contains(out, "no calls in progress") {
		t.Errorf("ynagw calls after the hangup: exit %d\n%s", code, out)
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}
