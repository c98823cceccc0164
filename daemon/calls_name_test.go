package daemon_test

import (
	"encoding/json"
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

// TestCallsListRemoteName (issue 11): an incoming call's caller name (the invitation's
// originatorName, control characters and quotes dropped) is listed with the caller's
// number in GET /api/v1/calls (remoteName) and on the admin page's call table.
func TestCallsListRemoteName(t *testing.T) {
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
	const caller = "12065550177"
	simID, err := sim.InjectCallWith(ctx, ynasim.InboundCall{Line: daemon.LineForTest, From: caller, Name: "Alice \"Q\"\x07 Example"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ph.Incoming():
	case <-ctx.Done():
		t.Fatal("the phone was not rung")
	}
	testenv.WaitState(t, sim, simID, ynasim.CallConnected)
	var calls []admin.CallView
	testenv.Eventually(t, 10*time.Second, "the inbound call listed", func() bool {
		code, b := apiDo(t, d, http.MethodGet, "/api/v1/calls", apiToken)
		if code != http.StatusOK || json.Unmarshal(b, &calls) != nil {
			t.Fatalf("GET /api/v1/calls: %d %s", code, b)
		}
		return len(calls) == 1 && calls[0].State == "connected"
	})
	if c := calls[0]; c.Direction != "inbound" || !strings.HasSuffix(c.Remote, caller[1:]) || c.RemoteName != "Alice Q Example" {
		t.Errorf("listed call %+v, want remote %s named %q", c, caller, "Alice Q Example")
	}
	code, page := apiDo(t, d, http.MethodGet, "/", apiToken)
	if code != http.StatusOK || !strings.Contains(string(page), `<td class="remote-name">Alice Q Example</td>`) {
		t.Errorf("admin page %d lacks the caller name:\n%s", code, page)
	}
}
