package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	testUser   = "admin"
	testPass   = "s3cret-pass"
	testBearer = "api-token-123"
	testPublic = "http://127.0.0.1:8080"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t     *testing.T
	s     *Server
	b     *fakeBackend
	clk   *clock
	level zap.AtomicLevel
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, b: &fakeBackend{}, clk: &clock{t: t0}, level: zap.NewAtomicLevelAt(zapcore.InfoLevel)}
	cfg := Config{Addr: "127.0.0.1:0", Username: testUser, Password: testPass, BearerToken: testBearer,
		PublicURL: testPublic, Level: &h.level, Now: h.clk.Now,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "m 1\n") })}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, h.b)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	return h
}

// req describes one request to the handler.
type req struct {
	method, path string
	body         string
	auth         string // "basic" (right credentials), "bearer", "none", or a raw Authorization value
	cookie       *http.Cookie
	form         url.Values
	header       map[string]string
}

func (h *harness) do(r req) *httptest.ResponseRecorder {
	h.t.Helper()
	var body io.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	} else if r.body != "" {
		body = strings.NewReader(r.body)
	}
	if r.method == "" {
		r.method = http.MethodGet
	}
	hr := httptest.NewRequest(r.method, "http://127.0.0.1:8080"+r.path, body)
	if r.form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	switch r.auth {
	case "", "basic":
		hr.SetBasicAuth(testUser, testPass)
	case "bearer":
		hr.Header.Set("Authorization", "Bearer "+testBearer)
	case "none":
	default:
		hr.Header.Set("Authorization", r.auth)
	}
	if r.cookie != nil {
		hr.AddCookie(r.cookie)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.s.Handler().ServeHTTP(rec, hr)
	return rec
}

// session opens the admin page and returns the session cookie and the CSRF token.
func (h *harness) session() (*http.Cookie, string) {
	h.t.Helper()
	rec := h.do(req{path: "/"})
	if rec.Code != http.StatusOK {
		h.t.Fatalf("GET / = %d", rec.Code)
	}
	var c *http.Cookie
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == sessionCookie {
			c = ck
		}
	}
	if c == nil {
		h.t.Fatal("no session cookie")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		h.t.Fatalf("cookie flags: %+v", c)
	}
	b := rec.Body.String()
	const mark = `name="csrf" value="`
	i := strings.Index(b, mark)
	if i < 0 {
		// no line yet: no form; take the token from the session store
		return c, h.s.sess.byID[c.Value].csrf
	}
	b = b[i+len(mark):]
	return c, b[:strings.IndexByte(b, '"')]
}

func basic(user, pass string) string {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

func TestAuth(t *testing.T) {
	h := newHarness(t, nil)
	routes := []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/link"}, {"GET", "/link/callback?code=c&state=s"},
		{"POST", "/lines/14255550100/unlink"}, {"GET", "/lines/14255550100/e911"}, {"POST", "/lines/14255550100/e911"},
		{"GET", "/static/style.css"}, {"GET", "/metrics"},
		{"GET", "/api/v1/lines"}, {"GET", "/api/v1/phones"}, {"GET", "/api/v1/calls"},
		{"POST", "/api/v1/lines/14255550100/unlink"}, {"GET", "/api/v1/link"},
		{"GET", "/api/v1/loglevel"}, {"PUT", "/api/v1/loglevel"},
	}
	creds := []struct {
		name string
		auth string
		ok   bool
	}{
		{"none", "none", false},
		{"wrong password", basic(testUser, "nope"), false},
		{"wrong user", basic("root", testPass), false},
		{"empty password", basic(testUser, ""), false},
		{"wrong bearer", "Bearer nope", false},
		{"bearer as basic password", basic(testUser, testBearer), false},
		{"garbage", "Digest foo", false},
		{"basic", "basic", true},
		{"bearer", "bearer", true},
		{"bearer lower-case scheme", "bearer " + testBearer, true},
	}
	for _, rt := range routes {
		for _, c := range creds {
			t.Run(rt.method+" "+rt.path+"/"+c.name, func(t *testing.T) {
				rec := h.do(req{method: rt.method, path: rt.path, auth: c.auth})
				if got := rec.Code == http.StatusUnauthorized; got == c.ok {
					t.Fatalf("status %d, want authorized=%v", rec.Code, c.ok)
				}
				if !c.ok && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic realm=") {
					t.Fatalf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
				}
			})
		}
	}
	// Probes are open.
	for _, p := range []string{"/healthz", "/readyz"} {
		if rec := h.do(req{path: p, auth: "none"}); rec.Code != http.StatusOK {
			t.Errorf("%s without auth = %d", p, rec.Code)
		}
	}
}

func TestMetricsOpenAndAbsent(t *testing.T) {
	open := newHarness(t, func(c *Config) { c.MetricsOpen = true })
	if rec := open.do(req{path: "/metrics", auth: "none"}); rec.Code != 200 || rec.Body.String() != "m 1\n" {
		t.Fatalf("open metrics: %d %q", rec.Code, rec.Body)
	}
	none := newHarness(t, func(c *Config) { c.Metrics = nil })
	if rec := none.do(req{path: "/metrics"}); rec.Code != http.StatusNotFound {
		t.Fatalf("no metrics handler: %d", rec.Code)
	}
}

func TestBearerOnlyConfig(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Username, c.Password = "", "" })
	if rec := h.do(req{path: "/api/v1/lines", auth: "basic"}); rec.Code != http.StatusUnauthorized {
		t.Fatalf("basic with no user configured: %d", rec.Code)
	}
	rec := h.do(req{path: "/api/v1/lines", auth: "bearer"})
	if rec.Code != http.StatusOK {
		t.Fatalf("bearer: %d", rec.Code)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		b    Backend
	}{
		{"no backend", Config{Username: "a", Password: "b", PublicURL: testPublic}, nil},
		{"no credentials", Config{PublicURL: testPublic}, &fakeBackend{}},
		{"empty password", Config{Username: "a", PublicURL: testPublic}, &fakeBackend{}},
		{"colon in user", Config{Username: "a:b", Password: "c", PublicURL: testPublic}, &fakeBackend{}},
		{"no public URL", Config{Username: "a", Password: "b"}, &fakeBackend{}},
		{"ftp public URL", Config{Username: "a", Password: "b", PublicURL: "ftp://x"}, &fakeBackend{}},
		{"query in public URL", Config{Username: "a", Password: "b", PublicURL: "http://x/?a=b"}, &fakeBackend{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, tt.b); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, nil)
	for _, p := range []string{"/", "/healthz", "/api/v1/lines", "/link/callback?state=x"} {
		rec := h.do(req{path: p})
		hd := rec.Header()
		if hd.Get("X-Frame-Options") != "DENY" || hd.Get("X-Content-Type-Options") != "nosniff" ||
			hd.Get("Referrer-Policy") != "no-referrer" || hd.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", p, hd)
		}
		csp := hd.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self' " + fakeYNA} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
	}
}

// linkStart runs GET /link in the session and returns the state.
func (h *harness) linkStart(c *http.Cookie) string {
	h.t.Helper()
	rec := h.do(req{path: "/link", cookie: c})
	if rec.Code != http.StatusFound {
		h.t.Fatalf("GET /link = %d", rec.Code)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		h.t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host; got != fakeYNA {
		h.t.Fatalf("redirected to %s", loc)
	}
	if ru := loc.Query().Get("redirect_uri"); ru != testPublic+CallbackPath {
		h.t.Fatalf("redirect_uri %q", ru)
	}
	st := loc.Query().Get("state")
	if len(st) != 64 {
		h.t.Fatalf("state %q", st)
	}
	return st
}

func TestLinkFlow(t *testing.T) {
	h := newHarness(t, nil)
	c, _ := h.session()
	st := h.linkStart(c)
	rec := h.do(req{path: "/link/callback?code=CODE1&state=" + st, cookie: c})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Fatalf("callback = %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if len(h.b.codes) != 1 || h.b.codes[0] != "CODE1" || h.b.redirects[0] != testPublic+CallbackPath {
		t.Fatalf("CompleteLink got %v %v", h.b.codes, h.b.redirects)
	}
	page := h.do(req{path: "/", cookie: c}).Body.String()
	for _, want := range []string{`id="flash"`, "Line 14255550100 is linked.", `class="channel channel-connected">connected<`, MyDigitsURL} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if again := h.do(req{path: "/", cookie: c}).Body.String(); strings.Contains(again, `id="flash"`) {
		t.Error("flash shown twice")
	}
	// The state is single use.
	if rec := h.do(req{path: "/link/callback?code=CODE2&state=" + st, cookie: c}); rec.Code != http.StatusBadRequest {
		t.Fatalf("reused state = %d", rec.Code)
	}
	if len(h.b.codes) != 1 {
		t.Fatalf("CompleteLink called for a reused state: %v", h.b.codes)
	}
}

func TestLinkCallbackRefused(t *testing.T) {
	tests := []struct {
		name   string
		run    func(h *harness) *httptest.ResponseRecorder
		status int
		text   string
	}{
		{"unknown state", func(h *harness) *httptest.ResponseRecorder {
			c, _ := h.session()
			h.linkStart(c)
			return h.do(req{path: "/link/callback?code=C&state=" + strings.Repeat("ab", 32), cookie: c})
		}, 400, "unknown, already used or expired"},
		{"no state", func(h *harness) *httptest.ResponseRecorder {
			c, _ := h.session()
			return h.do(req{path: "/link/callback?code=C", cookie: c})
		}, 400, "unknown"},
		{"expired state", func(h *harness) *httptest.ResponseRecorder {
			c, _ := h.session()
			st := h.linkStart(c)
			h.clk.Add(StateLifetime + time.Second)
			return h.do(req{path: "/link/callback?code=C&state=" + st, cookie: c})
		}, 400, "expired link state"},
		{"no session cookie", func(h *harness) *httptest.ResponseRecorder {
			c, _ := h.session()
			st := h.linkStart(c)
			return h.do(req{path: "/link/callback?code=C&state=" + st})
		}, 400, "no admin session"},
		{"other session", func(h *harness) *httptest.ResponseRecorder {
			c, _ := h.session()
			st := h.linkStart(c)
			other, _ := h.session()
			return h.do(req{path: "/link/callback?code=C&state=" + st, cookie: other})
		}, 400, "another admin session"},
		{"provider error", func(h *harness) *httptest.ResponseRecorder {
			c, _ := h.session()
			st := h.linkStart(c)
			return h.do(req{path: "/link/callback?error_code=access_denied&state=" + st, cookie: c})
		}, 400, "access_denied"},
		{"provider error is sanitised", func(h *harness) *httptest.ResponseRecorder {
			c, _ := h.session()
			st := h.linkStart(c)
			return h.do(req{path: "/link/callback?error_code=" + url.QueryEscape("<b>x</b>"+strings.Repeat("y", 100)) + "&state=" + st, cookie: c})
		}, 400, "?b?x??b?" + strings.Repeat("y", 56) + ")"},
		{"no code", func(h *harness) *httptest.ResponseRecorder {
			c, _ := h.session()
			st := h.linkStart(c)
			return h.do(req{path: "/link/callback?state=" + st, cookie: c})
		}, 400, "no authorization code"},
		{"exchange fails", func(h *harness) *httptest.ResponseRecorder {
			h.b.linkErr = errors.New(`yna: token: Post "http://x/token?code=SECRETCODE": refused`)
			c, _ := h.session()
			st := h.linkStart(c)
			return h.do(req{path: "/link/callback?code=SECRETCODE&state=" + st, cookie: c})
		}, 502, "could not be linked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			rec := tt.run(h)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			body := rec.Body.String()
			if !strings.Contains(body, tt.text) {
				t.Fatalf("body lacks %q:\n%s", tt.text, body)
			}
			if strings.Contains(body, "SECRETCODE") {
				t.Fatal("error page shows the code")
			}
			if tt.status == 400 && len(h.b.codes) != 0 {
				t.Fatalf("CompleteLink called: %v", h.b.codes)
			}
		})
	}
}

func TestUnlinkForm(t *testing.T) {
	h := newHarness(t, nil)
	h.b.lines = []LineView{{MSISDN: "14255550100", State: LineLinked}, {MSISDN: "14255550101", State: LineLinked}}
	c, csrf := h.session()
	tests := []struct {
		name   string
		r      req
		status int
	}{
		{"no csrf", req{method: "POST", path: "/lines/14255550100/unlink", cookie: c, form: url.Values{}}, 403},
		{"wrong csrf", req{method: "POST", path: "/lines/14255550100/unlink", cookie: c, form: url.Values{"csrf": {"x" + csrf[1:]}}}, 403},
		{"no session", req{method: "POST", path: "/lines/14255550100/unlink", form: url.Values{"csrf": {csrf}}}, 403},
		{"cross-site", req{method: "POST", path: "/lines/14255550100/unlink", cookie: c, form: url.Values{"csrf": {csrf}},
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403},
		{"foreign origin", req{method: "POST", path: "/lines/14255550100/unlink", cookie: c, form: url.Values{"csrf": {csrf}},
			header: map[string]string{"Origin": "http://evil.example"}}, 403},
		{"bad msisdn", req{method: "POST", path: "/lines/12ab/unlink", cookie: c, form: url.Values{"csrf": {csrf}}}, 400},
		{"ok", req{method: "POST", path: "/lines/14255550100/unlink", cookie: c, form: url.Values{"csrf": {csrf}},
			header: map[string]string{"Sec-Fetch-Site": "same-origin"}}, 303},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.do(tt.r)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
		})
	}
	if len(h.b.unlinked) != 1 || h.b.unlinked[0] != "14255550100" {
		t.Fatalf("unlinked %v", h.b.unlinked)
	}
	page := h.do(req{path: "/", cookie: c}).Body.String()
	if !strings.Contains(page, "Line 14255550100 is unlinked.") || strings.Contains(page, `data-msisdn="14255550100"`) {
		t.Fatalf("page after unlink:\n%s", page)
	}
	// A backend failure is a flash error, not a crash.
	rec := h.do(req{method: "POST", path: "/lines/19995550100/unlink", cookie: c, form: url.Values{"csrf": {csrf}}})
	if rec.Code != 303 || !strings.Contains(h.do(req{path: "/", cookie: c}).Body.String(), "Unlinking 19995550100 failed") {
		t.Fatalf("failed unlink: %d", rec.Code)
	}
}

func TestE911(t *testing.T) {
	h := newHarness(t, nil)
	h.b.lines = []LineView{{MSISDN: "14255550100", State: LineLinked}}
	c, csrf := h.session()
	page := h.do(req{path: "/", cookie: c}).Body.String()
	if strings.Contains(page, "SECRET") {
		t.Fatal("page renders a token")
	}
	// The token is never in a URL (Location, form action): it goes in the POST body of a
	// form to the provider's page, which app.js submits.
	checkForm := func(what string, rec *httptest.ResponseRecorder) {
		t.Helper()
		body := rec.Body.String()
		if loc := rec.Header().Get("Location"); rec.Code != http.StatusOK || strings.Contains(loc, "SECRET") {
			t.Fatalf("%s = %d Location %q", what, rec.Code, loc)
		}
		i := strings.Index(body, `<form id="e911-post" method="post" action="`)
		if i < 0 {
			t.Fatalf("%s: no E911 form:\n%s", what, body)
		}
		action := body[i+len(`<form id="e911-post" method="post" action="`):]
		action = action[:strings.Index(action, `"`)]
		if !strings.HasPrefix(action, fakeYNA+"/cpaas/v1/account-mgmt/changeEmergencyAddress?") || strings.Contains(action, "SECRET") {
			t.Fatalf("%s: form action %q", what, action)
		}
		if !strings.Contains(body, `name="Authorization" value="SECRET-14255550100"`) {
			t.Fatalf("%s: no Authorization field:\n%s", what, body)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
		}
	}
	checkForm("GET e911", h.do(req{path: "/lines/14255550100/e911", cookie: c}))
	if h.b.e911[0] != testPublic+"/?e911=ok" || h.b.e911[1] != testPublic+"/?e911=failed" {
		t.Fatalf("success/failure URLs %v", h.b.e911)
	}
	if rec := h.do(req{method: "POST", path: "/lines/14255550100/e911", cookie: c, form: url.Values{}}); rec.Code != 403 {
		t.Fatalf("POST e911 without csrf = %d", rec.Code)
	}
	checkForm("POST e911", h.do(req{method: "POST", path: "/lines/14255550100/e911", cookie: c, form: url.Values{"csrf": {csrf}}}))
	// A line that is not linked: the error says what to do.
	body := h.do(req{method: "POST", path: "/lines/14255550199/e911", cookie: c, form: url.Values{"csrf": {csrf}}}).Body.String()
	if !strings.Contains(body, "link the line first") {
		t.Errorf("E911 of an unknown line:\n%s", body)
	}
	for q, want := range map[string]string{"ok": "The E911 address change is done.", "failed": "The E911 address was not changed.",
		"<script>": "Lines"} {
		body := h.do(req{path: "/?e911=" + url.QueryEscape(q), cookie: c}).Body.String()
		if !strings.Contains(body, want) || strings.Contains(body, "<script>") {
			t.Errorf("?e911=%s: page lacks %q or echoes input", q, want)
		}
	}
}

func TestPageEscapes(t *testing.T) {
	h := newHarness(t, nil)
	h.b.lines = []LineView{{MSISDN: "14255550100", State: LineNeedsRelink, Reason: `<img src=x onerror=alert(1)>`}}
	h.b.phones = []PhoneView{{AOR: "sip:<b>@x", Contact: "sip:a@127.0.0.1:5062", Expires: t0.Add(time.Hour)}}
	h.b.lines = append(h.b.lines, LineView{MSISDN: "14255550101", State: LineLinked, TokenExpiresAt: t0.Add(90 * time.Minute)},
		LineView{MSISDN: "14255550102", State: LineLinked, TokenExpiresAt: t0.Add(-time.Minute)})
	body := h.do(req{path: "/"}).Body.String()
	for _, want := range []string{"2026-11-26 13:30 UTC <small>(in 1h30m0s)</small>", "(expired)"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<img src=x") || strings.Contains(body, "<b>@") {
		t.Fatal("unescaped backend text")
	}
	if !strings.Contains(body, "&lt;img src=x") || !strings.Contains(body, "sip:a@127.0.0.1:5062") {
		t.Fatalf("page:\n%s", body)
	}
}

func TestReadyz(t *testing.T) {
	h := newHarness(t, nil)
	steps := []struct {
		name     string
		act      func()
		status   int
		contains string
	}{
		{"ready", func() {}, 200, "ready"},
		{"backend not ready", func() { h.b.setReady(errors.New("SIP not listening")) }, 503, "SIP not listening"},
		{"backend ready again", func() { h.b.setReady(nil) }, 200, "ready"},
		{"draining", func() { h.s.SetDraining(true) }, 503, "draining"},
		{"draining wins over ready backend", func() {}, 503, "draining"},
		{"not draining", func() { h.s.SetDraining(false) }, 200, "ready"},
	}
	for _, st := range steps {
		st.act()
		rec := h.do(req{path: "/readyz", auth: "none"})
		if rec.Code != st.status || !strings.Contains(rec.Body.String(), st.contains) {
			t.Fatalf("%s: %d %q", st.name, rec.Code, rec.Body)
		}
		if hz := h.do(req{path: "/healthz", auth: "none"}); hz.Code != 200 || hz.Body.String() != "ok\n" {
			t.Fatalf("%s: healthz %d %q", st.name, hz.Code, hz.Body)
		}
	}
}

func TestLogLevel(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		method, body string
		status       int
		want         zapcore.Level
	}{
		{"GET", "", 200, zapcore.InfoLevel},
		{"PUT", `{"level":"debug"}`, 200, zapcore.DebugLevel},
		{"GET", "", 200, zapcore.DebugLevel},
		{"PUT", `{"level":"loud"}`, 400, zapcore.DebugLevel},
		{"PUT", `not json`, 400, zapcore.DebugLevel},
		{"PUT", `{"level":"warn"}`, 200, zapcore.WarnLevel},
	}
	for i, tt := range tests {
		rec := h.do(req{method: tt.method, path: "/api/v1/loglevel", body: tt.body, auth: "bearer",
			header: map[string]string{"Content-Type": "application/json"}})
		if rec.Code != tt.status {
			t.Fatalf("#%d %s %s: %d %s", i, tt.method, tt.body, rec.Code, rec.Body)
		}
		if h.level.Level() != tt.want {
			t.Fatalf("#%d: level %v, want %v", i, h.level.Level(), tt.want)
		}
		if tt.status == 200 {
			var got struct{ Level string }
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Level != tt.want.String() {
				t.Fatalf("#%d: body %s", i, rec.Body)
			}
		}
	}
	// The change takes effect on a logger built on the level.
	core, logs := newObserved(&h.level)
	zap.New(core).Debug("hidden")
	h.do(req{method: "PUT", path: "/api/v1/loglevel", body: `{"level":"debug"}`, auth: "bearer"})
	zap.New(core).Debug("shown")
	if msgs := logs(); len(msgs) != 1 || msgs[0] != "shown" {
		t.Fatalf("logged %v", msgs)
	}
	none := newHarness(t, func(c *Config) { c.Level = nil })
	if rec := none.do(req{path: "/api/v1/loglevel"}); rec.Code != http.StatusNotImplemented {
		t.Fatalf("no level: %d", rec.Code)
	}
}

func TestJSONAPI(t *testing.T) {
	h := newHarness(t, nil)
	empty := map[string]string{"/api/v1/lines": "[]\n", "/api/v1/phones": "[]\n", "/api/v1/calls": "[]\n"}
	for p, want := range empty {
		rec := h.do(req{path: p, auth: "bearer"})
		if rec.Code != 200 || rec.Body.String() != want || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s empty: %d %q", p, rec.Code, rec.Body)
		}
	}
	h.b.lines = []LineView{
		{MSISDN: "14255550100", State: LineLinked, Channel: "connected", TokenExpiresAt: t0.Add(24 * time.Hour), LinkedAt: t0, Phones: 2, ActiveCalls: 1},
		{MSISDN: "14255550101", State: LineNeedsRelink, Reason: "token revoked"},
	}
	h.b.phones = []PhoneView{{AOR: "sip:100@gw", Contact: "sip:100@127.0.0.1:5062", UserAgent: "baresip", Line: "14255550100", Expires: t0.Add(time.Hour)}}
	h.b.calls = []CallView{{ID: "c1", SIPCallID: "sc1", YNACallID: "yc1", Direction: "outbound", Line: "14255550100", Remote: "12065550123", State: "connected", Since: t0}}
	want := map[string]string{
		"/api/v1/lines": `[{"msisdn":"14255550100","state":"linked","channel":"connected","tokenExpiresAt":"2026-11-27T12:00:00Z","linkedAt":"2026-11-26T12:00:00Z","phones":2,"activeCalls":1},` +
			`{"msisdn":"14255550101","state":"needs_relink","reason":"token revoked","channel":"","phones":0,"activeCalls":0}]` + "\n",
		"/api/v1/phones": `[{"aor":"sip:100@gw","contact":"sip:100@127.0.0.1:5062","userAgent":"baresip","line":"14255550100","expires":"2026-11-26T13:00:00Z"}]` + "\n",
		"/api/v1/calls":  `[{"id":"c1","sipCallId":"sc1","ynaCallId":"yc1","direction":"outbound","line":"14255550100","remote":"12065550123","state":"connected","since":"2026-11-26T12:00:00Z"}]` + "\n",
	}
	for p, w := range want {
		if rec := h.do(req{path: p, auth: "bearer"}); rec.Body.String() != w {
			t.Errorf("%s:\n got %s\nwant %s", p, rec.Body, w)
		}
	}

	// GET /api/v1/link: URL, state, redirect URI; the state works without a session.
	rec := h.do(req{path: "/api/v1/link", auth: "bearer"})
	var ls LinkStart
	if err := json.Unmarshal(rec.Body.Bytes(), &ls); err != nil || rec.Code != 200 {
		t.Fatalf("link: %d %s", rec.Code, rec.Body)
	}
	if ls.RedirectURI != testPublic+CallbackPath || len(ls.State) != 64 || !ls.ExpiresAt.Equal(t0.Add(StateLifetime)) ||
		!strings.Contains(ls.URL, "state="+ls.State) || !strings.HasPrefix(ls.URL, fakeYNA) {
		t.Fatalf("link start %+v", ls)
	}
	if rec := h.do(req{path: "/link/callback?code=APICODE&state=" + ls.State}); rec.Code != http.StatusSeeOther {
		t.Fatalf("callback of an API state: %d %s", rec.Code, rec.Body)
	}

	// POST unlink.
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/api/v1/lines/14255550101/unlink", 200, `{"msisdn":"14255550101","unlinked":true}` + "\n"},
		{"/api/v1/lines/14255550101/unlink", 502, `{"error":"unlink failed: no such line"}` + "\n"},
		{"/api/v1/lines/x1/unlink", 400, `{"error":"bad msisdn"}` + "\n"},
	}
	for _, tt := range tests {
		rec := h.do(req{method: "POST", path: tt.path, auth: "bearer"})
		if rec.Code != tt.status || rec.Body.String() != tt.body {
			t.Errorf("POST %s: %d %s", tt.path, rec.Code, rec.Body)
		}
	}
	// Cross-site POST with cached Basic credentials is refused.
	if rec := h.do(req{method: "POST", path: "/api/v1/lines/14255550100/unlink", header: map[string]string{"Sec-Fetch-Site": "cross-site"}}); rec.Code != 403 {
		t.Fatalf("cross-site API POST: %d", rec.Code)
	}
}

func TestSessionStateBounds(t *testing.T) {
	h := newHarness(t, nil)
	first, _ := h.s.sess.newState("")
	for i := 0; i < maxStates+10; i++ {
		h.clk.Add(time.Millisecond)
		h.s.sess.newState("")
	}
	if n := len(h.s.sess.states); n > maxStates {
		t.Fatalf("%d states kept", n)
	}
	if p := h.s.sess.consumeState(first, ""); p != stateUnknown {
		t.Fatalf("oldest state not evicted: %q", p)
	}
	for i := 0; i < maxSessions+5; i++ {
		h.do(req{path: "/"})
	}
	if n := len(h.s.sess.byID); n > maxSessions {
		t.Fatalf("%d sessions kept", n)
	}
	c, _ := h.session()
	h.clk.Add(SessionLifetime + time.Minute)
	if rec := h.do(req{path: "/", cookie: c}); len(rec.Result().Cookies()) == 0 {
		t.Fatal("expired session reused")
	}
}

func TestStartServeClose(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.s.Close(context.Background()); err != nil {
		t.Fatalf("close before start: %v", err)
	}
	ctx := context.Background()
	if err := h.s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Start(ctx); err == nil {
		t.Fatal("second Start succeeded")
	}
	base := "http://" + h.s.Addr().String()
	cl := &http.Client{Timeout: 5 * time.Second}
	defer cl.CloseIdleConnections()
	res, err := cl.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "ok\n" {
		t.Fatalf("healthz %d %q", res.StatusCode, b)
	}
	r, _ := http.NewRequest("GET", base+"/api/v1/lines", nil)
	r.Header.Set("Authorization", "Bearer "+testBearer)
	res, err = cl.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("lines %d", res.StatusCode)
	}
	if err := h.s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := cl.Get(base + "/healthz"); err == nil {
		t.Fatal("still serving after Close")
	}
}

// TestPageLineOwner: in clustered mode the lines table has a Node column naming the
// node whose channel carries each line (— for a free line); in one-process mode (no
// owners) there is no such column.
func TestPageLineOwner(t *testing.T) {
	h := newHarness(t, nil)
	h.b.lines = []LineView{{MSISDN: "14255550100", State: LineLinked}}
	if body := h.do(req{path: "/"}).Body.String(); strings.Contains(body, "<th>Node</th>") || strings.Contains(body, `class="owner"`) {
		t.Fatal("one-process mode shows a Node column")
	}
	h.b.mu.Lock()
	h.b.lines = []LineView{{MSISDN: "14255550100", State: LineLinked, Owner: "gw-<1>"}, {MSISDN: "14255550101", State: LineLinked}}
	h.b.mu.Unlock()
	body := h.do(req{path: "/"}).Body.String()
	for _, want := range []string{"<th>Node</th>", `<td class="owner">gw-&lt;1&gt;</td>`, `<td class="owner">—</td>`} {
		if !strings.Contains(body, want) {
			t.Errorf("clustered page lacks %q", want)
		}
	}
}
