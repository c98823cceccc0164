package testenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// The one YNA app every test installation uses.
const (
	ClientID = "app"
	Secret   = "secret"
	Redirect = "http://127.0.0.1:8080/link/callback"
)

var (
	keyOnce sync.Once
	key     *rsa.PrivateKey
)

// AppKey is the app's PoP key (RSA 2048, generated once per test binary).
func AppKey() *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err) // crypto/rand failing: nothing a test could do
		}
		key = k
	})
	return key
}

// NewSim starts a ynasim on 127.0.0.1 with the app registered and links auto-approved;
// cfg gives the accounts and anything else. It is closed on cleanup.
func NewSim(t testing.TB, cfg ynasim.Config) *ynasim.Sim {
	t.Helper()
	pub, err := yna.MarshalPublicKeyPEM(&AppKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Apps = append(cfg.Apps, ynasim.App{ClientID: ClientID, ClientSecret: Secret, PublicKeyPEM: string(pub)})
	cfg.AutoApprove = true
	sim, err := ynasim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// YNAConfig is the app's client configuration against sim.
func YNAConfig(sim *ynasim.Sim) yna.Config {
	return yna.Config{BaseURL: sim.URL(), ClientID: ClientID, ClientSecret: Secret, Key: AppKey(),
		StatusRetryDelay: 100 * time.Millisecond}
}

// NewClient is a yna.Client for the app against sim (idle connections closed on cleanup).
func NewClient(t testing.TB, sim *ynasim.Sim) *yna.Client {
	t.Helper()
	yc, err := yna.NewClient(YNAConfig(sim))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(yc.CloseIdleConnections)
	return yc
}

// LinkCode drives the (auto-approved) link page for account and returns the
// authorization code the redirect carries.
func LinkCode(t testing.TB, yc *yna.Client, account string) string {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	res, err := hc.Get(yc.LinkURL(Redirect, "st") + "&login_hint=" + url.QueryEscape(account))
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("link: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// Link links account (LinkCode, then the code exchange) and returns its tokens.
func Link(t testing.TB, yc *yna.Client, account string) *yna.TokenResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := yc.ExchangeCode(ctx, LinkCode(t, yc, account), Redirect)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Ctx is a context ending after d or when the test ends.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// WaitCall waits for a live sim call of direction dir (ynasim.DirectionInbound or
// DirectionOutbound) and returns its id.
func WaitCall(t testing.TB, sim *ynasim.Sim, dir string, d time.Duration) string {
	t.Helper()
	id, err := sim.WaitCall(Ctx(t, d), func(ci ynasim.CallInfo) bool { return ci.Direction == dir && ci.State != ynasim.CallTerminated })
	if err != nil {
		t.Fatalf("no %s call in the sim: %v", dir, err)
	}
	return id
}

// WaitState waits (20 s at most) until the sim call id reaches state
// (ynasim.CallTerminated included) and returns the call.
func WaitState(t testing.TB, sim *ynasim.Sim, id, state string) ynasim.CallInfo {
	t.Helper()
	if err := sim.WaitCallState(Ctx(t, 20*time.Second), id, state); err != nil {
		ci, _ := sim.Call(id)
		t.Fatalf("sim call did not reach %s: %v (state %s, outcome %s, events %+v)", state, err, ci.State, ci.Outcome, ci.Events)
	}
	ci, _ := sim.Call(id)
	return ci
}

// RESTSucceeded reports whether the sim logged a 2xx REST op (e.g. "end") on the call.
func RESTSucceeded(ci ynasim.CallInfo, op string) bool {
	for _, ev := range ci.EventsOf("rest", op) {
		if ev.HTTPStatus >= 200 && ev.HTTPStatus < 300 {
			return true
		}
	}
	return false
}

// Eventually polls cond every 20 ms until it holds, failing the test after d (for
// state that has no change event to wait on).
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-tk.C:
		case <-deadline:
			t.Fatalf("timeout: %s", what)
		}
	}
}
