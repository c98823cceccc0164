package daemon

import (
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// Helpers of the package's own tests for its external tests (package daemon_test), which
// use packages that import daemon (demo's scripted phone).

// LineForTest and AccountForTest are the line and account of SimForTest.
const (
	LineForTest    = tLine
	AccountForTest = tAccount
)

// SimForTest starts a ynasim with the test app and account.
func SimForTest(t *testing.T) *ynasim.Sim { return newSim(t, ynasim.Config{}) }

// OptionsForTest are loopback daemon options against sim (phone user "201", password
// "pw", domain "ynagw.test"; no admin listener).
func OptionsForTest(t *testing.T, sim *ynasim.Sim) Options {
	return testOptions(t, sim, t.TempDir(), testKey(t))
}

// StartForTest starts a daemon that is closed when the test ends.
func StartForTest(t *testing.T, opts Options) *Daemon { return startDaemon(t, opts) }

// LinkForTest links the test line through the daemon's backend and waits for its
// notification channel.
func LinkForTest(t *testing.T, d *Daemon, sim *ynasim.Sim) {
	t.Helper()
	yc := testenv.NewClient(t, sim)
	ctx := ctxT(t, 20*time.Second)
	if _, err := d.Backend().CompleteLink(ctx, linkCode(t, yc), tRedirect); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.WaitChannel(ctx, tAccount, func(ci ynasim.ChannelInfo) bool { return ci.SocketsOpen > 0 }); err != nil {
		t.Fatalf("channel: %v", err)
	}
}
