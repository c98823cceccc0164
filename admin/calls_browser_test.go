package admin

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/cdp"
	"github.com/ynagw/ynagw/internal/testpeer"
)

// hangupBackend is fakeBackend with CallHanger and CDRLister: a hung-up call leaves
// Calls and becomes a CDR.
type hangupBackend struct {
	*fakeBackend
	hmu    sync.Mutex
	hungUp []string
	cdrs   []CDRView
}

func (h *hangupBackend) Hangup(_ context.Context, id string) error {
	h.mu.Lock()
	var kept []CallView
	found := false
	for _, c := range h.calls {
		if c.ID == id {
			found = true
			continue
		}
		kept = append(kept, c)
	}
	h.calls = kept
	h.mu.Unlock()
	if !found {
		return ErrNoSuchCall
	}
	h.hmu.Lock()
	defer h.hmu.Unlock()
	h.hungUp = append(h.hungUp, id)
	h.cdrs = append([]CDRView{{ID: id, Direction: "outbound", Line: "14255550100", To: "12065550123",
		SetupAt: time.Now().Add(-time.Minute), EndAt: time.Now(), Result: "answered", EndReason: "hung up from the admin page"}}, h.cdrs...)
	return nil
}

func (h *hangupBackend) CDRs(context.Context, int) ([]CDRView, error) {
	h.hmu.Lock()
	defer h.hmu.Unlock()
	return append([]CDRView(nil), h.cdrs...), nil
}

func (h *hangupBackend) hangups() []string {
	h.hmu.Lock()
	defer h.hmu.Unlock()
	return append([]string(nil), h.hungUp...)
}

// evalUntil evaluates expr (a boolean) until it is true or d passes (evaluation errors,
// as while the page reloads, count as false).
func evalUntil(t *testing.T, ctx context.Context, p *cdp.Page, d time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(d)
	tk := time.NewTicker(50 * time.Millisecond)
	defer tk.Stop()
	for {
		var ok bool
		if err := p.Eval(ctx, expr, &ok); err == nil && ok { // an error: the page is reloading
			return
		}
		if time.Now().After(deadline) {
			var text string
			mustEval(t, ctx, p, `document.body.innerText`, &text)
			t.Fatalf("timeout: %s\n%s", what, text)
		}
		select {
		case <-tk.C:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

// TestBrowserCallsHangup in headless Chromium: a line never linked is shown as such
// without Unlink/E911 buttons, a line needing a relink is red with its reason; a call
// that starts after the page loaded appears by itself (polling /api/v1/calls, no
// reload) with the remote party's name as text; its Hang up button (CSRF-protected form) hangs it up; a POST without the CSRF
// token is refused; the recent-calls table then lists it with a CSV export link.
func TestBrowserCallsHangup(t *testing.T) {
	bin := testpeer.Require(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	be := &hangupBackend{fakeBackend: &fakeBackend{lines: []LineView{
		{MSISDN: "14255550100", State: LineLinked, Channel: "connected", LinkedAt: time.Now().Add(-time.Hour), TokenExpiresAt: time.Now().Add(time.Hour)},
		{MSISDN: "14255550101", State: LineNeedsRelink, Reason: "the network refused the refresh token", LinkedAt: time.Now().Add(-time.Hour)},
		{MSISDN: "14255550102", State: LineUnlinked, Reason: "not linked yet"},
	}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	startBrowserAdmin(ctx, t, ln, public, be)
	pg := openAdminPage(ctx, t, bin, public)

	// Line health.
	type lineRow struct {
		State, Color string
		Forms        int
		Relink       bool
	}
	var rows map[string]lineRow
	mustEval(t, ctx, pg, `(() => {
		const out = {};
		document.querySelectorAll('#lines tr[data-msisdn]').forEach(tr => {
			const st = tr.querySelector('.state');
			out[tr.dataset.msisdn] = {State: st.innerText.trim(), Color: getComputedStyle(st).color,
				Forms: tr.querySelectorAll('form').length, Relink: !!tr.querySelector('a.relink')};
		});
		return out;
	})()`, &rows)
	if r := rows["14255550102"]; !strings.HasPrefix(r.State, "never linked") || r.Forms != 0 {
		t.Errorf("never-linked line: %+v (want 'never linked', no Unlink/E911)", r)
	}
	if r := rows["14255550101"]; !strings.Contains(r.State, "needs relink") || !strings.Contains(r.State, "refused the refresh token") ||
		r.Color != "rgb(153, 0, 0)" || !r.Relink {
		t.Errorf("needs-relink line: %+v (want red with the reason and a Relink link)", r)
	}
	if r := rows["14255550100"]; r.State != LineLinked || r.Forms != 2 || r.Color == "rgb(153, 0, 0)" {
		t.Errorf("linked line: %+v", r)
	}

	// A call that starts now shows up without a reload.
	mustEval(t, ctx, pg, `window.ynagwMarker = 42`, nil)
	var noCalls bool
	mustEval(t, ctx, pg, `!document.getElementById('no-calls').hidden && document.getElementById('calls').hidden`, &noCalls)
	if !noCalls {
		t.Error("page without calls does not say so")
	}
	be.mu.Lock()
	be.calls = []CallView{{ID: "call-1", SIPCallID: "sip-abc@phone", YNACallID: "YNA123", Direction: "outbound", Line: "14255550100",
		Remote: "12065550123", RemoteName: "Bob <b>Example</b>", User: "201", State: "connected", Since: time.Now(), SetupAt: time.Now(), Duration: 75}}
	be.mu.Unlock()
	evalUntil(t, ctx, pg, 10*time.Second, "the new call listed by the live refresh",
		`!!document.querySelector('#calls tr[data-call-id="call-1"]') && !document.getElementById('calls').hidden`)
	var cells []string
	mustEval(t, ctx, pg, `[...document.querySelectorAll('#calls tr[data-call-id="call-1"] td')].map(td => td.innerText.trim())`, &cells)
	if got := strings.Join(cells, "|"); got != "call-1|outbound|14255550100|201|12065550123|Bob <b>Example</b>|connected|1:15|sip-abc@phone|YNA123|Hang up" {
		t.Errorf("call row %q", got)
	}
	var marker int
	mustEval(t, ctx, pg, `window.ynagwMarker`, &marker)
	if marker != 42 {
		t.Error("the page was reloaded; the refresh should not reload it")
	}

	// The channel of a line changes in place; a line needing a relink reloads the page,
	// which shows it red.
	be.mu.Lock()
	be.lines[0].Channel = "recovering"
	be.mu.Unlock()
	evalUntil(t, ctx, pg, 10*time.Second, "the channel refreshed in place",
		`document.querySelector('#lines tr[data-msisdn="14255550100"] .channel').innerText.trim() === "recovering" && window.ynagwMarker === 42`)
	be.mu.Lock()
	be.lines[0].State, be.lines[0].Reason = LineNeedsRelink, "token refused"
	be.mu.Unlock()
	evalUntil(t, ctx, pg, 10*time.Second, "the page reloaded with the line red",
		`window.ynagwMarker === undefined && getComputedStyle(document.querySelector('#lines tr[data-msisdn="14255550100"] .state')).color === "rgb(153, 0, 0)"`)

	// Without the CSRF token the hang-up form is refused.
	var status int
	mustEval(t, ctx, pg, `fetch(location.origin + '/calls/call-1/hangup', {method: 'POST', body: new URLSearchParams({csrf: 'forged'})}).then(r => r.status)`, &status)
	if status != 403 || len(be.hangups()) != 0 {
		t.Errorf("hang-up with a forged CSRF token: %d, hangups %v", status, be.hangups())
	}

	// The button hangs the call up.
	if err := pg.Act(ctx, `document.querySelector('#calls tr[data-call-id="call-1"] button.hangup').click()`); err != nil {
		t.Fatal(err)
	}
	var text string
	mustEval(t, ctx, pg, `document.body.innerText`, &text)
	if !strings.Contains(text, "Call call-1 is hung up.") {
		t.Errorf("after Hang up:\n%s", text)
	}
	if h := be.hangups(); len(h) != 1 || h[0] != "call-1" {
		t.Errorf("hangups %v", h)
	}
	evalUntil(t, ctx, pg, 5*time.Second, "the call table empty and the CDR listed",
		`!document.querySelector('#calls tr[data-call-id]') && !!document.querySelector('#cdrs tr[data-cdr-id="call-1"]') && !!document.getElementById('cdrs-csv')`)
	png, err := pg.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	saveScreenshot(t, "admin-calls-hangup.png", png)
}
