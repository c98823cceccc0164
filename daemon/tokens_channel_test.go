package daemon

import (
	"errors"
	"testing"
	"time"

	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna/ynasim"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// Issue 9: the notification channel's account status request (a new channel URL) gets
// the same 401 handling as the call requests. The network forgot the line's token and
// retired its channel URL: the line refreshes the token once, fetches a URL with the
// new one and opens the channel again.
func TestChannelURLRefreshesRefusedToken(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	d := startDaemon(t, testOptions(t, sim, t.TempDir(), testKey(t)))
	LinkForTest(t, d, sim)
	ctx := ctxT(t, 20*time.Second)
	before, err := d.store.GetLine(ctx, tLine)
	if err != nil {
		t.Fatal(err)
	}
	ci, _ := sim.Channel(tAccount)
	if err := sim.ExpireTokens(tAccount); err != nil {
		t.Fatal(err)
	}
	if err := sim.ApplyAccountFault(tAccount, ynasim.AccountFault{InvalidateChannelURL: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.WaitChannel(ctx, tAccount, func(c ynasim.ChannelInfo) bool {
		return c.SocketsOpen > 0 && c.SocketsOpened > ci.SocketsOpened
	}); err != nil {
		t.Fatalf("the channel did not reopen after the network refused the token: %v", err)
	}
	after, err := d.store.GetLine(ctx, tLine)
	if err != nil || after.AccessToken == before.AccessToken || after.State != store.LineLinked {
		t.Errorf("stored line after the channel's 401: state %s, token changed %v, %v", after.State, after.AccessToken != before.AccessToken, err)
	}
}

// The refresh itself is refused: the line needs a relink at once (not after the
// channel's retries), with one warn log.
func TestChannelURLRefreshRefusedNeedsRelink(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	opts := testOptions(t, sim, t.TempDir(), testKey(t))
	core, logs := observer.New(zap.WarnLevel)
	relinked := make(chan struct{}, 1)
	opts.Logger = zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel), zaptest.WrapOptions(
		zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, core) }),
		zap.Hooks(func(e zapcore.Entry) error {
			if e.Message == "line needs relink" {
				select {
				case relinked <- struct{}{}:
				default:
				}
			}
			return nil
		})))
	d := startDaemon(t, opts)
	LinkForTest(t, d, sim)
	ctx := ctxT(t, 20*time.Second)
	l, _ := d.tokens.get(tLine)
	l.RefreshToken = "not-a-refresh-token"
	if err := d.tokens.put(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := sim.ExpireTokens(tAccount); err != nil {
		t.Fatal(err)
	}
	if err := sim.ApplyAccountFault(tAccount, ynasim.AccountFault{InvalidateChannelURL: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-relinked:
	case <-ctx.Done():
		t.Fatal("the line was not marked needs_relink after the channel's token and its refresh were refused")
	}
	if _, err := d.tokens.AccessToken(ctx, tLine); !errors.Is(err, ErrNeedsRelink) {
		t.Errorf("AccessToken after the refused refresh: %v, want ErrNeedsRelink", err)
	}
	if n := logs.FilterMessage("line needs relink").Len(); n != 1 {
		t.Errorf("%d 'line needs relink' warnings, want one", n)
	}
}
