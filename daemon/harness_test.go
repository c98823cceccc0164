package daemon

import (
	"context"
	"crypto/rsa"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

const (
	tLine      = "14255550100"
	tLineLabel = "line1" // tLine's metrics label: the default name of the first line
	tAccount   = "acct"
	tRedirect  = testenv.Redirect
)

func appKey() *rsa.PrivateKey { return testenv.AppKey() }

// newSim starts a ynasim with the test app and one account (auto-approved links).
func newSim(t *testing.T, cfg ynasim.Config) *ynasim.Sim {
	t.Helper()
	cfg.Accounts = []ynasim.Account{{ID: tAccount, Lines: []string{tLine}}}
	return testenv.NewSim(t, cfg)
}

func ynaConfig(sim *ynasim.Sim) yna.Config {
	c := testenv.YNAConfig(sim)
	c.StatusRetryDelay = 50 * time.Millisecond
	return c
}

// linkCode runs the auto-approved link page and returns the authorization code.
func linkCode(t *testing.T, yc *yna.Client) string { return testenv.LinkCode(t, yc, tAccount) }

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

func ctxT(t *testing.T, d time.Duration) context.Context { return testenv.Ctx(t, d) }
