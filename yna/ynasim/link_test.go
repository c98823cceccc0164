package ynasim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna"
)

// The whole link flow driven through the HTML form: GET page, parse form, POST the choice,
// follow the redirect to the code, exchange it, and see the chosen line in account status.
func TestLinkFlowThroughForm(t *testing.T) {
	rg := newSimRig(t, nil)
	page := rg.linkPage(linkQuery("xyz"))
	if page.status != http.StatusOK || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", page.status, page.header.Get("Content-Type"))
	}
	var lines []string
	for _, m := range reLinkLine.FindAllSubmatch(page.body, -1) {
		lines = append(lines, string(m[1]))
	}
	if strings.Join(lines, ",") != simLine1+","+simLine2 {
		t.Fatalf("lines on page %v", lines)
	}
	if !strings.Contains(string(page.body), "Test App") {
		t.Error("app name not shown")
	}

	code := rg.link(simLine2, "xyz")
	tr := rg.tokenReq(code, simRedirect, popTweak{})
	if tr.status != http.StatusOK {
		t.Fatalf("token: %d %s", tr.status, tr.body)
	}
	var tok yna.TokenResponse
	if err := json.Unmarshal(tr.body, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 86400 || tok.RefreshToken == "" ||
		strings.Count(tok.AccessToken, ".") != 2 {
		t.Fatalf("token response %+v", tok)
	}
	st := rg.status(tok.AccessToken)
	if len(st.Lines) != 1 || st.Lines[0] != (yna.Line{MSISDN: simLine2, RegStatus: true}) || st.ReturnCode != 200 {
		t.Fatalf("status %+v", st)
	}
}

func TestLinkPageRejects(t *testing.T) {
	rg := newSimRig(t, func(c *Config) {
		c.Apps[0].RedirectURIs = []string{simRedirect}
	})
	for _, tc := range []struct {
		name string
		q    url.Values
		want string
	}{
		{"no client_id", url.Values{"redirect_uri": {simRedirect}}, "client_id is required"},
		{"unknown client_id", url.Values{"client_id": {"nope"}, "redirect_uri": {simRedirect}}, "unknown client_id"},
		{"no redirect_uri", url.Values{"client_id": {simClientID}}, "redirect_uri is required"},
		{"unregistered redirect_uri", url.Values{"client_id": {simClientID}, "redirect_uri": {"http://evil.example/cb"}}, "not registered"},
		{"wrong client_secret", url.Values{"client_id": {simClientID}, "redirect_uri": {simRedirect}, "client_secret": {"x"}}, "invalid client_secret"},
		{"unknown login_hint", url.Values{"client_id": {simClientID}, "redirect_uri": {simRedirect}, "login_hint": {"bob"}}, "unknown T-Mobile ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := rg.linkPage(tc.q)
			if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), tc.want) {
				t.Fatalf("got %d %s, want 400 with %q", res.status, res.body, tc.want)
			}
			if res.header.Get("Location") != "" {
				t.Error("must not redirect to an unverified redirect_uri")
			}
		})
	}
	// The SDK's unencoded redirect_uri (§5.1) is accepted.
	req, _ := http.NewRequest(http.MethodGet, rg.sim.URL()+yna.PathLinkAccount+"?client_id="+simClientID+
		"&redirect_uri="+simRedirect+"&state=CpaasDemoClient", nil)
	if res := rg.send(req); res.status != http.StatusOK {
		t.Fatalf("raw redirect_uri: %d %s", res.status, res.body)
	}
}

func TestLinkSubmitRejects(t *testing.T) {
	rg := newSimRig(t, func(c *Config) {
		c.Accounts = append(c.Accounts, Account{ID: "bob", Lines: []string{"12065550123"}})
	})
	newFlow := func(q url.Values) string {
		page := rg.linkPage(q)
		m := reFlow.FindSubmatch(page.body)
		if m == nil {
			t.Fatalf("no flow in %s", page.body)
		}
		return string(m[1])
	}
	ok := func(flow string) url.Values {
		return url.Values{"flow": {flow}, "line": {simLine1}, "e911": {"confirmed"}, "terms": {"accepted"}, "action": {"approve"}}
	}
	flow := newFlow(linkQuery("s"))
	for _, tc := range []struct {
		name  string
		edit  func(url.Values)
		field string
	}{
		{"no line", func(v url.Values) { v.Del("line") }, "Choose one of your lines"},
		{"unknown line", func(v url.Values) { v.Set("line", "19995550100") }, "Choose one of your lines"},
		{"no e911", func(v url.Values) { v.Del("e911") }, "E911"},
		{"no terms", func(v url.Values) { v.Del("terms") }, "terms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := ok(flow)
			tc.edit(v)
			res := rg.postForm(yna.PathLinkAccount, v)
			if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), tc.field) ||
				!reFlow.Match(res.body) {
				t.Fatalf("got %d %s", res.status, res.body)
			}
		})
	}
	// The flow is still usable after corrections, but only once.
	if res := rg.postForm(yna.PathLinkAccount, ok(flow)); res.status != http.StatusFound {
		t.Fatalf("approve: %d %s", res.status, res.body)
	}
	if res := rg.postForm(yna.PathLinkAccount, ok(flow)); res.status != http.StatusBadRequest {
		t.Fatalf("reuse: %d", res.status)
	}
	if res := rg.postForm(yna.PathLinkAccount, ok("nope")); res.status != http.StatusBadRequest {
		t.Fatalf("unknown flow: %d", res.status)
	}

	// login_hint limits the page to one account; another account's line is refused.
	q := linkQuery("s")
	q.Set("login_hint", "12065550123")
	hinted := rg.linkPage(q)
	if strings.Contains(string(hinted.body), simLine1) || !strings.Contains(string(hinted.body), "12065550123") {
		t.Fatalf("hinted page lists wrong lines: %s", hinted.body)
	}
	q.Set("login_hint", "bob")
	if res := rg.postForm(yna.PathLinkAccount, ok(newFlow(q))); res.status != http.StatusBadRequest {
		t.Fatalf("foreign line: %d", res.status)
	}

	// Cancel redirects with error_code and state.
	res := rg.postForm(yna.PathLinkAccount, url.Values{"flow": {newFlow(linkQuery("s2"))}, "action": {"deny"}})
	loc, _ := url.Parse(res.header.Get("Location"))
	if res.status != http.StatusFound || loc.Query().Get("error_code") != "access_denied" ||
		loc.Query().Get("state") != "s2" || loc.Query().Has("code") {
		t.Fatalf("deny: %d %s", res.status, loc)
	}

	// A rendered page expires.
	flow = newFlow(linkQuery("s"))
	rg.clock.Advance(DefaultLinkFlowLifetime + time.Second)
	if res := rg.postForm(yna.PathLinkAccount, ok(flow)); res.status != http.StatusBadRequest {
		t.Fatalf("expired flow: %d", res.status)
	}
}

func TestLinkAutoApprove(t *testing.T) {
	rg := newSimRig(t, func(c *Config) {
		c.AutoApprove = true
		c.Accounts = append(c.Accounts, Account{ID: "bob", Lines: []string{"12065550123"}})
	})
	q := linkQuery("auto")
	q.Set("login_hint", "bob")
	res := rg.linkPage(q)
	loc, _ := url.Parse(res.header.Get("Location"))
	if res.status != http.StatusFound || loc.Query().Get("state") != "auto" || !strings.HasPrefix(loc.String(), simRedirect+"?") {
		t.Fatalf("auto approve: %d %s", res.status, loc)
	}
	tr := rg.tokenReq(loc.Query().Get("code"), simRedirect, popTweak{})
	if tr.status != http.StatusOK {
		t.Fatalf("token: %d %s", tr.status, tr.body)
	}
	// Without a hint the first account's first line is linked.
	res = rg.linkPage(linkQuery(""))
	loc, _ = url.Parse(res.header.Get("Location"))
	if res.status != http.StatusFound || loc.Query().Has("state") {
		t.Fatalf("auto approve without state: %d %s", res.status, loc)
	}
	rg.sim.mu.Lock()
	c := rg.sim.codes[loc.Query().Get("code")]
	rg.sim.mu.Unlock()
	if c == nil || c.acct.ID != "alice" || c.lines[0] != simLine1 {
		t.Fatalf("code %+v", c)
	}
}
