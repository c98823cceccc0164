package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// lineRunner keeps the notification channel of one line open and routes its notifications.
// Its goroutine is owned by the Gateway; stop ends it.
type lineRunner struct {
	g      *Gateway
	msisdn string
	log    *zap.Logger
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{}

	mu    sync.Mutex
	state yna.ChannelState
}

func (g *Gateway) startLine(lc LineConfig) error {
	ctx, cancel := context.WithCancel(g.ctx)
	r := &lineRunner{g: g, msisdn: lc.MSISDN, cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{}),
		log: g.log.With(zap.String("line", lc.MSISDN))}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		cancel()
		return fmt.Errorf("bridge: closed")
	}
	if g.lines[lc.MSISDN] != nil {
		g.mu.Unlock()
		cancel()
		return nil
	}
	g.lines[lc.MSISDN] = r
	g.mu.Unlock()
	if !g.goOwned(func() { defer close(r.done); r.run(ctx) }) {
		cancel()
		close(r.done)
	}
	return nil
}

func (r *lineRunner) stop() {
	r.cancel()
	<-r.done
}

func (r *lineRunner) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// State returns the line's channel state.
func (r *lineRunner) State() yna.ChannelState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

func (r *lineRunner) setState(s yna.ChannelState) {
	r.mu.Lock()
	r.state = s
	r.mu.Unlock()
	r.g.metrics.ChannelState(r.msisdn, s)
}

// channelURL fetches a fresh channel URL with the line's current token (§5.4). A 401
// gets the same handling as the call requests (tokenAPI.with): one token refresh and one
// retry, then the line needs a relink.
func (r *lineRunner) channelURL(ctx context.Context) (string, error) {
	a := &tokenAPI{tokens: r.g.tokens, log: r.log}
	if tr, ok := r.g.tokens.(TokenRefresher); ok {
		a.tokens = runnerTokens{TokenSource: r.g.tokens, TokenRefresher: tr, g: r.g}
	}
	var u string
	err := a.with(ctx, r.msisdn, func(tok string) error {
		st, err := r.g.yna.AccountStatus(ctx, tok)
		if err == nil {
			u = st.ChannelURL
		}
		return err
	})
	return u, err
}

// runnerTokens is the line runner's token source: MarkNeedsRelink runs on a goroutine
// owned by the Gateway, because the answer to it (the line stopped: RemoveLine) waits
// for this runner to end.
type runnerTokens struct {
	TokenSource
	TokenRefresher
	g *Gateway
}

func (t runnerTokens) MarkNeedsRelink(ctx context.Context, line, reason string) {
	ctx = context.WithoutCancel(ctx) // the runner's context ends when the line is stopped
	t.g.goOwned(func() { t.TokenRefresher.MarkNeedsRelink(ctx, line, reason) })
}

func (r *lineRunner) run(ctx context.Context) {
	bo := yna.Backoff{Min: time.Second, Max: time.Minute}
	lastErr := "" // the last failure logged above debug, so a retry that fails alike stays quiet
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(bo.Delay(attempt - 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-r.wake:
				t.Stop()
				attempt = 0
			case <-t.C:
			}
		}
		u, err := r.channelURL(ctx)
		if err != nil {
			if ctx.Err() == nil {
				lastErr = r.logNotReady(lastErr, err)
			}
			continue
		}
		lastErr = ""
		ch, err := yna.NewChannel(yna.ChannelConfig{
			URL: u, Refresh: r.channelURL, MaxAttempts: r.g.cfg.ChannelMaxAttempts,
			Logger: r.log, OnState: r.setState,
		})
		if err != nil {
			r.log.Error("channel config", zap.Error(err))
			return
		}
		routed := make(chan struct{})
		go func() { defer close(routed); r.route(ch.Notifications()) }()
		err = ch.Run(ctx)
		<-routed
		if err != nil {
			r.log.Warn("notification channel gave up; starting over", zap.Error(err))
			attempt = 0
			continue
		}
		return
	}
}

// logNotReady logs why the line's channel cannot open: a line without a token (never
// linked, or unlinked) once at info, any other failure once at warn, and a retry that
// fails the same way again at debug only, so an unused line does not log a warning
// every minute forever. It returns the failure now logged.
func (r *lineRunner) logNotReady(last string, err error) string {
	msg := err.Error()
	switch {
	case msg == last:
		r.log.Debug("line still not ready", zap.Error(err))
	case errors.Is(err, ErrNoToken):
		r.log.Info("line not linked: link it on the admin page to receive its calls", zap.Error(err))
	default:
		r.log.Warn("line not ready (account status failed); retrying", zap.Error(err))
	}
	return msg
}

// route delivers one channel's notifications until it closes.
func (r *lineRunner) route(ns <-chan yna.Notification) {
	for n := range ns {
		switch {
		case n.Invitation != nil:
			r.g.startInbound(r.msisdn, n.Invitation)
		case n.Status != nil:
			r.g.dispatch(n.Status)
		case n.RegInfo != nil && n.RegInfo.Action == yna.RegInfoActionLogout:
			r.log.Warn("network forced a logout of the line; calls continue, relink the account if the channel fails")
		case n.Err != nil:
			r.log.Info("malformed notification", zap.String("type", n.Type), zap.Error(n.Err))
		}
	}
}
