package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ynagw/ynagw/admin"
	"github.com/ynagw/ynagw/internal/cdp"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/internal/testpeer"
	"github.com/ynagw/ynagw/yna/ynasim"
)

const (
	hbUser = "admin"
	hbPass = "admin-pw-hangup"
)

// TestDaemonAdminBrowserHangup (issue 11): a real call through the ynagw binary (demo SIP
// phone → ynagw → ynasim, audio both ways) is listed on the admin page in headless
// Chromium; clicking its Hang up button ends it on both sides: the phone gets BYE, the
// simulator's call is terminated by the client's DELETE /end, and the CDR is closed with
// the reason "hung up by administrator". The page then says so and lists the call no more.
func TestDaemonAdminBrowserHangup(t *testing.T) {
	chromium := testpeer.Require(t, "chromium")
	if testing.Short() {
		t.Skip("builds and runs the ynagw binary")
	}
	bin := buildYnagw(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	e := newDPEnv(t, bin)
	b, err := os.ReadFile(e.configPath())
	if err != nil {
		t.Fatal(err)
	}
	withAuth := strings.Replace(string(b), "admin:\n  listen: 127.0.0.1:0\n",
		"admin:\n  listen: 127.0.0.1:0\n  username: "+hbUser+"\n  password: "+hbPass+"\n", 1)
	if withAuth == string(b) {
		t.Fatal("admin section not found in the generated configuration")
	}
	if err := os.WriteFile(e.configPath(), []byte(withAuth), 0o600); err != nil {
		t.Fatal(err)
	}
	p := e.start()
	if p.admin == "" {
		t.Fatal("no admin address logged")
	}
	public := "http://" + p.admin
	ph := p.phone("201", "pw-201")
	if err := ph.Register(dpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	c, simID := e.connectedCall(p, ph)

	br := cdp.Start(t, chromium)
	pg, err := br.NewPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(public + "/")
	u.User = url.UserPassword(hbUser, hbPass)
	if err := pg.Navigate(ctx, u.String()); err != nil {
		t.Fatal(err)
	}
	// The call's row, with the phone's SIP Call-ID and the simulator's call id.
	type callRow struct{ ID, SIPCallID, YNACallID, State string }
	var row callRow
	waitEval(t, ctx, pg, 15*time.Second, "the call listed on the page", `(() => {
		const tr = document.querySelector('#calls tr[data-call-id]');
		if (!tr) return {};
		const txt = c => (tr.querySelector('.' + c) || {innerText: ""}).innerText.trim();
		return {ID: tr.dataset.callId, SIPCallID: txt('sip-call-id'), YNACallID: txt('yna-call-id'), State: txt('call-state')};
	})()`, &row, func() bool { return row.ID != "" && row.State == "connected" })
	if row.SIPCallID != c.CallID || row.YNACallID != simID {
		t.Errorf("call row %+v, want SIP Call-ID %s and YNA id %s", row, c.CallID, simID)
	}
	// The call table, real ids and all, fits the page (a YNA call id is ~80 characters).
	var overflow float64
	evalT(t, ctx, pg, `document.getElementById('calls').getBoundingClientRect().right - document.documentElement.clientWidth`, &overflow)
	if overflow > 0 {
		t.Errorf("the call table runs %.0f px past the window", overflow)
	}
	png, err := pg.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	saveShot(t, "daemon-admin-call-before-hangup.png", png)

	// Hang up: the CSRF-protected form POSTs, the page comes back with the outcome.
	if err := pg.Act(ctx, `document.querySelector('#calls tr[data-call-id="`+row.ID+`"] button.hangup').click()`); err != nil {
		t.Fatal(err)
	}
	var text string
	evalT(t, ctx, pg, `document.body.innerText`, &text)
	if !strings.Contains(text, "Call "+row.ID+" is hung up.") {
		t.Errorf("page after Hang up:\n%s", text)
	}
	// The page rendered right after the hang-up lists the call no more (not only the next
	// refresh): a call both sides have been told about is not in progress.
	var listed bool
	evalT(t, ctx, pg, `!!document.querySelector('#calls tr[data-call-id="`+row.ID+`"]')`, &listed)
	if listed {
		t.Error("the page says the call is hung up but still lists it")
	}
	png, err = pg.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	saveShot(t, "daemon-admin-call-after-hangup.png", png)

	select {
	case <-c.Ended():
	case <-dpCtx(t, 10*time.Second).Done():
		t.Fatal("the phone got no BYE")
	}
	ci := testenv.WaitState(t, e.sim, simID, ynasim.CallTerminated)
	if !testenv.RESTSucceeded(ci, "end") || ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("sim call: outcome %s, DELETE /end seen %v", ci.Outcome, testenv.RESTSucceeded(ci, "end"))
	}
	var cdr admin.CDRView
	testenv.Eventually(t, 10*time.Second, "the CDR closed", func() bool {
		var cs []admin.CDRView
		if err := json.Unmarshal(adminGet(t, public, "/api/v1/cdrs"), &cs); err != nil {
			t.Fatal(err)
		}
		for _, x := range cs {
			if x.ID == row.ID {
				cdr = x
			}
		}
		return !cdr.EndAt.IsZero()
	})
	if cdr.EndReason != "hung up by administrator" || cdr.Result != "answered" || cdr.YNACallID != simID || cdr.SIPCallID != c.CallID {
		t.Errorf("CDR %+v, want answered, ended 'hung up by administrator'", cdr)
	}
	var calls []admin.CallView
	if err := json.Unmarshal(adminGet(t, public, "/api/v1/calls"), &calls); err != nil || len(calls) != 0 {
		t.Errorf("calls after the hang-up: %+v %v", calls, err)
	}
	var noCalls bool
	waitEval(t, ctx, pg, 10*time.Second, "the page lists no call", `!document.getElementById('no-calls').hidden`, &noCalls,
		func() bool { return noCalls })
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}

// waitEval evaluates expr into out every 100 ms until done() or d passes.
func waitEval(t *testing.T, ctx context.Context, pg *cdp.Page, d time.Duration, what, expr string, out any, done func() bool) {
	t.Helper()
	tk := time.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	deadline := time.After(d)
	for {
		evalT(t, ctx, pg, expr, out)
		if done() {
			return
		}
		select {
		case <-tk.C:
		case <-deadline:
			var text string
			_ = pg.Eval(ctx, `document.body.innerText`, &text)
			t.Fatalf("%s: not within %s (last %+v)\n%s", what, d, out, text)
		}
	}
}

// adminGet GETs path of the admin API with the test's Basic credentials.
func adminGet(t *testing.T, public, path string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(dpCtx(t, 10*time.Second), http.MethodGet, public+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(hbUser, hbPass)
	cl := &http.Client{}
	defer cl.CloseIdleConnections()
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", path, res.Status, body)
	}
	return body
}
