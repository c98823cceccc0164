package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/admin"
	"github.com/ynagw/ynagw/internal/cdp"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/internal/testpeer"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

const (
	brLine    = "14255550177"
	brAccount = "bracct"
	brUser    = "admin"
	brPass    = "admin-pw-browser"
)

// TestDaemonAdminBrowserLink links a line in headless Chromium through the real daemon's
// admin page and ynasim's HTML link page (no auto-approve), then sees the line listed as
// linked with its notification channel connected, on the page and in GET /api/v1/lines.
func TestDaemonAdminBrowserLink(t *testing.T) {
	chromium := testpeer.Require(t, "chromium")
	if testing.Short() {
		t.Skip("builds and runs the ynagw binary")
	}
	bin := buildYnagw(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	// The admin port is chosen up front: the redirect URI registered at the simulator and
	// configured in the daemon must name it.
	adminAddr := freeTCPAddr(t)
	public := "http://" + adminAddr
	redirect := public + admin.CallbackPath

	pub, err := yna.MarshalPublicKeyPEM(&testenv.AppKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := ynasim.New(ynasim.Config{ // AutoApprove off: the browser approves the link
		Apps: []ynasim.App{{ClientID: testenv.ClientID, ClientSecret: testenv.Secret, PublicKeyPEM: string(pub),
			Name: "ynagw daemon browser test", RedirectURIs: []string{redirect}}},
		Accounts: []ynasim.Account{{ID: brAccount, Name: "Bob", Lines: []string{brLine}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })

	dir := t.TempDir()
	priv, err := yna.MarshalPrivateKeyPEM(testenv.AppKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pop.pem"), priv, 0o600); err != nil {
		t.Fatal(err)
	}
	sk, err := store.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`sip:
  domain: %s
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
  base_url: %s
  client_id: %s
  client_secret: %s
  pop_key_file: pop.pem
  redirect_uri: %s
lines:
  - msisdn: "%s"
    ring: [201]
    outbound: ["201"]
users:
  - username: "201"
    password: "pw-201"
store:
  path: ynagw.db
  key: %s
admin:
  listen: %s
  username: %s
  password: %s
log:
  level: info
  format: json
`, dpDomain, sim.URL(), testenv.ClientID, testenv.Secret, redirect, brLine, sk, adminAddr, brUser, brPass)
	cfgPath := filepath.Join(dir, "ynagw.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, bin, dir, cfgPath)
	p.waitLog("ynagw started", 30*time.Second)

	// Before linking the API lists the line as not linked.
	if ls := apiLines(t, public); len(ls) != 1 || ls[0].MSISDN != brLine || ls[0].State == admin.LineLinked {
		t.Fatalf("lines before linking: %+v", ls)
	}

	br := cdp.Start(t, chromium)
	pg, err := br.NewPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 1. The admin page; Basic credentials in the URL (Chromium keeps them for the origin).
	u, _ := url.Parse(public + "/")
	u.User = url.UserPassword(brUser, brPass)
	if err := pg.Navigate(ctx, u.String()); err != nil {
		t.Fatal(err)
	}
	var text, loc string
	evalT(t, ctx, pg, `document.body.innerText`, &text)
	if !strings.Contains(text, brLine) {
		t.Fatalf("admin page does not list the configured line:\n%s", text)
	}

	// 2. "Link a line" → ynasim's line selection page.
	if err := pg.Act(ctx, `document.getElementById('link-line').click()`); err != nil {
		t.Fatal(err)
	}
	evalT(t, ctx, pg, `location.href`, &loc)
	if !strings.HasPrefix(loc, sim.URL()+yna.PathLinkAccount+"?") {
		t.Fatalf("after Link a line: at %s", loc)
	}
	evalT(t, ctx, pg, `document.body.innerText`, &text)
	if !strings.Contains(text, "ynagw daemon browser test") || !strings.Contains(text, brLine) {
		t.Fatalf("link page:\n%s", text)
	}

	// 3. Choose the line, confirm E911 and terms, approve → /link/callback → the admin page.
	if err := pg.Act(ctx, `(() => {
		document.querySelector('input[name=line][value="`+brLine+`"]').checked = true;
		document.querySelector('input[name=e911]').checked = true;
		document.querySelector('input[name=terms]').checked = true;
		document.querySelector('button[name=action][value=approve]').click();
	})()`); err != nil {
		t.Fatal(err)
	}
	evalT(t, ctx, pg, `location.href`, &loc)
	if loc != public+"/" {
		evalT(t, ctx, pg, `document.body.innerText`, &text)
		t.Fatalf("after approving: at %s\n%s", loc, text)
	}
	evalT(t, ctx, pg, `document.body.innerText`, &text)
	if !strings.Contains(text, "Line "+brLine+" is linked.") {
		t.Fatalf("no success message:\n%s", text)
	}

	// 4. Reload the page until the line's row shows it linked with its channel connected.
	type rowView struct{ State, Channel string }
	var row rowView
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		if err := pg.Navigate(ctx, public+"/"); err != nil {
			t.Fatal(err)
		}
		evalT(t, ctx, pg, `(() => {
			const tr = document.querySelector('#lines tr[data-msisdn="`+brLine+`"]');
			if (!tr) return {State: "", Channel: ""};
			return {State: tr.querySelector('.state').innerText.trim(), Channel: tr.querySelector('.channel').innerText.trim()};
		})()`, &row)
		if row.State == admin.LineLinked && row.Channel == "connected" {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			evalT(t, ctx, pg, `document.body.innerText`, &text)
			t.Fatalf("line row never showed linked/connected; last %+v\n%s", row, text)
		}
	}
	png, err := pg.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	saveShot(t, "daemon-admin-line-linked.png", png)

	// 5. The API agrees, and the simulator sees the daemon's channel open.
	ls := apiLines(t, public)
	if len(ls) != 1 || ls[0].MSISDN != brLine || ls[0].State != admin.LineLinked || ls[0].Channel != "connected" {
		t.Fatalf("GET /api/v1/lines: %+v", ls)
	}
	if ci, err := sim.Channel(brAccount); err != nil || ci.SocketsOpen == 0 {
		t.Fatalf("sim channel %+v %v", ci, err)
	}
	p.waitLog("line linked", 5*time.Second)
}

// freeTCPAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// apiLines GETs /api/v1/lines with the admin credentials.
func apiLines(t *testing.T, public string) []admin.LineView {
	t.Helper()
	req, err := http.NewRequestWithContext(dpCtx(t, 10*time.Second), http.MethodGet, public+"/api/v1/lines", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(brUser, brPass)
	c := &http.Client{}
	defer c.CloseIdleConnections()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/lines: %s\n%s", res.Status, body)
	}
	var ls []admin.LineView
	if err := json.Unmarshal(body, &ls); err != nil {
		t.Fatalf("GET /api/v1/lines: %v\n%s", err, body)
	}
	return ls
}

func evalT(t *testing.T, ctx context.Context, p *cdp.Page, expr string, out any) {
	t.Helper()
	if err := p.Eval(ctx, expr, out); err != nil {
		t.Fatal(err)
	}
}

// saveShot writes png into the test's temp dir and, if YNAGW_SCREENSHOT_DIR is set, there too.
func saveShot(t *testing.T, name string, png []byte) {
	t.Helper()
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	paths := []string{filepath.Join(t.TempDir(), name)}
	if dir := os.Getenv("YNAGW_SCREENSHOT_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.Join(dir, name))
	}
	for _, p := range paths {
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
}
