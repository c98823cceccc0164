package daemon

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// TestLineStateChangesLogged: each change of a line's health is one log line with the
// line key: channel up and down at info, needs relink at warn, linked again at info; a
// channel loss is one warn line in total, the channel's own with the reason (issue 11).
func TestLineStateChangesLogged(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	opts := testOptions(t, sim, t.TempDir(), testKey(t))
	core, logs := observer.New(zap.InfoLevel)
	opts.Logger = zap.New(zapcore.NewTee(core, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Core()))
	d := startDaemon(t, opts)
	count := func(msg string, lvl zapcore.Level) int {
		n := 0
		for _, e := range logs.FilterMessage(msg).All() {
			if e.Level != lvl {
				t.Errorf("%q logged at %s, want %s", msg, e.Level, lvl)
			}
			if e.ContextMap()["line"] != tLine {
				t.Errorf("%q without line=%s: %v", msg, tLine, e.ContextMap())
			}
			n++
		}
		return n
	}
	wait := func(msg string, lvl zapcore.Level, n int) {
		t.Helper()
		testenv.Eventually(t, 15*time.Second, msg, func() bool { return count(msg, lvl) >= n })
	}
	ctx := ctxT(t, 40*time.Second)
	yc, err := yna.NewClient(ynaConfig(sim))
	if err != nil {
		t.Fatal(err)
	}
	defer yc.CloseIdleConnections()
	if _, err := d.Backend().CompleteLink(ctx, linkCode(t, yc), tRedirect); err != nil {
		t.Fatal(err)
	}
	wait("line channel up", zap.InfoLevel, 1)
	warnsBefore := len(logs.FilterLevelExact(zap.WarnLevel).All())
	if err := sim.ApplyAccountFault(tAccount, ynasim.AccountFault{DropSocket: true}); err != nil {
		t.Fatal(err)
	}
	wait("line channel down", zap.InfoLevel, 1)
	wait("line channel up", zap.InfoLevel, 2)
	if warns := logs.FilterLevelExact(zap.WarnLevel).All()[warnsBefore:]; len(warns) != 1 ||
		warns[0].Message != "notification channel lost, recovering" || warns[0].ContextMap()["line"] != tLine ||
		warns[0].ContextMap()["reason"] == nil {
		t.Errorf("one channel loss: warn lines %v, want one 'notification channel lost, recovering' with line and reason", warns)
	}

	d.tokens.MarkNeedsRelink(ctx, tLine, "YNA refused a refreshed token")
	wait("line needs relink", zap.WarnLevel, 1)
	wait("line channel down", zap.InfoLevel, 2)
	if _, err := d.Backend().CompleteLink(ctx, linkCode(t, yc), tRedirect); err != nil {
		t.Fatal(err)
	}
	wait("line linked again", zap.InfoLevel, 1)
	wait("line channel up", zap.InfoLevel, 3)
	if n := count("line needs relink", zap.WarnLevel); n != 1 {
		t.Errorf("needs relink logged %d times, want 1", n)
	}
}
