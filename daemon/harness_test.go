package daemon

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

const (
	tLine     = "14255550100"
	tAccount  = "acct"
	tClientID = "app"
	tSecret   = "secret"
	tRedirect = "http://127.0.0.1:8080/link/callback"
)

var (
	keyOnce sync.Once
	tKey    *rsa.PrivateKey
)

func appKey() *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		tKey = k
	})
	return tKey
}

// newSim starts a ynasim with one app and one account (auto-approved links).
func newSim(t *testing.T, cfg ynasim.Config) *ynasim.Sim {
	t.Helper()
	pub, err := yna.MarshalPublicKeyPEM(&appKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Apps = []ynasim.App{{ClientID: tClientID, ClientSecret: tSecret, PublicKeyPEM: string(pub)}}
	cfg.Accounts = []ynasim.Account{{ID: tAccount, Lines: []string{tLine}}}
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

func ynaConfig(sim *ynasim.Sim) yna.Config {
	return yna.Config{BaseURL: sim.URL(), ClientID: tClientID, ClientSecret: tSecret, Key: appKey(), StatusRetryDelay: 50 * time.Millisecond}
}

// linkCode runs the auto-approved link page and returns the authorization code.
func linkCode(t *testing.T, yc *yna.Client) string {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	res, err := hc.Get(yc.LinkURL(tRedirect, "st") + "&login_hint=" + url.QueryEscape(tAccount))
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

func testKey(t *testing.T) []byte {
	t.Helper()
	s, err := store.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := store.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openStore(t *testing.T, path string, key []byte) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), path, key)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// testOptions are daemon options for a loopback installation against sim.
func testOptions(t *testing.T, sim *ynasim.Sim, dir string, key []byte) Options {
	return Options{
		SIP: sip.Config{
			Listen: []sip.ListenConfig{{Network: "udp", Addr: "127.0.0.1:0"}},
			Domain: "ynagw.test",
			Users:  []sip.User{{Username: "201", Password: "pw"}},
		},
		Bridge: bridge.Config{
			Lines:       []bridge.LineConfig{{MSISDN: tLine, Ring: []string{"201"}, Outbound: []string{"201"}}},
			Media:       bridge.MediaConfig{BindIP: netip.MustParseAddr("127.0.0.1")},
			Timers:      bridge.Timers{DrainTimeout: 2 * time.Second, RESTTimeout: 5 * time.Second},
			RedirectURI: tRedirect,
		},
		YNA:          ynaConfig(sim),
		WebRTC:       rtpmedia.WebRTCConfig{AllowLoopback: true, ICEGatherTimeout: time.Second},
		StorePath:    filepath.Join(dir, "ynagw.db"),
		StoreKey:     key,
		DrainTimeout: 2 * time.Second,
		Version:      "test",
		Logger:       zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)),
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
