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

func TestCodeSingleUseAndExpiry(t *testing.T) {
	rg := newSimRig(t, nil)

	code := rg.link(simLine1, "s")
	if res := rg.tokenReq(code, simRedirect, popTweak{}); res.status != http.StatusOK {
		t.Fatalf("first use: %d %s", res.status, res.body)
	}
	res := rg.tokenReq(code, simRedirect, popTweak{})
	if e := res.errorBody(t); res.status != http.StatusBadRequest || e.ReasonCode != "ERR-4000" ||
		!strings.Contains(e.UserMessage, "invalid authorization code") {
		t.Fatalf("second use: %d %+v", res.status, e)
	}

	code = rg.link(simLine1, "s")
	rg.clock.Advance(59 * time.Second)
	if res := rg.tokenReq(code, simRedirect, popTweak{}); res.status != http.StatusOK {
		t.Fatalf("at 59 s: %d %s", res.status, res.body)
	}
	code = rg.link(simLine1, "s")
	rg.clock.Advance(61 * time.Second)
	res = rg.tokenReq(code, simRedirect, popTweak{})
	if e := res.errorBody(t); res.status != http.StatusBadRequest || !strings.Contains(e.UserMessage, "expired") {
		t.Fatalf("at 61 s: %d %+v", res.status, e)
	}

	code = rg.link(simLine1, "s")
	res = rg.tokenReq(code, "http://localhost:9999/other", popTweak{})
	if e := res.errorBody(t); res.status != http.StatusBadRequest || !strings.Contains(e.UserMessage, "redirect_uri") {
		t.Fatalf("redirect mismatch: %d %+v", res.status, e)
	}
}

func TestTokenRejects(t *testing.T) {
	rg := newSimRig(t, nil)
	code := rg.link(simLine1, "s")
	pq := func(q string) string { return yna.PathToken + "?" + q }
	good := "grant_type=authorization_code&redirect_uri=" + url.QueryEscape(simRedirect) + "&code=" + code
	for _, tc := range []struct {
		name   string
		path   string
		authz  string
		status int
		code   string
	}{
		{"no basic", pq(good), "", http.StatusUnauthorized, "ERR-4001"},
		{"bearer instead of basic", pq(good), "Bearer x", http.StatusUnauthorized, "ERR-4001"},
		{"wrong secret", pq(good), basic(simClientID, "nope"), http.StatusUnauthorized, "ERR-4001"},
		{"unknown client", pq(good), basic("other", simSecret), http.StatusUnauthorized, "ERR-4001"},
		{"no grant_type", pq("code=" + code + "&redirect_uri=x"), basic(simClientID, simSecret), http.StatusBadRequest, "ERR-4000"},
		{"bad grant_type", pq("grant_type=password"), basic(simClientID, simSecret), http.StatusBadRequest, "ERR-4000"},
		{"no code", pq("grant_type=authorization_code&redirect_uri=x"), basic(simClientID, simSecret), http.StatusBadRequest, "ERR-4000"},
		{"no redirect", pq("grant_type=authorization_code&code=" + code), basic(simClientID, simSecret), http.StatusBadRequest, "ERR-4000"},
		{"unknown code", pq("grant_type=authorization_code&redirect_uri=x&code=zzz"), basic(simClientID, simSecret), http.StatusBadRequest, "ERR-4000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := rg.signedReq(http.MethodPost, tc.path, tc.authz, nil, nil, popTweak{})
			if tc.authz == "" {
				req.Header.Del("Authorization")
			}
			res := rg.send(req)
			if e := res.errorBody(t); res.status != tc.status || e.ReasonCode != tc.code {
				t.Fatalf("got %d %+v", res.status, e)
			}
		})
	}
	// None of the failures consumed the code.
	if res := rg.tokenReq(code, simRedirect, popTweak{}); res.status != http.StatusOK {
		t.Fatalf("good exchange after failures: %d %s", res.status, res.body)
	}
}

func TestRefreshGrant(t *testing.T) {
	rg := newSimRig(t, nil)
	tr := rg.linkToken(simLine1)
	refresh := func(rt string) resp {
		return rg.send(rg.signedReq(http.MethodPost, yna.PathToken+"?grant_type=refresh_token&refresh_token="+url.QueryEscape(rt),
			basic(simClientID, simSecret), nil, nil, popTweak{}))
	}
	res := refresh(tr.RefreshToken)
	if res.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", res.status, res.body)
	}
	var tr2 yna.TokenResponse
	if err := json.Unmarshal(res.body, &tr2); err != nil {
		t.Fatal(err)
	}
	if tr2.AccessToken == tr.AccessToken || tr2.RefreshToken == tr.RefreshToken {
		t.Fatal("refresh did not issue new tokens")
	}
	rg.status(tr2.AccessToken)
	if res := refresh(tr.RefreshToken); res.status != http.StatusBadRequest {
		t.Fatalf("rotated refresh token reused: %d", res.status)
	}
}

func TestExpiredAccessToken(t *testing.T) {
	rg := newSimRig(t, func(c *Config) { c.TokenLifetime = time.Hour })
	tr := rg.linkToken(simLine1)
	if tr.ExpiresIn != 3600 {
		t.Fatalf("expires_in %d", tr.ExpiresIn)
	}
	rg.clock.Advance(time.Hour - time.Second)
	rg.status(tr.AccessToken)
	rg.clock.Advance(time.Second)
	res := rg.api(http.MethodGet, yna.PathAccountStatus, tr.AccessToken, nil, popTweak{})
	if e := res.errorBody(t); res.status != http.StatusUnauthorized || !strings.Contains(e.UserMessage, "expired") {
		t.Fatalf("expired: %d %+v", res.status, e)
	}
}

// PoP checks of §4.3 / §18.7 in strict mode, each on account status (a GET) or the token call.
func TestPoPStrictRejects(t *testing.T) {
	rg := newSimRig(t, nil)
	tok := rg.linkToken(simLine1).AccessToken
	_, otherKey := simTestKeys(t)
	dropHeader := func(name string) func([]yna.Header) []yna.Header {
		return func(h []yna.Header) []yna.Header {
			var out []yna.Header
			for _, x := range h {
				if x.Name != name {
					out = append(out, x)
				}
			}
			return out
		}
	}
	for _, tc := range []struct {
		name string
		tw   popTweak
		want string
	}{
		{"missing", popTweak{skip: true}, "X-Authorization"},
		{"garbage", popTweak{token: "abc.def"}, "compact JWS"},
		{"other key", popTweak{signer: yna.NewPoPSigner(otherKey).WithClock(rg.clock.Now)}, "bad signature"},
		{"stale", popTweak{signer: yna.NewPoPSigner(rg.key).WithClock(func() time.Time {
			return rg.clock.Now().Add(-10 * time.Minute)
		})}, "expired"},
		{"future", popTweak{signer: yna.NewPoPSigner(rg.key).WithClock(func() time.Time {
			return rg.clock.Now().Add(10 * time.Minute)
		})}, "future"},
		{"window too long", popTweak{claims: func(c *yna.PoPClaims) { c.EXP = c.IAT + 300 }}, "exceeds"},
		{"wrong v", popTweak{claims: func(c *yna.PoPClaims) { c.V = "2" }}, "v "},
		{"wrong uri signed", popTweak{uri: "/cpaas/v1/account/other"}, "edts mismatch"},
		{"tampered header", popTweak{after: func(r *http.Request) { r.Header.Set("X-Transaction-Id", "x") }}, "edts mismatch"},
		{"no Authorization in ehts", popTweak{headers: dropHeader("Authorization")}, `"Authorization"`},
		{"no uri in ehts", popTweak{claims: func(c *yna.PoPClaims) { c.EHTS = strings.Replace(c.EHTS, "uri;", "", 1) }}, `"uri"`},
		{"names a missing header", popTweak{headers: func(h []yna.Header) []yna.Header {
			return append(h, yna.Header{Name: "X-Missing", Value: ""})
		}}, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := rg.api(http.MethodGet, yna.PathAccountStatus, tok, nil, tc.tw)
			e := res.errorBody(t)
			if res.status != http.StatusUnauthorized || e.ReasonCode != "ERR-4001" || e.SystemMessage != "UNAUTHORIZED" ||
				!strings.Contains(e.UserMessage, tc.want) {
				t.Fatalf("got %d %+v, want 401 mentioning %q", res.status, e, tc.want)
			}
		})
	}

	// A reused jti is rejected even though the token is otherwise valid.
	req := rg.signedReq(http.MethodGet, yna.PathAccountStatus, "Bearer "+tok, nil, nil, popTweak{})
	pop := req.Header.Get("X-Authorization")
	if res := rg.send(req); res.status != http.StatusOK {
		t.Fatalf("first: %d %s", res.status, res.body)
	}
	req2 := rg.signedReq(http.MethodGet, yna.PathAccountStatus, "Bearer "+tok, nil, nil, popTweak{})
	req2.Header.Set("X-Transaction-Id", req.Header.Get("X-Transaction-Id"))
	req2.Header.Set("X-Authorization", pop)
	if res := rg.send(req2); res.status != http.StatusUnauthorized || !strings.Contains(res.errorBody(t).UserMessage, "jti") {
		t.Fatalf("replay: %d %s", res.status, res.body)
	}

	// The token call: a body that is not signed is rejected; Authorization may be left out of ehts.
	code := rg.link(simLine1, "s")
	pq := yna.PathToken + "?grant_type=authorization_code&redirect_uri=" + url.QueryEscape(simRedirect) + "&code=" + code
	res := rg.send(rg.signedReq(http.MethodPost, pq, basic(simClientID, simSecret), nil, []byte(`{}`), popTweak{omitB: true}))
	if res.status != http.StatusUnauthorized || !strings.Contains(res.errorBody(t).UserMessage, "body") {
		t.Fatalf("unsigned body: %d %s", res.status, res.body)
	}
	res = rg.send(rg.signedReq(http.MethodPost, pq, basic(simClientID, simSecret), nil, nil, popTweak{headers: dropHeader("Authorization")}))
	if res.status != http.StatusOK {
		t.Fatalf("token call without Authorization in ehts: %d %s", res.status, res.body)
	}
}

func TestPoPLaxAndOff(t *testing.T) {
	for _, tc := range []struct {
		mode      PoPMode
		missingOK bool
		garbageOK bool
	}{
		{PoPLax, true, false},
		{PoPOff, true, true},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			rg := newSimRig(t, func(c *Config) { c.PoP = tc.mode })
			tok := rg.linkToken(simLine1).AccessToken
			if res := rg.api(http.MethodGet, yna.PathAccountStatus, tok, nil, popTweak{skip: true}); (res.status == 200) != tc.missingOK {
				t.Errorf("missing PoP: %d", res.status)
			}
			if res := rg.api(http.MethodGet, yna.PathAccountStatus, tok, nil, popTweak{token: "a.b.c"}); (res.status == 200) != tc.garbageOK {
				t.Errorf("garbage PoP: %d", res.status)
			}
			// Lax skips the strict-only checks (required names, jti replay).
			res := rg.api(http.MethodGet, yna.PathAccountStatus, tok, nil, popTweak{headers: func([]yna.Header) []yna.Header { return nil }})
			if res.status != http.StatusOK {
				t.Errorf("ehts without headers: %d %s", res.status, res.body)
			}
		})
	}
}
