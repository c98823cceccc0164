package ynasim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ynagw/ynagw/yna"
)

func jsonReq(t *testing.T, method, u, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

func TestControlAPI(t *testing.T) {
	rg := newSimRig(t, nil)
	base := rg.sim.URL()
	do := func(method, path, body string) resp { return rg.send(jsonReq(t, method, base+path, body)) }

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"create account", "POST", "/sim/accounts", `{"id":"bob","lines":["+1 206 555 0123"],"name":"Bob"}`, 201, `"lines":["12065550123"]`},
		{"generated id", "POST", "/sim/accounts", `{"lines":["2065550124"]}`, 201, `"id":"acct1"`},
		{"duplicate id", "POST", "/sim/accounts", `{"id":"bob","lines":["2065550199"]}`, 409, "ERR-4009"},
		{"line taken", "POST", "/sim/accounts", `{"id":"carol","lines":["12065550123"]}`, 409, "belongs to account bob"},
		{"bad line", "POST", "/sim/accounts", `{"id":"carol","lines":["911"]}`, 400, "ERR-4000"},
		{"no lines", "POST", "/sim/accounts", `{"id":"carol"}`, 400, "at least one line"},
		{"unknown field", "POST", "/sim/accounts", `{"id":"carol","lines":["2065550125"],"x":1}`, 400, "unknown field"},
		{"list accounts", "GET", "/sim/accounts", ``, 200, `"id":"bob"`},
		{"get account", "GET", "/sim/accounts/alice", ``, 200, `"name":"Alice"`},
		{"get unknown", "GET", "/sim/accounts/zed", ``, 404, "ERR-4004"},
		{"channel", "GET", "/sim/accounts/alice/channel", ``, 200, `"unacked":[]`},
		{"channel unknown", "GET", "/sim/accounts/zed/channel", ``, 404, "ERR-4004"},
		{"fault", "POST", "/sim/accounts/alice/faults", `{"withholdPongs":true}`, 200, `"withholdPongs":true`},
		{"fault bad json", "POST", "/sim/accounts/alice/faults", `{"drop":true}`, 400, "unknown field"},
		{"endpoint fault", "POST", "/sim/faults/endpoints", `{"endpoint":"start","status":503,"count":2}`, 200, `"endpoint":"start","status":503,"count":2`},
		{"endpoint fault delay", "POST", "/sim/faults/endpoints", `{"endpoint":"hold","delayMs":5}`, 200, `"endpoint":"hold","count":1,"delayMs":5`},
		{"endpoint unknown", "POST", "/sim/faults/endpoints", `{"endpoint":"nope","status":500}`, 400, "unknown endpoint"},
		{"endpoint nothing", "POST", "/sim/faults/endpoints", `{"endpoint":"start"}`, 400, "status or a delay"},
		{"endpoint bad status", "POST", "/sim/faults/endpoints", `{"endpoint":"start","status":99}`, 400, "status 99"},
		{"list endpoint faults", "GET", "/sim/faults/endpoints", ``, 200, `"endpoint":"hold"`},
		{"clear endpoint faults", "DELETE", "/sim/faults/endpoints", ``, 204, ""},
		{"list after clear", "GET", "/sim/faults/endpoints", ``, 200, `[]`},
		{"notify", "POST", "/sim/accounts/alice/notify", `{"type":"sessionStatusNotification","content":{"status":"Ringing"}}`, 200, `"msgId":"1"`},
		{"notify no type", "POST", "/sim/accounts/alice/notify", `{"content":{}}`, 400, "type required"},
		{"list apps", "GET", "/sim/apps", ``, 200, `"clientId":"test-app"`},
		{"add app bad key", "POST", "/sim/apps", `{"clientId":"x","clientSecret":"y","publicKeyPem":"nope"}`, 400, "public key"},
		{"add app no secret", "POST", "/sim/apps", `{"clientId":"x"}`, 400, "clientSecret"},
		{"wrong method", "PUT", "/sim/accounts", `{}`, 405, "Method not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(tc.method, tc.path, tc.body)
			if res.status != tc.status || !strings.Contains(string(res.body), tc.contains) {
				t.Fatalf("%s %s: %d %s; want %d containing %q", tc.method, tc.path, res.status, res.body, tc.status, tc.contains)
			}
		})
	}
	if a := rg.sim.accountByLine("2065550124"); a == nil || a.ID != "acct1" {
		t.Fatalf("accountByLine: %+v", a)
	}
	if info, _ := rg.sim.Channel("alice"); len(info.Queued) != 1 || info.UnackedTypes[0] != yna.TypeSessionStatus {
		t.Fatalf("notify via control: %+v", info)
	}

	// Register an app through the API with a private key PEM: only the public half is kept.
	key, _ := simTestKeys(t)
	priv, _ := yna.MarshalPrivateKeyPEM(key)
	body, _ := json.Marshal(App{ClientID: "app2", ClientSecret: "s", PublicKeyPEM: string(priv), RedirectURIs: []string{"https://x/cb"}})
	if res := do("POST", "/sim/apps", string(body)); res.status != http.StatusCreated {
		t.Fatalf("add app: %d %s", res.status, res.body)
	}
	apps := rg.sim.Apps()
	if len(apps) != 2 || apps[1].ClientID != "app2" || !strings.Contains(apps[1].PublicKeyPEM, "BEGIN PUBLIC KEY") {
		t.Fatalf("apps %+v", apps)
	}
}

func TestRedirectAllowed(t *testing.T) {
	open := &App{}
	reg := &App{RedirectURIs: []string{"http://localhost:8080/cb/"}}
	for _, tc := range []struct {
		app  *App
		uri  string
		want bool
	}{
		{open, "http://localhost:8080", true},
		{open, "https://example.com/x", true},
		{open, "javascript:alert(1)", false},
		{open, "localhost:8080", false},
		{reg, "http://localhost:8080/cb", true},
		{reg, "http://localhost:8080/cb/", true},
		{reg, "http://localhost:8080/other", false},
	} {
		if got := redirectAllowed(tc.app, tc.uri); got != tc.want {
			t.Errorf("redirectAllowed(%v, %q) = %v", tc.app.RedirectURIs, tc.uri, got)
		}
	}
}

func TestPopRequired(t *testing.T) {
	base := yna.StrictPoPRequire()
	if got := strings.Join(popRequired(endpointStatus, base), ";"); got != "http-method;uri;Authorization" {
		t.Errorf("status: %s", got)
	}
	if got := strings.Join(popRequired(endpointToken, base), ";"); got != "http-method;uri" {
		t.Errorf("token: %s", got)
	}
}
