package ynasim

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/ynagw/ynagw/yna"
)

var reChannelURL = regexp.MustCompile(`^ws://127\.0\.0\.1:\d+/wss/channelCreateUrl/notificationchannel/v1/[0-9A-F]{64}/channels/mavch1/notifications$`)

func TestAccountStatus(t *testing.T) {
	rg := newSimRig(t, nil)
	tok := rg.linkToken(simLine1).AccessToken
	res := rg.api(http.MethodGet, yna.PathAccountStatus, tok, nil, popTweak{})
	if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", res.status, res.header.Get("Content-Type"))
	}
	want := `{"returnCode":200,"channelUrl":"`
	if !strings.HasPrefix(string(res.body), want) || !strings.HasSuffix(string(res.body), `"lines":[{"msisdn":"`+simLine1+`","regStatus":true}]}`) {
		t.Fatalf("body %s", res.body)
	}
	st1, st2 := rg.status(tok), rg.status(tok)
	if !reChannelURL.MatchString(st1.ChannelURL) || st1.ChannelURL == st2.ChannelURL {
		t.Fatalf("channel URLs %q %q", st1.ChannelURL, st2.ChannelURL)
	}
	// Older URLs stay usable (§18.4).
	rg.dial(st1.ChannelURL)
	rg.dial(st2.ChannelURL)
	if info := rg.waitChan("two sockets", func(i ChannelInfo) bool { return i.SocketsOpen == 2 }); info.URL != st2.ChannelURL {
		t.Errorf("info URL %q, want newest %q", info.URL, st2.ChannelURL)
	}
	// No bearer, bad bearer.
	req := rg.signedReq(http.MethodGet, yna.PathAccountStatus, "", nil, nil, popTweak{})
	if res := rg.send(req); res.status != http.StatusUnauthorized || res.errorBody(t).ReasonCode != "ERR-4001" {
		t.Fatalf("no bearer: %d %s", res.status, res.body)
	}
	if res := rg.api(http.MethodGet, yna.PathAccountStatus, "bogus", nil, popTweak{}); res.status != http.StatusUnauthorized {
		t.Fatalf("bad bearer: %d", res.status)
	}
}

func TestStatus202FaultThen200(t *testing.T) {
	rg := newSimRig(t, nil)
	tok := rg.linkToken(simLine1).AccessToken
	res := rg.send(jsonReq(t, http.MethodPost, rg.sim.URL()+"/sim/faults/endpoints", `{"endpoint":"status","status":202,"count":2}`))
	if res.status != http.StatusOK || !strings.Contains(string(res.body), `"count":2`) {
		t.Fatalf("install fault: %d %s", res.status, res.body)
	}
	for i := 0; i < 2; i++ {
		res := rg.api(http.MethodGet, yna.PathAccountStatus, tok, nil, popTweak{})
		if res.status != http.StatusAccepted || len(res.body) != 0 {
			t.Fatalf("try %d: %d %q", i, res.status, res.body)
		}
	}
	rg.status(tok)
	if f := rg.sim.EndpointFaults(); len(f) != 0 {
		t.Fatalf("faults left: %+v", f)
	}

	// An error status carries the §3 body; a delay-only fault lets the request through.
	if err := rg.sim.SetEndpointFault(EndpointFault{Endpoint: "status", Status: 503}); err != nil {
		t.Fatal(err)
	}
	res = rg.api(http.MethodGet, yna.PathAccountStatus, tok, nil, popTweak{})
	if e := res.errorBody(t); res.status != http.StatusServiceUnavailable || e.ReasonCode != "ERR-5030" {
		t.Fatalf("503 fault: %d %+v", res.status, e)
	}
	if err := rg.sim.SetEndpointFault(EndpointFault{Endpoint: "status", DelayMs: 20}); err != nil {
		t.Fatal(err)
	}
	rg.status(tok)

	// Faults apply after authentication: a bad token does not consume them.
	if err := rg.sim.SetEndpointFault(EndpointFault{Endpoint: "unlink", Status: 500}); err != nil {
		t.Fatal(err)
	}
	if res := rg.api(http.MethodDelete, yna.PathUnlink, "bogus", nil, popTweak{}); res.status != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", res.status)
	}
	if res := rg.api(http.MethodDelete, yna.PathUnlink, tok, nil, popTweak{}); res.status != http.StatusInternalServerError {
		t.Fatalf("unlink fault: %d", res.status)
	}
}

func TestUnlinkRevokes(t *testing.T) {
	rg := newSimRig(t, nil)
	tok, st, c := rg.online()
	other := rg.linkToken(simLine1).AccessToken // a second grant survives the unlink
	res := rg.api(http.MethodDelete, yna.PathUnlink+"?client_id="+simClientID+"&redirect_uri="+url.QueryEscape(simRedirect), tok, nil, popTweak{})
	if res.status != http.StatusOK {
		t.Fatalf("unlink: %d %s", res.status, res.body)
	}
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
		t.Fatalf("socket after unlink: %v", err)
	}
	if res := rg.api(http.MethodGet, yna.PathAccountStatus, tok, nil, popTweak{}); res.status != http.StatusUnauthorized {
		t.Fatalf("token after unlink: %d", res.status)
	}
	if _, r, err := websocket.DefaultDialer.Dial(st.ChannelURL, nil); err == nil || r == nil || r.StatusCode != http.StatusNotFound {
		t.Fatalf("old channel URL after unlink: %v", err)
	}
	rg.status(other)
}

func TestExpireTokensControl(t *testing.T) {
	rg := newSimRig(t, nil)
	tok := rg.linkToken(simLine1).AccessToken
	res := rg.send(jsonReq(t, http.MethodPost, rg.sim.URL()+"/sim/accounts/alice/expireTokens", ``))
	if res.status != http.StatusNoContent {
		t.Fatalf("expireTokens: %d %s", res.status, res.body)
	}
	res = rg.api(http.MethodGet, yna.PathAccountStatus, tok, nil, popTweak{})
	if res.status != http.StatusUnauthorized || !strings.Contains(res.errorBody(t).UserMessage, "expired") {
		t.Fatalf("after expire: %d %s", res.status, res.body)
	}
	if res := rg.send(jsonReq(t, http.MethodPost, rg.sim.URL()+"/sim/accounts/nobody/expireTokens", ``)); res.status != http.StatusNotFound {
		t.Fatalf("unknown account: %d", res.status)
	}
}

func TestE911Page(t *testing.T) {
	rg := newSimRig(t, nil)
	tok := rg.linkToken(simLine1).AccessToken
	const ok, fail = "http://localhost:8080/ok", "http://localhost:8080/fail"
	open := func(q url.Values, header string) resp {
		req, _ := http.NewRequest(http.MethodPost, rg.sim.URL()+yna.PathChangeEmergencyAddress+"?"+q.Encode(), nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		return rg.send(req)
	}
	both := url.Values{"success-redirect-url": {ok}, "failure-redirect-url": {fail}}

	if res := open(url.Values{}, "Bearer "+tok); res.status != http.StatusBadRequest {
		t.Fatalf("no success url: %d", res.status)
	}
	if res := open(both, "Bearer nope"); res.status != http.StatusFound || res.header.Get("Location") != fail {
		t.Fatalf("bad token: %d %s", res.status, res.header.Get("Location"))
	}
	if res := open(url.Values{"success-redirect-url": {ok}}, ""); res.status != http.StatusFound || res.header.Get("Location") != ok {
		t.Fatalf("no token, no failure url: %d %s", res.status, res.header.Get("Location"))
	}

	page := open(both, "Bearer "+tok)
	form := reE911F.FindSubmatch(page.body)
	if page.status != http.StatusOK || form == nil || !strings.Contains(string(page.body), defaultE911) {
		t.Fatalf("page: %d %s", page.status, page.body)
	}
	fields := url.Values{"form_id": {string(form[1])}, "street": {"1 Main St"}, "city": {"Seattle"}, "state": {"wa"}, "zip": {"98101"}, "action": {"save"}}
	bad := url.Values{}
	for k, v := range fields {
		bad[k] = v
	}
	bad.Set("zip", "981")
	if res := rg.postForm(yna.PathChangeEmergencyAddress, bad); res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "ZIP") {
		t.Fatalf("bad zip: %d %s", res.status, res.body)
	}
	if res := rg.postForm(yna.PathChangeEmergencyAddress, fields); res.status != http.StatusFound || res.header.Get("Location") != ok {
		t.Fatalf("save: %d %s", res.status, res.header.Get("Location"))
	}
	if a, _ := rg.sim.AccountByID("alice"); a.E911 != "1 Main St, Seattle, WA 98101" {
		t.Fatalf("E911 %q", a.E911)
	}
	if res := rg.postForm(yna.PathChangeEmergencyAddress, fields); res.status != http.StatusBadRequest {
		t.Fatalf("form reuse: %d", res.status)
	}

	// Token in the Authorization query parameter; cancel goes to the failure URL.
	q := url.Values{"success-redirect-url": {ok}, "failure-redirect-url": {fail}, "Authorization": {"Bearer " + tok}}
	page = open(q, "")
	form = reE911F.FindSubmatch(page.body)
	if page.status != http.StatusOK || form == nil || !strings.Contains(string(page.body), "Seattle") {
		t.Fatalf("page via query: %d %s", page.status, page.body)
	}
	if res := rg.postForm(yna.PathChangeEmergencyAddress, url.Values{"form_id": {string(form[1])}, "action": {"cancel"}}); res.status != http.StatusFound || res.header.Get("Location") != fail {
		t.Fatalf("cancel: %d %s", res.status, res.header.Get("Location"))
	}
}

func TestHTTPPlumbing(t *testing.T) {
	rg := newSimRig(t, nil)
	get := func(method, path string, hdr ...string) resp {
		req, _ := http.NewRequest(method, rg.sim.URL()+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return rg.send(req)
	}
	if res := get(http.MethodGet, "/cpaas/v1/nope"); res.status != http.StatusNotFound || res.errorBody(t).ReasonCode != "ERR-4004" {
		t.Fatalf("404: %d %s", res.status, res.body)
	}
	res := get(http.MethodGet, yna.PathToken)
	if res.status != http.StatusMethodNotAllowed || res.errorBody(t).UserMessage != "Method not allowed" || !strings.Contains(res.header.Get("Allow"), "POST") {
		t.Fatalf("405: %d %s %v", res.status, res.body, res.header)
	}
	if res := get(http.MethodGet, "/ping/networkPing?random=123"); res.status != http.StatusOK {
		t.Fatalf("networkPing: %d", res.status)
	}
	res = get(http.MethodOptions, yna.PathAccountStatus, "Origin", "http://localhost:8080",
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization,x-authorization")
	if res.status != http.StatusNoContent || res.header.Get("Access-Control-Allow-Origin") != "http://localhost:8080" {
		t.Fatalf("preflight: %d %v", res.status, res.header)
	}
	for _, h := range []string{"Authorization", "X-Authorization", "X-Transaction-Id", "Content-Type", "Conference", "Reason"} {
		if !strings.Contains(res.header.Get("Access-Control-Allow-Headers"), h) {
			t.Errorf("preflight does not allow %s", h)
		}
	}
	if res := get(http.MethodGet, "/"); res.status != http.StatusOK || !strings.Contains(string(res.body), simClientID) {
		t.Fatalf("index: %d", res.status)
	}
}

func TestNormalizeLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"14255550100", "14255550100"},
		{"4255550100", "14255550100"},
		{"+1 (425) 555-0100", "14255550100"},
		{"tel:+14255550100", "14255550100"},
		{"04255550100", ""},
		{"11255550100", ""}, // area code starts with 1
		{"14251550100", ""}, // exchange starts with 1
		{"425555010", ""},
		{"1425555010x", ""},
		{"", ""},
	} {
		got, err := normalizeLine(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("normalizeLine(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
