package admin

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ynagw/ynagw/internal/cdp"
	"github.com/ynagw/ynagw/internal/testpeer"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// simBackend is a Backend built on the real yna.Client against ynasim: tokens in memory and
// one real yna.Channel per linked line.
type simBackend struct {
	cl        *yna.Client
	connected chan string // msisdn, each time a line's channel reaches "connected"

	mu    sync.Mutex
	lines map[string]*simLine
}

type simLine struct {
	token   string
	expires time.Time
	linked  time.Time
	ch      *yna.Channel
	cancel  context.CancelFunc
	done    chan struct{} // Run returned
}

func (b *simBackend) Lines(context.Context) []LineView {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]LineView, 0, len(b.lines))
	for m, l := range b.lines {
		out = append(out, LineView{MSISDN: m, State: LineLinked, Channel: l.ch.State().String(),
			TokenExpiresAt: l.expires, LinkedAt: l.linked})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MSISDN < out[j].MSISDN })
	return out
}

func (b *simBackend) Phones(context.Context) []PhoneView { return nil }
func (b *simBackend) Calls(context.Context) []CallView   { return nil }
func (b *simBackend) Ready(context.Context) error        { return nil }

func (b *simBackend) LinkURL(redirectURI, state string) string {
	return b.cl.LinkURL(redirectURI, state)
}

func (b *simBackend) CompleteLink(ctx context.Context, code, redirectURI string) (string, error) {
	tr, err := b.cl.ExchangeCode(ctx, code, redirectURI)
	if err != nil {
		return "", fmt.Errorf("exchange code: %w", err)
	}
	st, err := b.cl.AccountStatus(ctx, tr.AccessToken)
	if err != nil {
		return "", fmt.Errorf("account status: %w", err)
	}
	if len(st.Lines) == 0 {
		return "", errors.New("no line in account status")
	}
	msisdn := st.Lines[0].MSISDN
	tok := tr.AccessToken
	ch, err := yna.NewChannel(yna.ChannelConfig{
		URL: st.ChannelURL,
		Refresh: func(ctx context.Context) (string, error) {
			s, err := b.cl.AccountStatus(ctx, tok)
			if err != nil {
				return "", err
			}
			return s.ChannelURL, nil
		},
		OnState: func(s yna.ChannelState) {
			if s == yna.ChannelConnected {
				select {
				case b.connected <- msisdn:
				default:
				}
			}
		},
	})
	if err != nil {
		return "", err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l := &simLine{token: tok, expires: time.Now().Add(tr.Lifetime()), linked: time.Now(), ch: ch, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		_ = ch.Run(runCtx)
	}()
	go func() { // drain notifications until the channel closes its output
		for range ch.Notifications() {
		}
	}()
	b.mu.Lock()
	b.lines[msisdn] = l
	b.mu.Unlock()
	return msisdn, nil
}

func (b *simBackend) Unlink(ctx context.Context, msisdn string) error {
	b.mu.Lock()
	l := b.lines[msisdn]
	delete(b.lines, msisdn)
	b.mu.Unlock()
	if l == nil {
		return errors.New("unknown line")
	}
	l.cancel()
	<-l.done
	return b.cl.Unlink(ctx, l.token, "")
}

func (b *simBackend) EmergencyAddressURL(_ context.Context, msisdn, success, failure string) (string, error) {
	b.mu.Lock()
	l := b.lines[msisdn]
	b.mu.Unlock()
	if l == nil {
		return "", errors.New("unknown line")
	}
	return b.cl.EmergencyAddressURL(success, failure) + "&Authorization=" + url.QueryEscape("Bearer "+l.token), nil
}

// close stops every channel and waits for them.
func (b *simBackend) close() {
	b.mu.Lock()
	ls := b.lines
	b.lines = map[string]*simLine{}
	b.mu.Unlock()
	for _, l := range ls {
		l.cancel()
		<-l.done
	}
}

const browserLine = "14255550123"

// TestBrowserLinkLine links a line in headless Chromium through the admin page and
// ynasim's HTML link page (no auto-approve), then sees it listed with its channel connected.
func TestBrowserLinkLine(t *testing.T) {
	bin := testpeer.Require(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The simulated T-Mobile side.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := yna.MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + adminLn.Addr().String()
	sim, err := ynasim.New(ynasim.Config{
		Apps: []ynasim.App{{ClientID: "ynagw-test", ClientSecret: "sim-secret", PublicKeyPEM: string(pub),
			Name: "ynagw browser test", RedirectURIs: []string{public + CallbackPath}}},
		Accounts: []ynasim.Account{{ID: "alice", Name: "Alice", Lines: []string{browserLine}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })

	cl, err := yna.NewClient(yna.Config{BaseURL: sim.URL(), ClientID: "ynagw-test", ClientSecret: "sim-secret", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	be := &simBackend{cl: cl, connected: make(chan string, 4), lines: map[string]*simLine{}}
	t.Cleanup(be.close) // runs before sim.Close (LIFO)

	startBrowserAdmin(ctx, t, adminLn, public, be)

	// 1. The admin page (Basic auth credentials in the URL; Chromium keeps them for the origin).
	pg := openAdminPage(ctx, t, bin, public)
	var text string
	mustEval(t, ctx, pg, `document.body.innerText`, &text)
	if !strings.Contains(text, "No line is linked yet.") || !strings.Contains(text, "mydigits.t-mobile.com") {
		t.Fatalf("admin page:\n%s", text)
	}

	// 2a. "Link a line", then Cancel on T-Mobile's page → back with error_code → error page.
	if err := pg.Act(ctx, `document.getElementById('link-line').click()`); err != nil {
		t.Fatal(err)
	}
	if err := pg.Act(ctx, `document.querySelector('button[name=action][value=deny]').click()`); err != nil {
		t.Fatal(err)
	}
	mustEval(t, ctx, pg, `document.body.innerText`, &text)
	if !strings.Contains(text, "Linking cancelled") || !strings.Contains(text, "access_denied") {
		t.Fatalf("after Cancel:\n%s", text)
	}
	if err := pg.Navigate(ctx, public+"/"); err != nil {
		t.Fatal(err)
	}

	// 2. "Link a line" → ynasim's line selection page.
	if err := pg.Act(ctx, `document.getElementById('link-line').click()`); err != nil {
		t.Fatal(err)
	}
	var loc string
	mustEval(t, ctx, pg, `location.href`, &loc)
	if !strings.HasPrefix(loc, sim.URL()+yna.PathLinkAccount+"?") {
		t.Fatalf("after Link a line: at %s", loc)
	}
	mustEval(t, ctx, pg, `document.body.innerText`, &text)
	if !strings.Contains(text, "ynagw browser test") || !strings.Contains(text, browserLine) {
		t.Fatalf("link page:\n%s", text)
	}

	// 3. Choose the line, confirm E911 and terms, submit → back to /link/callback → /.
	if err := pg.Act(ctx, `(() => {
		document.querySelector('input[name=line][value="`+browserLine+`"]').checked = true;
		document.querySelector('input[name=e911]').checked = true;
		document.querySelector('input[name=terms]').checked = true;
		document.querySelector('button[name=action][value=approve]').click();
	})()`); err != nil {
		t.Fatal(err)
	}
	mustEval(t, ctx, pg, `location.href`, &loc)
	if loc != public+"/" {
		mustEval(t, ctx, pg, `document.body.innerText`, &text)
		t.Fatalf("after approving: at %s\n%s", loc, text)
	}
	mustEval(t, ctx, pg, `document.body.innerText`, &text)
	if !strings.Contains(text, "Line "+browserLine+" is linked.") {
		t.Fatalf("no success message:\n%s", text)
	}

	// 4. Once the line's notification channel is up, the page lists it as connected.
	select {
	case m := <-be.connected:
		if m != browserLine {
			t.Fatalf("connected line %s", m)
		}
	case <-ctx.Done():
		t.Fatal("the channel never connected")
	}
	if err := pg.Navigate(ctx, public+"/"); err != nil {
		t.Fatal(err)
	}
	var row struct {
		State, Channel, Expiry string
	}
	mustEval(t, ctx, pg, `(() => {
		const tr = document.querySelector('#lines tr[data-msisdn="`+browserLine+`"]');
		if (!tr) return {State: "", Channel: "", Expiry: document.body.innerText};
		return {State: tr.querySelector('.state').innerText, Channel: tr.querySelector('.channel').innerText,
			Expiry: tr.querySelector('.expiry').innerText};
	})()`, &row)
	if row.State != LineLinked || row.Channel != "connected" || !strings.Contains(row.Expiry, "UTC") {
		t.Fatalf("line row %+v", row)
	}
	if acct, err := sim.AccountByID("alice"); err != nil || len(acct.Lines) != 1 {
		t.Fatalf("sim account %+v %v", acct, err)
	}
	png, err := pg.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	saveScreenshot(t, "admin-line-linked.png", png)

	// The page must not show the access token.
	be.mu.Lock()
	tok := be.lines[browserLine].token
	be.mu.Unlock()
	var html string
	mustEval(t, ctx, pg, `document.documentElement.outerHTML`, &html)
	if tok == "" || strings.Contains(html, tok) {
		t.Fatal("access token rendered on the page")
	}

	// 5. "Change E911 address": POST (CSRF) → a form app.js submits: the browser POSTs the
	// token in the body to ynasim's E911 page (allowed by the CSP form-action; no URL has the
	// token) → save → back to /?e911=ok.
	if err := pg.Act(ctx, `document.querySelector('#lines tr[data-msisdn="`+browserLine+`"] form[action$="/e911"] button').click()`); err != nil {
		t.Fatal(err)
	}
	mustEval(t, ctx, pg, `location.href`, &loc)
	if strings.Contains(loc, url.QueryEscape(tok)) || strings.Contains(loc, tok) {
		t.Fatalf("the E911 page's URL carries the access token: %s", loc)
	}
	if !strings.HasPrefix(loc, sim.URL()+yna.PathChangeEmergencyAddress) {
		mustEval(t, ctx, pg, `document.body.innerText`, &text)
		t.Fatalf("after Change E911 address: at %s\n%s", loc, text)
	}
	if err := pg.Act(ctx, `(() => {
		document.querySelector('input[name=street]').value = '1 Test Way';
		document.querySelector('input[name=city]').value = 'Bellevue';
		document.querySelector('input[name=state]').value = 'WA';
		document.querySelector('input[name=zip]').value = '98006';
		document.querySelector('button[name=action][value=save]').click();
	})()`); err != nil {
		t.Fatal(err)
	}
	mustEval(t, ctx, pg, `document.body.innerText`, &text)
	if !strings.Contains(text, "The E911 address change is done.") {
		t.Fatalf("after saving the E911 address:\n%s", text)
	}
	if acct, err := sim.AccountByID("alice"); err != nil || !strings.Contains(acct.E911, "1 Test Way") {
		t.Fatalf("sim E911 address %q %v", acct.E911, err)
	}

	// 6. "Unlink": POST (CSRF) → the line is gone, its channel stopped.
	if err := pg.Act(ctx, `document.querySelector('#lines tr[data-msisdn="`+browserLine+`"] form[action$="/unlink"] button').click()`); err != nil {
		t.Fatal(err)
	}
	mustEval(t, ctx, pg, `document.body.innerText`, &text)
	if !strings.Contains(text, "Line "+browserLine+" is unlinked.") || !strings.Contains(text, "No line is linked yet.") {
		t.Fatalf("after unlink:\n%s", text)
	}
	png, err = pg.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	saveScreenshot(t, "admin-line-unlinked.png", png)
}

func mustEval(t *testing.T, ctx context.Context, p *cdp.Page, expr string, out any) {
	t.Helper()
	if err := p.Eval(ctx, expr, out); err != nil {
		t.Fatal(err)
	}
}

// saveScreenshot writes png into the test's temp dir and, if YNAGW_SCREENSHOT_DIR is set, there too.
func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("YNAGW_SCREENSHOT_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", filepath.Join(dir, name))
	}
}

// startBrowserAdmin serves the admin pages of be on ln (public is its URL) until the test
// ends.
func startBrowserAdmin(ctx context.Context, t *testing.T, ln net.Listener, public string, be Backend) {
	t.Helper()
	srv, err := New(Config{Listener: ln, Username: testUser, Password: testPass, PublicURL: public,
		Logger: zap.NewNop()}, be)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		if err := srv.Close(cctx); err != nil {
			t.Errorf("admin close: %v", err)
		}
	})
}

// openAdminPage starts headless Chromium (bin) and opens the admin page at public with the
// test's Basic auth credentials in the URL (Chromium keeps them for the origin).
func openAdminPage(ctx context.Context, t *testing.T, bin, public string) *cdp.Page {
	t.Helper()
	pg, err := cdp.Start(t, bin).NewPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(public + "/")
	u.User = url.UserPassword(testUser, testPass)
	if err := pg.Navigate(ctx, u.String()); err != nil {
		t.Fatal(err)
	}
	return pg
}
