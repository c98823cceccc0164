package ynasim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ynagw/ynagw/yna"
)

// Test rig for the simulator core: a real Sim on loopback, one registered app whose key
// the rig holds, one account "alice" with two lines, a fake clock shared by the Sim and the
// rig's PoP signer, and an HTTP client that signs requests the way the SDK does (§4.2).

const (
	simLine1    = "14255550100"
	simLine2    = "14255550101"
	simClientID = "test-app"
	simSecret   = "s3cret"
	simRedirect = "http://localhost:8080/callback"
)

var (
	simKeysOnce sync.Once
	simKeys     [2]*rsa.PrivateKey
)

// simTestKeys returns two RSA keys generated once per test binary.
func simTestKeys(t testing.TB) (app, other *rsa.PrivateKey) {
	t.Helper()
	simKeysOnce.Do(func() {
		for i := range simKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			simKeys[i] = k
		}
	})
	return simKeys[0], simKeys[1]
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type simRig struct {
	t      testing.TB
	sim    *Sim
	key    *rsa.PrivateKey
	clock  *fakeClock
	signer *yna.PoPSigner
	hc     *http.Client
}

// newSimRig starts a Sim; mut may adjust the config before New.
func newSimRig(t testing.TB, mut func(*Config)) *simRig {
	t.Helper()
	key, _ := simTestKeys(t)
	pub, err := yna.MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	cfg := Config{
		Apps:     []App{{ClientID: simClientID, ClientSecret: simSecret, PublicKeyPEM: string(pub), Name: "Test App"}},
		Accounts: []Account{{ID: "alice", Lines: []string{simLine1, simLine2}, Name: "Alice"}},
		Now:      clock.Now,
	}
	if mut != nil {
		mut(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	rg := &simRig{t: t, sim: s, key: key, clock: clock,
		signer: yna.NewPoPSigner(key).WithClock(clock.Now),
		hc: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{},
		}}
	t.Cleanup(func() {
		rg.hc.CloseIdleConnections()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return rg
}

// resp is a finished HTTP exchange.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) errorBody(t testing.TB) yna.ErrorInfo {
	t.Helper()
	var eb yna.ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || len(eb.Errors) != 1 {
		t.Fatalf("status %d: body %q is not an ErrorInfo body (%v)", r.status, r.body, err)
	}
	return eb.Errors[0]
}

func (rg *simRig) send(req *http.Request) resp {
	rg.t.Helper()
	res, err := rg.hc.Do(req)
	if err != nil {
		rg.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		rg.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// popTweak changes how signedReq builds the PoP (to provoke rejections).
type popTweak struct {
	skip    bool                            // no X-Authorization
	token   string                          // use this token verbatim
	headers func([]yna.Header) []yna.Header // rewrite the signed header list
	uri     string                          // sign this uri instead
	omitB   bool                            // do not sign the body
	signer  *yna.PoPSigner                  // sign with this signer
	claims  func(c *yna.PoPClaims)          // re-sign with modified claims
	after   func(req *http.Request)         // last-minute request change
}

// signedReq builds an API request as the SDK does (§3, §4.2): caller headers first, then
// Content-Type on POST, Accept, Authorization, X-Transaction-Id; all signed into the PoP.
func (rg *simRig) signedReq(method, pathQuery, authz string, extra []yna.Header, body []byte, tw popTweak) *http.Request {
	rg.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequest(method, rg.sim.URL()+pathQuery, rd)
	if err != nil {
		rg.t.Fatal(err)
	}
	hdrs := append([]yna.Header(nil), extra...)
	if method == http.MethodPost {
		hdrs = append(hdrs, yna.Header{Name: "Content-Type", Value: "application/json"})
	}
	if strings.HasPrefix(authz, "Basic ") {
		// Token call order (§4.2): Authorization first.
		hdrs = append([]yna.Header{{Name: "Authorization", Value: authz}}, hdrs...)
		hdrs = append(hdrs, yna.Header{Name: "Accept", Value: "application/json"})
	} else {
		hdrs = append(hdrs, yna.Header{Name: "Accept", Value: "application/json"})
		if authz != "" {
			hdrs = append(hdrs, yna.Header{Name: "Authorization", Value: authz})
		}
	}
	hdrs = append(hdrs, yna.Header{Name: "X-Transaction-Id", Value: uuid.NewString()})
	for _, h := range hdrs {
		req.Header.Set(h.Name, h.Value)
	}
	if !tw.skip {
		tok := tw.token
		if tok == "" {
			signed := hdrs
			if tw.headers != nil {
				signed = tw.headers(append([]yna.Header(nil), hdrs...))
			}
			uri := pathQuery
			if tw.uri != "" {
				uri = tw.uri
			}
			sb := body
			if tw.omitB {
				sb = nil
			}
			signer := rg.signer
			if tw.signer != nil {
				signer = tw.signer
			}
			tok, err = signer.Sign(method, uri, signed, sb)
			if err != nil {
				rg.t.Fatal(err)
			}
			if tw.claims != nil {
				tok = rg.resign(tok, tw.claims)
			}
		}
		req.Header.Set("X-Authorization", tok)
	}
	if tw.after != nil {
		tw.after(req)
	}
	return req
}

// resign decodes a PoP token's claims, lets f change them and signs again with the rig key.
func (rg *simRig) resign(tok string, f func(*yna.PoPClaims)) string {
	rg.t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		rg.t.Fatal(err)
	}
	var c yna.PoPClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		rg.t.Fatal(err)
	}
	f(&c)
	out, err := yna.SignPoPClaims(rg.key, c)
	if err != nil {
		rg.t.Fatal(err)
	}
	return out
}

var (
	reFlow     = regexp.MustCompile(`name="flow" value="([^"]+)"`)
	reLinkLine = regexp.MustCompile(`name="line" value="([^"]+)"`)
	reFormA    = regexp.MustCompile(`<form method="POST" action="([^"]+)"`)
	reE911F    = regexp.MustCompile(`name="form_id" value="([^"]+)"`)
)

// linkPage GETs the link page with the given query and returns the response.
func (rg *simRig) linkPage(q url.Values) resp {
	rg.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rg.sim.URL()+yna.PathLinkAccount+"?"+q.Encode(), nil)
	return rg.send(req)
}

func linkQuery(state string) url.Values {
	q := url.Values{"client_id": {simClientID}, "redirect_uri": {simRedirect}}
	if state != "" {
		q.Set("state", state)
	}
	return q
}

// postForm posts a form to a path of the Sim.
func (rg *simRig) postForm(path string, f url.Values) resp {
	rg.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, rg.sim.URL()+path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return rg.send(req)
}

// link drives the HTML link flow, choosing line, and returns the redirect's code.
func (rg *simRig) link(line, state string) string {
	rg.t.Helper()
	page := rg.linkPage(linkQuery(state))
	if page.status != http.StatusOK {
		rg.t.Fatalf("link page: %d %s", page.status, page.body)
	}
	flow := reFlow.FindSubmatch(page.body)
	action := reFormA.FindSubmatch(page.body)
	if flow == nil || action == nil {
		rg.t.Fatalf("link page lacks form: %s", page.body)
	}
	res := rg.postForm(string(action[1]), url.Values{"flow": {string(flow[1])}, "line": {line},
		"e911": {"confirmed"}, "terms": {"accepted"}, "action": {"approve"}})
	if res.status != http.StatusFound {
		rg.t.Fatalf("link submit: %d %s", res.status, res.body)
	}
	loc, err := url.Parse(res.header.Get("Location"))
	if err != nil {
		rg.t.Fatal(err)
	}
	if got := loc.Query().Get("state"); got != state {
		rg.t.Fatalf("state %q, want %q", got, state)
	}
	code := loc.Query().Get("code")
	if code == "" {
		rg.t.Fatalf("redirect without code: %s", loc)
	}
	return code
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// tokenReq exchanges a code like the SDK (§5.2): query params, no body, Basic + PoP.
func (rg *simRig) tokenReq(code, redirect string, tw popTweak) resp {
	rg.t.Helper()
	pq := yna.PathToken + "?grant_type=authorization_code&redirect_uri=" + url.QueryEscape(redirect) + "&code=" + code
	return rg.send(rg.signedReq(http.MethodPost, pq, basic(simClientID, simSecret), nil, nil, tw))
}

// linkToken runs link + token exchange and returns the token response.
func (rg *simRig) linkToken(line string) yna.TokenResponse {
	rg.t.Helper()
	code := rg.link(line, "st")
	res := rg.tokenReq(code, simRedirect, popTweak{})
	if res.status != http.StatusOK {
		rg.t.Fatalf("token: %d %s", res.status, res.body)
	}
	var tr yna.TokenResponse
	if err := json.Unmarshal(res.body, &tr); err != nil {
		rg.t.Fatal(err)
	}
	return tr
}

// api sends a signed bearer request.
func (rg *simRig) api(method, pathQuery, token string, body []byte, tw popTweak) resp {
	rg.t.Helper()
	return rg.send(rg.signedReq(method, pathQuery, "Bearer "+token, nil, body, tw))
}

// status fetches account status and decodes a 200.
func (rg *simRig) status(token string) yna.AccountStatus {
	rg.t.Helper()
	res := rg.api(http.MethodGet, yna.PathAccountStatus, token, nil, popTweak{})
	if res.status != http.StatusOK {
		rg.t.Fatalf("status: %d %s", res.status, res.body)
	}
	var st yna.AccountStatus
	if err := json.Unmarshal(res.body, &st); err != nil {
		rg.t.Fatal(err)
	}
	return st
}

// dial opens a channel socket.
func (rg *simRig) dial(u string) *websocket.Conn {
	rg.t.Helper()
	c, res, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial(u, nil)
	if err != nil {
		st := 0
		if res != nil {
			st = res.StatusCode
		}
		rg.t.Fatalf("dial %s: %v (status %d)", u, err, st)
	}
	rg.t.Cleanup(func() { _ = c.Close() })
	return c
}

// read reads one text frame with a deadline.
func readFrame(t testing.TB, c *websocket.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if mt != websocket.TextMessage {
		t.Fatalf("frame type %d, want text", mt)
	}
	return string(b)
}

func writeText(t testing.TB, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

// waitChan waits (max 5 s) for a channel condition of account alice.
func (rg *simRig) waitChan(what string, cond func(ChannelInfo) bool) ChannelInfo {
	rg.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := rg.sim.WaitChannel(ctx, "alice", cond)
	if err != nil {
		rg.t.Fatalf("waiting for %s: %v (last %+v)", what, err, info)
	}
	return info
}

// online links alice's first line, fetches a channel URL and opens a socket.
func (rg *simRig) online() (tok string, st yna.AccountStatus, c *websocket.Conn) {
	rg.t.Helper()
	tr := rg.linkToken(simLine1)
	st = rg.status(tr.AccessToken)
	c = rg.dial(st.ChannelURL)
	rg.waitChan("socket open", func(i ChannelInfo) bool { return i.SocketsOpen == 1 })
	return tr.AccessToken, st, c
}

func TestSimStartCloseTwice(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err == nil {
		t.Error("second Start succeeded")
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q", s.URL())
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Start("127.0.0.1:0"); err == nil {
		t.Error("Start after Close succeeded")
	}
}
