package daemon_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/admin"
	"github.com/ynagw/ynagw/daemon"
	"github.com/ynagw/ynagw/demo"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/yna/ynasim"
)

const apiToken = "test-admin-token"

// apiDo sends method path to the daemon's admin listener with the bearer token and
// returns the status and body.
func apiDo(t *testing.T, d *daemon.Daemon, method, path, token string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+d.AdminAddr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	cl := &http.Client{Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// startCallDaemon starts a linked daemon whose admin API needs apiToken, registers a
// demo SIP phone and places an outbound call; it returns the call (connected in the sim)
// and the sim's id for it.
func startCallDaemon(t *testing.T) (*daemon.Daemon, *ynasim.Sim, *demo.Call, string) {
	t.Helper()
	sim := daemon.SimForTest(t)
	opts := daemon.OptionsForTest(t, sim)
	opts.Admin = daemon.AdminOptions{Listen: "127.0.0.1:0", Token: apiToken}
	d := daemon.StartForTest(t, opts)
	daemon.LinkForTest(t, d, sim)
	ctx := testenv.Ctx(t, 40*time.Second)
	gw, err := netip.ParseAddrPort(d.SIPAddr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	ph, err := demo.NewPhone("201", "pw", "ynagw.test", gw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ph.Close)
	if err := ph.Register(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := ph.Dial(ctx, dialled, nil)
	if err != nil || c.Code != 200 {
		t.Fatalf("outbound call: %v (code %d)", err, c.Code)
	}
	out := testenv.WaitCall(t, sim, ynasim.DirectionOutbound, 10*time.Second)
	testenv.WaitState(t, sim, out, ynasim.CallConnected)
	return d, sim, c, out
}

// TestAdminAPICallsHangupCDRs: with a real call through the daemon (demo SIP phone →
// ynagw → ynasim), GET /api/v1/calls lists it with both ids, DELETE /api/v1/calls/{id}
// ends it through the normal end path (the phone gets BYE, ynasim DELETE /end), the
// CDR records it, GET /api/v1/cdrs lists it in JSON and CSV, and
// /api/v1/registrations lists the phone. Everything needs the admin token.
func TestAdminAPICallsHangupCDRs(t *testing.T) {
	d, sim, c, simID := startCallDaemon(t)

	if code, _ := apiDo(t, d, http.MethodGet, "/api/v1/calls", ""); code != http.StatusUnauthorized {
		t.Errorf("calls without the token: %d, want 401", code)
	}
	if code, _ := apiDo(t, d, http.MethodDelete, "/api/v1/calls/x", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("hangup with a wrong token: %d, want 401", code)
	}

	var calls []admin.CallView
	// The call goroutine publishes "connected" just after it sent the 200 OK: wait for it.
	testenv.Eventually(t, 10*time.Second, "the call listed connected with its YNA id", func() bool {
		code, b := apiDo(t, d, http.MethodGet, "/api/v1/calls", apiToken)
		if code != http.StatusOK {
			t.Fatalf("GET /api/v1/calls: %d %s", code, b)
		}
		if err := json.Unmarshal(b, &calls); err != nil {
			t.Fatal(err)
		}
		return len(calls) == 1 && calls[0].YNACallID != "" && calls[0].State == "connected"
	})
	cv := calls[0]
	if cv.SIPCallID != c.CallID || cv.YNACallID != simID || cv.Direction != "outbound" || cv.Line != daemon.LineForTest ||
		!strings.HasSuffix(cv.Remote, dialled) || cv.User != "201" || cv.State != "connected" || cv.ID == "" {
		t.Errorf("listed call %+v; want SIP Call-ID %s, YNA id %s, user 201, remote %s", cv, c.CallID, simID, dialled)
	}

	code, b := apiDo(t, d, http.MethodGet, "/api/v1/registrations", apiToken)
	var regs []admin.PhoneView
	if code != http.StatusOK || json.Unmarshal(b, &regs) != nil || len(regs) != 1 || !strings.Contains(regs[0].AOR, "201@") {
		t.Errorf("registrations: %d %s", code, b)
	}

	if code, b := apiDo(t, d, http.MethodDelete, "/api/v1/calls/no-such-call", apiToken); code != http.StatusNotFound {
		t.Errorf("hangup of an unknown id: %d %s, want 404", code, b)
	}
	if code, b := apiDo(t, d, http.MethodDelete, "/api/v1/calls/"+cv.ID, apiToken); code != http.StatusOK {
		t.Fatalf("DELETE /api/v1/calls/%s: %d %s", cv.ID, code, b)
	}
	// The answer comes once the network side is told: DELETE /end already reached the sim.
	if ci, ok := sim.Call(simID); !ok || !testenv.RESTSucceeded(ci, "end") {
		t.Errorf("DELETE /api/v1/calls returned before DELETE /end reached the sim: %+v", ci.Events)
	}
	select {
	case <-c.Ended():
	case <-testenv.Ctx(t, 10*time.Second).Done():
		t.Fatal("the phone got no BYE")
	}
	ci := testenv.WaitState(t, sim, simID, ynasim.CallTerminated)
	if !testenv.RESTSucceeded(ci, "end") || ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("sim call after hangup: outcome %s, DELETE /end seen %v", ci.Outcome, testenv.RESTSucceeded(ci, "end"))
	}

	var cdrs []admin.CDRView
	testenv.Eventually(t, 10*time.Second, "the CDR closed", func() bool {
		code, b := apiDo(t, d, http.MethodGet, "/api/v1/cdrs", apiToken)
		if code != http.StatusOK {
			t.Fatalf("GET /api/v1/cdrs: %d %s", code, b)
		}
		if err := json.Unmarshal(b, &cdrs); err != nil {
			t.Fatal(err)
		}
		return len(cdrs) == 1 && !cdrs[0].EndAt.IsZero()
	})
	if r := cdrs[0]; r.ID != cv.ID || r.SIPCallID != c.CallID || r.YNACallID != simID || r.Result != "answered" || r.AnswerAt.IsZero() {
		t.Errorf("CDR %+v", r)
	}
	if code, b := apiDo(t, d, http.MethodGet, "/api/v1/calls", apiToken); code != http.StatusOK || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("calls after hangup: %d %s", code, b)
	}

	code, b = apiDo(t, d, http.MethodGet, "/api/v1/cdrs?format=csv", apiToken)
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if code != http.StatusOK || err != nil || len(rows) != 2 || strings.Join(rows[0], ",") != strings.Join(admin.CDRCSVHeader, ",") ||
		rows[1][0] != cv.ID || rows[1][5] != c.CallID || rows[1][6] != simID {
		t.Errorf("CSV: %d %v\n%s", code, err, b)
	}
	if code, _ := apiDo(t, d, http.MethodGet, "/api/v1/cdrs?format=xml", apiToken); code != http.StatusBadRequest {
		t.Errorf("format=xml: %d, want 400", code)
	}
}
