package yna

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeYNA is a loopback YNA server that strictly verifies every request's PoP and the §3/§4.2
// header conventions, records requests, and answers via a per-test responder.
type fakeYNA struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
	jtis map[string]bool
	txns map[string]bool
	// respond writes the response; nil means 200 {}.
	respond func(w http.ResponseWriter, r *http.Request, body []byte, n int)
	seen    chan recorded // every request, non-blocking send if buffered space
}

type recorded struct {
	Method, RequestURI, Path string
	Header                   http.Header
	Body                     string
	HasBody                  bool
	EHTS                     string
	Problems                 []string // convention violations found by the server
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// expectedEHTS gives §4.2's ehts for each request type.
func expectedEHTS(method, path string, hasBody bool) string {
	switch {
	case method == "POST" && path == PathToken:
		return "http-method;uri;Authorization;Content-Type;Accept;X-Transaction-Id"
	case method == "GET", method == "DELETE" && path == PathUnlink:
		return "http-method;uri;Accept;Authorization;X-Transaction-Id"
	case method == "DELETE":
		return "http-method;uri;Conference;Reason;Accept;Authorization;X-Transaction-Id"
	case hasBody:
		return "http-method;uri;Content-Type;Accept;Authorization;X-Transaction-Id;body"
	default:
		return "http-method;uri;Content-Type;Accept;Authorization;X-Transaction-Id"
	}
}

func newFakeYNA(t *testing.T) *fakeYNA {
	t.Helper()
	key, _ := testKeys(t)
	f := &fakeYNA{t: t, jtis: map[string]bool{}, txns: map[string]bool{}, seen: make(chan recorded, 64)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := recorded{Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body), HasBody: r.ContentLength > 0}
		problem := func(s string) { rec.Problems = append(rec.Problems, s) }
		f.mu.Lock()
		claims, err := VerifyPoP(r.Header.Get(HeaderPoP), &key.PublicKey, r, body, VerifyOptions{
			Require: StrictPoPRequire(),
			SeenJTI: func(j string) bool { old := f.jtis[j]; f.jtis[j] = true; return old },
		})
		if err != nil {
			problem("PoP: " + err.Error())
		} else {
			rec.EHTS = claims.EHTS
			if want := expectedEHTS(r.Method, r.URL.Path, len(body) > 0); claims.EHTS != want {
				problem("ehts " + claims.EHTS + " want " + want)
			}
			if !uuidV4.MatchString(claims.JTI) {
				problem("jti not uuid v4")
			}
		}
		txn := r.Header.Get(HeaderTransactionID)
		if !uuidV4.MatchString(txn) || f.txns[txn] {
			problem("bad or reused X-Transaction-Id " + txn)
		}
		f.txns[txn] = true
		if r.Header.Get(HeaderAccept) != ContentTypeJSON {
			problem("Accept missing")
		}
		ct := r.Header.Get(HeaderContentType)
		if (r.Method == "POST") != (ct == ContentTypeJSON) {
			problem("Content-Type " + ct + " on " + r.Method)
		}
		n := len(f.reqs)
		f.reqs = append(f.reqs, rec)
		respond := f.respond
		f.mu.Unlock()
		select {
		case f.seen <- rec:
		default:
		}
		if err != nil {
			writeErr(w, http.StatusUnauthorized, err.Error())
			return
		}
		if respond == nil {
			w.Header().Set("Content-Type", ContentTypeJSON)
			_, _ = io.WriteString(w, "{}")
			return
		}
		respond(w, r, body, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeYNA) setRespond(fn func(w http.ResponseWriter, r *http.Request, body []byte, n int)) {
	f.mu.Lock()
	f.respond = fn
	f.mu.Unlock()
}

// requests returns the recorded requests and fails the test on any convention violation.
func (f *fakeYNA) requests() []recorded {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.reqs {
		for _, p := range r.Problems {
			f.t.Errorf("request %d %s %s: %s", i, r.Method, r.RequestURI, p)
		}
	}
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeYNA) last() recorded {
	f.t.Helper()
	rs := f.requests()
	if len(rs) == 0 {
		f.t.Fatal("no request recorded")
	}
	return rs[len(rs)-1]
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", ContentTypeJSON)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(NewErrorBody(status, msg))
	writeJSON(w, status, string(b))
}

func newTestClient(t *testing.T, f *fakeYNA, mod func(*Config)) *Client {
	t.Helper()
	key, _ := testKeys(t)
	cfg := Config{BaseURL: f.srv.URL, ClientID: "app id", ClientSecret: "s3cret", Key: key,
		HTTPClient: f.srv.Client(), StatusRetryDelay: time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewClientValidation(t *testing.T) {
	key, _ := testKeys(t)
	for _, cfg := range []Config{
		{BaseURL: "http://127.0.0.1:1"},
		{BaseURL: "ftp://x", Key: key},
		{BaseURL: "://bad", Key: key},
		{BaseURL: "http://127.0.0.1:1?x=1", Key: key},
		{BaseURL: "", Key: key},
	} {
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("NewClient(%+v) succeeded", cfg.BaseURL)
		}
	}
	c, err := NewClient(Config{BaseURL: "https://naas.t-mobile.com/", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if c.hc.Timeout != DefaultHTTPTimeout || c.cfg.StatusRetries != 5 || c.cfg.StatusRetryDelay != 5*time.Second {
		t.Fatalf("defaults: timeout %v retries %d delay %v", c.hc.Timeout, c.cfg.StatusRetries, c.cfg.StatusRetryDelay)
	}
	c.CloseIdleConnections()
}

func TestLinkAndEmergencyURLs(t *testing.T) {
	key, _ := testKeys(t)
	c, err := NewClient(Config{BaseURL: "https://naas.t-mobile.com/", ClientID: "my app", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	got := c.LinkURL("http://localhost:8080/cb?x=1&y=2", "st ate")
	want := "https://naas.t-mobile.com/cpaas/v1/account-mgmt/linkAccount?client_id=my+app&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcb%3Fx%3D1%26y%3D2&state=st+ate"
	if got != want {
		t.Fatalf("LinkURL =\n%s\nwant\n%s", got, want)
	}
	if got := c.LinkURL("http://h/", ""); strings.Contains(got, "state=") {
		t.Fatalf("LinkURL without state = %s", got)
	}
	got = c.EmergencyAddressURL("http://localhost:8080/ok", "http://localhost:8080/fail")
	want = "https://naas.t-mobile.com/cpaas/v1/account-mgmt/changeEmergencyAddress?success-redirect-url=http%3A%2F%2Flocalhost%3A8080%2Fok&failure-redirect-url=http%3A%2F%2Flocalhost%3A8080%2Ffail"
	if got != want {
		t.Fatalf("EmergencyAddressURL =\n%s\nwant\n%s", got, want)
	}
	if got := c.EmergencyAddressURL("http://a/", ""); strings.Contains(got, "failure") {
		t.Fatalf("EmergencyAddressURL without failure = %s", got)
	}
}

func TestExchangeCode(t *testing.T) {
	for _, tc := range []struct{ name, resp string }{
		{"flat", `{"access_token":"AT","refresh_token":"RT","token_type":"Bearer","expires_in":86400}`},
		{"data-wrapped", `{"data":{"access_token":"AT","refresh_token":"RT","token_type":"Bearer","expires_in":86400}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeYNA(t)
			f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) { writeJSON(w, 200, tc.resp) })
			c := newTestClient(t, f, nil)
			tr, err := c.ExchangeCode(context.Background(), "b431cf69-c428-4002-8e9c-xx16384", "http://localhost:8080")
			if err != nil {
				t.Fatal(err)
			}
			if *tr != (TokenResponse{AccessToken: "AT", RefreshToken: "RT", TokenType: "Bearer", ExpiresIn: 86400}) || tr.Lifetime() != 24*time.Hour {
				t.Fatalf("token = %+v", tr)
			}
			r := f.last()
			if r.Method != "POST" || r.RequestURI != "/cpaas/v1/oauth/token?grant_type=authorization_code&redirect_uri=http%3A%2F%2Flocalhost%3A8080&code=b431cf69-c428-4002-8e9c-xx16384" {
				t.Fatalf("request %s %s", r.Method, r.RequestURI)
			}
			if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("app id:s3cret")); r.Header.Get("Authorization") != want {
				t.Fatalf("Authorization = %q", r.Header.Get("Authorization"))
			}
			if r.HasBody || r.Body != "" {
				t.Fatalf("token call has body %q", r.Body)
			}
		})
	}
}

func TestTokenErrorsAndDefaults(t *testing.T) {
	f := newFakeYNA(t)
	c := newTestClient(t, f, nil)
	f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
		writeJSON(w, 200, `{"access_token":"A"}`)
	})
	tr, err := c.RefreshToken(context.Background(), "R/T+=")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Lifetime() != DefaultTokenLifetime {
		t.Fatalf("lifetime %v", tr.Lifetime())
	}
	if r := f.last(); r.RequestURI != "/cpaas/v1/oauth/token?grant_type=refresh_token&refresh_token=R%2FT%2B%3D" {
		t.Fatalf("refresh uri %s", r.RequestURI)
	}
	f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) { writeJSON(w, 200, `{}`) })
	if _, err := c.ExchangeCode(context.Background(), "c", "http://x"); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("empty token body: %v", err)
	}
	f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) { writeErr(w, 400, "bad code") })
	_, err = c.ExchangeCode(context.Background(), "c", "http://x")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Op != OpNameToken || ae.ReasonCode != "ERR-4000" || ae.UserMessage != "bad code" {
		t.Fatalf("400: %v", err)
	}
	f.requests()
}

const statusOK = `{"returnCode":200,"channelUrl":"wss://127.0.0.1:3030/wss/x/notifications","lines":[{"msisdn":"14251234567","regStatus":true},{"msisdn":"14257654321","regStatus":false}]}`

func TestAccountStatus(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int // per try; last one repeats
		bodies   []string
		wantN    int
		wantErr  error
		wantOK   bool
	}{
		{name: "200", statuses: []int{200}, bodies: []string{statusOK}, wantN: 1, wantOK: true},
		{name: "data-wrapped", statuses: []int{200}, bodies: []string{`{"data":` + statusOK + `}`}, wantN: 1, wantOK: true},
		{name: "loose types", statuses: []int{200}, bodies: []string{`{"returnCode":"200","channelUrl":"wss://127.0.0.1:3030/wss/x/notifications","lines":[{"msisdn":14251234567,"regStatus":"true"},{"msisdn":"14257654321","regStatus":false}]}`}, wantN: 1, wantOK: true},
		{name: "garbage 200", statuses: []int{200}, bodies: []string{`[1,2]`}, wantN: 5, wantErr: ErrNoChannelURL},
		{name: "202 twice then 200", statuses: []int{202, 202, 200}, bodies: []string{"", "", statusOK}, wantN: 3, wantOK: true},
		{name: "500 then 200", statuses: []int{500, 200}, bodies: []string{"oops", statusOK}, wantN: 2, wantOK: true},
		{name: "always 202", statuses: []int{202}, bodies: []string{""}, wantN: 5, wantErr: ErrNotReady},
		{name: "missing channelUrl", statuses: []int{200}, bodies: []string{`{"returnCode":200,"lines":[]}`}, wantN: 5, wantErr: ErrNoChannelURL},
		{name: "401 not retried", statuses: []int{401}, bodies: []string{""}, wantN: 1, wantErr: ErrUnauthorized},
		{name: "409 not retried", statuses: []int{409}, bodies: []string{""}, wantN: 1, wantErr: ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeYNA(t)
			f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, n int) {
				i := min(n, len(tc.statuses)-1)
				st, body := tc.statuses[i], tc.bodies[i]
				if st >= 400 && body == "" {
					writeErr(w, st, "")
					return
				}
				writeJSON(w, st, body)
			})
			var observed []int
			var omu sync.Mutex
			c := newTestClient(t, f, func(cfg *Config) {
				cfg.Observe = func(op string, status int, _ time.Duration, _ error) {
					omu.Lock()
					defer omu.Unlock()
					if op == OpNameAccountStatus {
						observed = append(observed, status)
					}
				}
			})
			st, err := c.AccountStatus(context.Background(), "AT")
			rs := f.requests()
			if len(rs) != tc.wantN {
				t.Fatalf("%d requests, want %d", len(rs), tc.wantN)
			}
			omu.Lock()
			if len(observed) != tc.wantN {
				t.Errorf("Observe called %d times, want %d", len(observed), tc.wantN)
			}
			omu.Unlock()
			for _, r := range rs {
				if r.Method != "GET" || r.RequestURI != PathAccountStatus || r.Header.Get("Authorization") != "Bearer AT" {
					t.Fatalf("request %s %s auth %q", r.Method, r.RequestURI, r.Header.Get("Authorization"))
				}
			}
			if tc.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				if st.ChannelURL != "wss://127.0.0.1:3030/wss/x/notifications" || st.ReturnCode != 200 || len(st.Lines) != 2 {
					t.Fatalf("status %+v", st)
				}
				if l := st.RegisteredLines(); len(l) != 1 || l[0] != "14251234567" {
					t.Fatalf("registered lines %v", l)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestAccountStatusCancelDuringWait(t *testing.T) {
	f := newFakeYNA(t)
	f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) { w.WriteHeader(202) })
	c := newTestClient(t, f, func(cfg *Config) { cfg.StatusRetryDelay = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := c.AccountStatus(ctx, "AT"); done <- err }()
	select {
	case <-f.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("no request")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || IsRetryable(err) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AccountStatus did not return after cancel")
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d requests", n)
	}
}

// cancelAfterResponse is a RoundTripper that reads the whole response and
// then cancels the request's context before handing the response back: the
// caller gets a complete answer while its context is already done.
type cancelAfterResponse struct {
	next   http.RoundTripper
	cancel context.CancelFunc
}

func (c cancelAfterResponse) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	c.cancel()
	return res, nil
}

// A cancel that lands after a retryable answer came back (the race behind a
// flaky TestAccountStatusCancelDuringWait) is still reported as the context's
// error, not as the 202.
func TestAccountStatusCancelAfterRetryableAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"202 not ready", 202, ""},
		{"503", 503, `{"requestError":{"serviceException":{"messageId":"SVC0001","text":"busy"}}}`},
		{"200 without channelUrl", 200, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeYNA(t)
			f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) { writeJSON(w, tc.status, tc.body) })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := newTestClient(t, f, func(cfg *Config) {
				cfg.StatusRetryDelay = time.Hour
				cfg.HTTPClient = &http.Client{Transport: cancelAfterResponse{next: f.srv.Client().Transport, cancel: cancel}}
			})
			_, err := c.AccountStatus(ctx, "AT")
			if !errors.Is(err, context.Canceled) || IsRetryable(err) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if n := len(f.requests()); n != 1 {
				t.Fatalf("%d requests", n)
			}
		})
	}
}

func TestUnlink(t *testing.T) {
	f := newFakeYNA(t)
	f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) { w.WriteHeader(204) })
	c := newTestClient(t, f, nil)
	if err := c.Unlink(context.Background(), "AT", "http://localhost:8080/"); err != nil {
		t.Fatal(err)
	}
	r := f.last()
	if r.Method != "DELETE" || r.RequestURI != "/cpaas/v1/account/unlink?client_id=app+id&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2F" {
		t.Fatalf("%s %s", r.Method, r.RequestURI)
	}
	if r.Header.Get("Content-Type") != "" {
		t.Fatal("Content-Type on DELETE")
	}
}

const testSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\na=x:<&>\r\n"

func TestStart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		resp   string
	}{
		{"201 flat", 201, `{"to":"14257654321","from":"14251234567","callId":"0AEE1B58","clientCorrelator":"cc"}`},
		{"200 data", 200, `{"data":{"to":"14257654321","from":"14251234567","callId":"0AEE1B58","clientCorrelator":"cc"}}`},
		{"202 minimal", 202, `{"callId":"0AEE1B58"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeYNA(t)
			f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) { writeJSON(w, tc.status, tc.resp) })
			c := newTestClient(t, f, nil)
			sr, err := c.Start(context.Background(), "AT", StartRequest{From: "14251234567", To: "14257654321", SDP: testSDP})
			if err != nil {
				t.Fatal(err)
			}
			if sr.CallID != "0AEE1B58" {
				t.Fatalf("resp %+v", sr)
			}
			r := f.last()
			if r.Method != "POST" || r.RequestURI != "/cpaas/v1/call/start" {
				t.Fatalf("%s %s", r.Method, r.RequestURI)
			}
			var sent StartRequest
			if err := json.Unmarshal([]byte(r.Body), &sent); err != nil {
				t.Fatal(err)
			}
			if !uuidV4.MatchString(sent.ClientCorrelator) {
				t.Fatalf("clientCorrelator %q", sent.ClientCorrelator)
			}
			want := `{"from":"14251234567","to":"14257654321","sdp":"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\na=x:<&>\r\n","clientCorrelator":"` + sent.ClientCorrelator + `"}`
			if r.Body != want {
				t.Fatalf("body\n%s\nwant\n%s", r.Body, want)
			}
		})
	}
}

func TestStartKeepsCorrelatorAndRejectsNoCallID(t *testing.T) {
	f := newFakeYNA(t)
	f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) { writeJSON(w, 201, `{"to":"1"}`) })
	c := newTestClient(t, f, nil)
	_, err := c.Start(context.Background(), "AT", StartRequest{From: "1", To: "2", SDP: "v=0", ClientCorrelator: "mine"})
	var ae *APIError
	if !errors.Is(err, ErrBadResponse) || !errors.As(err, &ae) || ae.HTTPStatus != 201 || ae.Op != OpStart || IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(f.last().Body, `"clientCorrelator":"mine"`) {
		t.Fatalf("body %s", f.last().Body)
	}
	f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) { w.WriteHeader(201) })
	if _, err := c.Start(context.Background(), "AT", StartRequest{From: "1", To: "2", SDP: "v=0"}); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("empty body: %v", err)
	}
}

func TestCallOperations(t *testing.T) {
	f := newFakeYNA(t)
	c := newTestClient(t, f, nil)
	ctx := context.Background()
	const id = "0AEE1B58BAEEDA3E"
	empty := ""
	sdp := "v=0\r\n"
	hold := `{"status":"Hold","sdp":"v=0\r\na=recvonly\r\n"}`
	f.setRespond(func(w http.ResponseWriter, r *http.Request, _ []byte, _ int) {
		if strings.Contains(r.URL.Path, "/hold/") || strings.Contains(r.URL.Path, "/resume/") {
			writeJSON(w, 200, hold)
			return
		}
		w.WriteHeader(200) // empty body
	})
	tests := []struct {
		name     string
		call     func() error
		method   string
		path     string
		body     string
		conf     string
		reason   string
		wantHold bool
	}{
		{name: "inProgress normal", call: func() error { return c.InProgress(ctx, "AT", id, &empty) }, method: "POST", path: "/cpaas/v1/call/inProgress/" + id, body: `{"sdp":""}`},
		{name: "inProgress offer-less", call: func() error { return c.InProgress(ctx, "AT", id, nil) }, method: "POST", path: "/cpaas/v1/call/inProgress/" + id, body: `{}`},
		{name: "ringing", call: func() error { return c.Ringing(ctx, "AT", id) }, method: "POST", path: "/cpaas/v1/call/ringing/" + id, body: ""},
		{name: "proceeding", call: func() error { return c.Proceeding(ctx, "AT", id, sdp) }, method: "POST", path: "/cpaas/v1/call/proceeding/" + id, body: `{"sdp":"v=0\r\n"}`},
		{name: "connected", call: func() error {
			r, err := c.Connected(ctx, "AT", id, &sdp)
			if err == nil && (r == nil || r.SDP != "") {
				t.Errorf("connected result %+v", r)
			}
			return err
		}, method: "POST", path: "/cpaas/v1/call/connected/" + id, body: `{"sdp":"v=0\r\n"}`},
		{name: "connected no sdp", call: func() error { _, err := c.Connected(ctx, "AT", id, nil); return err }, method: "POST", path: "/cpaas/v1/call/connected/" + id, body: `{}`},
		{name: "hold", call: func() error {
			r, err := c.Hold(ctx, "AT", id, sdp)
			if err == nil && (r.Status != "Hold" || r.SDP != "v=0\r\na=recvonly\r\n") {
				t.Errorf("hold result %+v", r)
			}
			return err
		}, method: "POST", path: "/cpaas/v1/call/hold/" + id, body: `{"sdp":"v=0\r\n"}`},
		{name: "resume", call: func() error { _, err := c.Resume(ctx, "AT", id, sdp); return err }, method: "POST", path: "/cpaas/v1/call/resume/" + id, body: `{"sdp":"v=0\r\n"}`},
		{name: "acceptHold", call: func() error { return c.AcceptHold(ctx, "AT", id, sdp) }, method: "POST", path: "/cpaas/v1/call/acceptHold/" + id, body: `{"sdp":"v=0\r\n"}`},
		{name: "acceptResume", call: func() error { return c.AcceptResume(ctx, "AT", id, sdp) }, method: "POST", path: "/cpaas/v1/call/acceptResume/" + id, body: `{"sdp":"v=0\r\n"}`},
		{name: "renegotiate", call: func() error { return c.Renegotiate(ctx, "AT", id, sdp) }, method: "POST", path: "/cpaas/v1/call/renegotiate/" + id, body: `{"sdp":"v=0\r\n"}`},
		{name: "update", call: func() error { return c.Update(ctx, "AT", id, sdp) }, method: "POST", path: "/cpaas/v1/call/update/" + id, body: `{"sdp":"v=0\r\n"}`},
		{name: "end default", call: func() error { return c.End(ctx, "AT", id, "", false) }, method: "DELETE", path: "/cpaas/v1/call/end/" + id, conf: "false", reason: "NORMAL_USER_DISCONNECT"},
		{name: "end conference", call: func() error { return c.End(ctx, "AT", id, "BUSY", true) }, method: "DELETE", path: "/cpaas/v1/call/end/" + id, conf: "true", reason: "BUSY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			r := f.last()
			if r.Method != tc.method || r.RequestURI != tc.path || r.Body != tc.body {
				t.Fatalf("got %s %s %q, want %s %s %q", r.Method, r.RequestURI, r.Body, tc.method, tc.path, tc.body)
			}
			if r.Header.Get("Authorization") != "Bearer AT" {
				t.Fatalf("Authorization %q", r.Header.Get("Authorization"))
			}
			if r.Header.Get("Conference") != tc.conf || r.Header.Get("Reason") != tc.reason {
				t.Fatalf("Conference %q Reason %q", r.Header.Get("Conference"), r.Header.Get("Reason"))
			}
		})
	}
	if n := len(f.requests()); n != len(tests) {
		t.Fatalf("%d requests for %d calls", n, len(tests))
	}
}

func TestHoldAnswerShapes(t *testing.T) {
	const ans = "v=0\r\na=recvonly\r\n"
	tests := []struct {
		name, body string
		status     int
		wantStatus string
		wantErr    bool
	}{
		{name: "flat", status: 200, body: `{"status":"Hold","sdp":"v=0\r\na=recvonly\r\n"}`, wantStatus: "Hold"},
		{name: "data", status: 200, body: `{"data":{"status":"Hold","sdp":"v=0\r\na=recvonly\r\n"}}`, wantStatus: "Hold"},
		{name: "receiverSessionStatus", status: 200, body: `{"receiverSessionStatus":{"status":"Hold","sdp":"v=0\r\na=recvonly\r\n"}}`, wantStatus: "Hold"},
		{name: "data+receiverSessionStatus", status: 200, body: `{"data":{"receiverSessionStatus":{"status":"Hold","sdp":"v=0\r\na=recvonly\r\n"}}}`, wantStatus: "Hold"},
		{name: "raw CRLF in JSON string", status: 200, body: "{\"status\":\"Hold\",\"sdp\":\"v=0\r\na=recvonly\r\n\"}", wantStatus: "Hold"},
		{name: "204 empty", status: 204, wantErr: true},
		{name: "200 empty", status: 200, body: "", wantErr: true},
		{name: "not json", status: 200, body: "OK", wantErr: true},
		{name: "no sdp", status: 200, body: `{"status":"Hold"}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeYNA(t)
			f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) { writeJSON(w, tc.status, tc.body) })
			c := newTestClient(t, f, nil)
			r, err := c.Hold(context.Background(), "AT", "ID", "v=0\r\na=sendonly\r\n")
			f.requests()
			if tc.wantErr {
				var ae *APIError
				if !errors.Is(err, ErrBadResponse) || !errors.As(err, &ae) || ae.HTTPStatus != tc.status {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.SDP != ans || r.Status != tc.wantStatus || r.AnswerSDP() != ans {
				t.Fatalf("result %+v", r)
			}
		})
	}
}

func TestConnectedOfferlessAnswer(t *testing.T) {
	f := newFakeYNA(t)
	f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
		writeJSON(w, 200, `{"receiverSessionStatus":{"status":"Connected","sdp":"ANSWER"}}`)
	})
	c := newTestClient(t, f, nil)
	offer := "OFFER"
	r, err := c.Connected(context.Background(), "AT", "ID", &offer)
	if err != nil || r.SDP != "ANSWER" || r.ReceiverSessionStatus == nil || r.ReceiverSessionStatus.Status != "Connected" {
		t.Fatalf("r=%+v err=%v", r, err)
	}
	f.requests()
}

func TestErrorTyping(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		sentinel  error
		code      string
		sys       string
		retryable bool
	}{
		{status: 400, sentinel: nil, code: "ERR-4000", sys: "INVALID_INPUT"},
		{status: 401, sentinel: ErrUnauthorized, code: "ERR-4001", sys: "UNAUTHORIZED"},
		{status: 403, sentinel: ErrForbidden, code: "ERR-4003", sys: "FORBIDDEN"},
		{status: 404, sentinel: ErrNotFound, code: "ERR-4004", sys: "NOT_FOUND"},
		{status: 408, code: "ERR-4008", sys: "REQUEST_TIMEOUT", retryable: true},
		{status: 409, sentinel: ErrConflict, code: "ERR-4009", sys: "Conflict"},
		{status: 429, code: "ERR-4290", sys: "TOO_MANY_REQUESTS", retryable: true},
		{status: 500, code: "ERR-5000", sys: "INTERNAL_SERVER_ERROR", retryable: true},
		{status: 500, body: "plain text failure", retryable: true},
		{status: 503, body: `{"data":{"errors":[{"reasonCode":"X","systemMessage":"Y","userMessage":"Z"}]}}`, code: "X", sys: "Y", retryable: true},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status)+tc.body, func(t *testing.T) {
			f := newFakeYNA(t)
			f.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
				if tc.body != "" {
					writeJSON(w, tc.status, tc.body)
					return
				}
				writeErr(w, tc.status, "msg")
			})
			c := newTestClient(t, f, nil)
			err := c.AcceptHold(context.Background(), "AT", "CALL1", "v=0")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err %T %v", err, err)
			}
			if ae.HTTPStatus != tc.status || ae.Op != OpAcceptHold || ae.ReasonCode != tc.code || ae.SystemMessage != tc.sys {
				t.Fatalf("APIError %+v", ae)
			}
			if ae.TransactionID != f.last().Header.Get("X-Transaction-Id") {
				t.Fatalf("transaction id %q", ae.TransactionID)
			}
			if tc.body != "" && ae.Body != tc.body {
				t.Fatalf("body %q", ae.Body)
			}
			if IsRetryable(err) != tc.retryable || ae.Retryable() != tc.retryable {
				t.Fatalf("retryable = %v", IsRetryable(err))
			}
			for _, s := range []error{ErrUnauthorized, ErrForbidden, ErrNotFound, ErrConflict} {
				if errors.Is(err, s) != (s == tc.sentinel) {
					t.Fatalf("errors.Is(%v) = %v", s, errors.Is(err, s))
				}
			}
			if !strings.Contains(err.Error(), "acceptHold") || !strings.Contains(err.Error(), ae.TransactionID) {
				t.Fatalf("Error() = %q", err.Error())
			}
		})
	}
}

func TestNetworkErrorsRetryable(t *testing.T) {
	f := newFakeYNA(t)
	c := newTestClient(t, f, func(cfg *Config) { cfg.HTTPClient = nil; cfg.StatusRetries = 2 })
	defer c.CloseIdleConnections()
	f.srv.Close() // connection refused from now on
	err := c.Ringing(context.Background(), "AT", "ID")
	if err == nil || !IsRetryable(err) {
		t.Fatalf("refused: err = %v retryable=%v", err, IsRetryable(err))
	}
	_, err = c.AccountStatus(context.Background(), "AT")
	if err == nil || !strings.Contains(err.Error(), "2 tries") {
		t.Fatalf("account status: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Ringing(ctx, "AT", "ID"); !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestLocalArgumentErrors(t *testing.T) {
	f := newFakeYNA(t)
	c := newTestClient(t, f, nil)
	ctx := context.Background()
	if err := c.Ringing(ctx, "AT", ""); err == nil {
		t.Error("empty callId accepted")
	}
	if err := c.End(ctx, "AT", "", "", false); err == nil {
		t.Error("empty callId accepted by End")
	}
	if err := c.AcceptHold(ctx, "AT", "", "x"); err == nil {
		t.Error("empty callId accepted by AcceptHold")
	}
	if err := c.Ringing(ctx, "", "ID"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("empty token: %v", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests sent for invalid calls", n)
	}
}

func TestCallIDIsPathEscaped(t *testing.T) {
	f := newFakeYNA(t)
	c := newTestClient(t, f, nil)
	if err := c.Ringing(context.Background(), "AT", "a b/c"); err != nil {
		t.Fatal(err)
	}
	if r := f.last(); r.RequestURI != "/cpaas/v1/call/ringing/a%20b%2Fc" {
		t.Fatalf("uri %s", r.RequestURI)
	}
}

func TestBaseURLWithPrefix(t *testing.T) {
	f := newFakeYNA(t)
	c := newTestClient(t, f, func(cfg *Config) { cfg.BaseURL = f.srv.URL + "/prefix/" })
	if err := c.Ringing(context.Background(), "AT", "ID"); err != nil {
		t.Fatal(err)
	}
	if r := f.last(); r.RequestURI != "/prefix/cpaas/v1/call/ringing/ID" {
		t.Fatalf("uri %s", r.RequestURI)
	}
}

func TestTolerantJSON(t *testing.T) {
	in := []byte("{\"sdp\":\"a\r\nb\"}")
	var v struct{ SDP string }
	if err := json.Unmarshal(TolerantJSON(in), &v); err != nil || v.SDP != "a\r\nb" {
		t.Fatalf("v=%+v err=%v", v, err)
	}
	ok := []byte(`{"a":1}`)
	if string(TolerantJSON(ok)) != string(ok) {
		t.Fatal("valid JSON changed")
	}
}

func BenchmarkClientRinging(b *testing.B) {
	key, _ := testKeys(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	defer srv.Close()
	c, err := NewClient(Config{BaseURL: srv.URL, Key: key, HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := c.Ringing(context.Background(), "AT", "ID"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestWireJSON(t *testing.T) {
	empty := ""
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"start member order", StartRequest{From: "1", To: "2", SDP: "v=0\r\n<&>", ClientCorrelator: "c"}, `{"from":"1","to":"2","sdp":"v=0\r\n<&>","clientCorrelator":"c"}`},
		{"status nil sdp", CallStatusRequest{}, `{}`},
		{"status empty sdp", CallStatusRequest{SDP: &empty}, `{"sdp":""}`},
		{"sdp result flat", SDPResult{Status: "Hold", SDP: "a"}, `{"status":"Hold","sdp":"a"}`},
		{"sdp result nested", SDPResult{Status: "Hold", SDP: "a", ReceiverSessionStatus: &ReceiverSessionStatus{Status: "Hold", SDP: "a"}}, `{"status":"Hold","sdp":"a","receiverSessionStatus":{"status":"Hold","sdp":"a"}}`},
		{"account status", AccountStatus{ReturnCode: 200, ChannelURL: "wss://x", Lines: []Line{{"14251234567", true}}}, `{"returnCode":200,"channelUrl":"wss://x","lines":[{"msisdn":"14251234567","regStatus":true}]}`},
		{"token", TokenResponse{"a", "r", "Bearer", 86400}, `{"access_token":"a","refresh_token":"r","token_type":"Bearer","expires_in":86400}`},
		{"start response", StartResponse{To: "2", From: "1", CallID: "ID", ClientCorrelator: "c"}, `{"to":"2","from":"1","callId":"ID","clientCorrelator":"c"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := marshalJSON(tc.v)
			if err != nil || string(b) != tc.want {
				t.Fatalf("got %s (%v)\nwant %s", b, err, tc.want)
			}
		})
	}
	if p := CallPath(OpStart, "ignored"); p != "/cpaas/v1/call/start" {
		t.Errorf("CallPath start = %s", p)
	}
	if p := CallPath(OpEnd, "AB"); p != "/cpaas/v1/call/end/AB" {
		t.Errorf("CallPath end = %s", p)
	}
}
