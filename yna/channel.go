package yna

// The notification channel: one WebSocket per account that receives nsMsg frames, acks them,
// keeps itself alive with text pings and recovers on its own (fact sheet §6).

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

// ChannelState is the life-cycle state of a Channel.
type ChannelState int32

// Channel states.
const (
	// ChannelConnecting: the first connection is being opened.
	ChannelConnecting ChannelState = iota
	// ChannelConnected: a socket is open and alive.
	ChannelConnected
	// ChannelRecovering: the socket was lost; reopening or fetching a new URL.
	ChannelRecovering
	// ChannelFailed: recovery gave up after MaxAttempts rounds; Run returned an error.
	ChannelFailed
	// ChannelClosed: Run returned because its context ended.
	ChannelClosed
)

func (s ChannelState) String() string {
	switch s {
	case ChannelConnecting:
		return "connecting"
	case ChannelConnected:
		return "connected"
	case ChannelRecovering:
		return "recovering"
	case ChannelFailed:
		return "failed"
	case ChannelClosed:
		return "closed"
	}
	return fmt.Sprintf("ChannelState(%d)", int32(s))
}

// Defaults of ChannelConfig (§6.1, §6.2, §6.6, §12).
const (
	DefaultPingInterval      = 30 * time.Second
	DefaultPongTimeout       = 2 * time.Second
	DefaultDialTimeout       = 10 * time.Second
	DefaultFastRestoreWindow = 15 * time.Second
	DefaultWriteTimeout      = 5 * time.Second
	// ChannelReadLimit bounds one incoming frame.
	ChannelReadLimit = 4 << 20
)

// Channel errors.
var (
	// ErrChannelFailed: recovery gave up after MaxAttempts rounds (returned by Run).
	ErrChannelFailed = errors.New("yna: notification channel failed")
	// ErrChannelRunning: Run was called more than once.
	ErrChannelRunning = errors.New("yna: notification channel already run")
	// ErrChannelConfig: NewChannel got an unusable configuration.
	ErrChannelConfig = errors.New("yna: bad channel config")
)

// ChannelDialError is a failed WebSocket open. StatusCode is the HTTP status of a refused
// upgrade (e.g. 404 for a stale channel URL), 0 for network errors and timeouts.
type ChannelDialError struct {
	URL        string // redacted: the channel URL is a credential
	StatusCode int
	Err        error
}

func (e *ChannelDialError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("yna: open notification channel %s: HTTP %d: %v", e.URL, e.StatusCode, e.Err)
	}
	return fmt.Sprintf("yna: open notification channel %s: %v", e.URL, e.Err)
}

func (e *ChannelDialError) Unwrap() error { return e.Err }

// ChannelConfig configures a Channel. Zero durations take the defaults.
type ChannelConfig struct {
	// URL is the initial channelUrl from GET /account/status. If empty, Refresh is called first.
	URL string
	// Refresh fetches a new channelUrl (the caller does GET /account/status). If nil, recovery
	// keeps reopening the same URL.
	Refresh func(ctx context.Context) (string, error)
	// PingInterval between text pings; one ping is also sent right after open. Default 30 s.
	PingInterval time.Duration
	// PongTimeout is the wait for a pong after each ping; a miss sends another ping at once
	// and a second consecutive miss starts recovery. Default 2 s.
	PongTimeout time.Duration
	// DialTimeout bounds one WebSocket open. Default 10 s.
	DialTimeout time.Duration
	// WriteTimeout bounds one frame write. Default 5 s.
	WriteTimeout time.Duration
	// BackoffMin, BackoffMax bound the capped exponential backoff (with jitter) between
	// recovery rounds. Defaults 1 s and 60 s.
	BackoffMin, BackoffMax time.Duration
	// FastRestoreWindow: when the socket drops within this time after the previous recovery
	// began, the same URL is not retried; a new URL is fetched at once (§6.6, §18.4).
	// Default 15 s; negative disables (always retry the same URL first).
	FastRestoreWindow time.Duration
	// MaxAttempts is the number of consecutive failed recovery rounds after which the channel
	// gives up (ChannelFailed, Run returns ErrChannelFailed). 0 retries forever.
	MaxAttempts int
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// OnState is called from Run's goroutine on each state change (metrics); must not block long.
	OnState func(ChannelState)
	// Dialer defaults to a copy of websocket.DefaultDialer.
	Dialer *websocket.Dialer
}

// ChannelStats are cumulative counters of a Channel.
type ChannelStats struct {
	Received      uint64 // nsMsg frames received
	Acked         uint64 // nsAck frames written
	Delivered     uint64 // notifications queued for Notifications()
	Unknown       uint64 // notifications of a type this package does not decode
	ParseErrors   uint64 // unparseable frames, frames without nsMsg, malformed payloads, binary frames
	Reconnects    uint64 // successful re-opens after a loss
	Refreshes     uint64 // calls of Refresh
	DialFailures  uint64 // failed WebSocket opens
	PingsSent     uint64
	PongsMissed   uint64
	Rebuilds      uint64 // server-ordered full rebuilds (registration Terminated / reselect_node)
	QueueHighMark uint64 // largest backlog of undelivered notifications seen
}

// Channel is the notification WebSocket client of one account. Create it with NewChannel,
// drive it with Run, read Notifications.
type Channel struct {
	cfg    ChannelConfig
	log    *zap.Logger
	dialer *websocket.Dialer
	out    chan Notification
	q      notifyQueue

	started atomic.Bool
	state   atomic.Int32
	url     atomic.Pointer[string]

	// owned by Run's goroutine
	lastRecovery time.Time

	received, acked, delivered, unknown, parseErrors, reconnects, refreshes,
	dialFailures, pingsSent, pongsMissed, rebuilds, queueHigh atomic.Uint64
}

// NewChannel checks cfg, applies defaults and returns an idle Channel.
func NewChannel(cfg ChannelConfig) (*Channel, error) {
	if cfg.URL == "" && cfg.Refresh == nil {
		return nil, fmt.Errorf("%w: neither URL nor Refresh given", ErrChannelConfig)
	}
	if cfg.MaxAttempts < 0 {
		return nil, fmt.Errorf("%w: negative MaxAttempts", ErrChannelConfig)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PingInterval, DefaultPingInterval)
	def(&cfg.PongTimeout, DefaultPongTimeout)
	def(&cfg.DialTimeout, DefaultDialTimeout)
	def(&cfg.WriteTimeout, DefaultWriteTimeout)
	def(&cfg.BackoffMin, DefaultBackoffMin)
	def(&cfg.BackoffMax, DefaultBackoffMax)
	if cfg.FastRestoreWindow == 0 {
		cfg.FastRestoreWindow = DefaultFastRestoreWindow
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	var d websocket.Dialer
	if cfg.Dialer != nil {
		d = *cfg.Dialer
	} else {
		d = *websocket.DefaultDialer
	}
	d.HandshakeTimeout = cfg.DialTimeout
	c := &Channel{cfg: cfg, log: log, dialer: &d, out: make(chan Notification)}
	c.q.signal = make(chan struct{}, 1)
	u := cfg.URL
	c.url.Store(&u)
	c.state.Store(int32(ChannelConnecting))
	return c, nil
}

// Notifications delivers decoded notifications in arrival order. Frames are acked before they
// are queued, and the queue is unbounded, so a slow reader never stalls the socket. The
// channel is closed when Run returns; notifications not yet read by then are dropped.
func (c *Channel) Notifications() <-chan Notification { return c.out }

// State returns the current state.
func (c *Channel) State() ChannelState { return ChannelState(c.state.Load()) }

// URL returns the channel URL currently in use (a credential: do not log it).
func (c *Channel) URL() string { return *c.url.Load() }

// Stats returns a snapshot of the counters.
func (c *Channel) Stats() ChannelStats {
	return ChannelStats{
		Received: c.received.Load(), Acked: c.acked.Load(), Delivered: c.delivered.Load(),
		Unknown: c.unknown.Load(), ParseErrors: c.parseErrors.Load(), Reconnects: c.reconnects.Load(),
		Refreshes: c.refreshes.Load(), DialFailures: c.dialFailures.Load(), PingsSent: c.pingsSent.Load(),
		PongsMissed: c.pongsMissed.Load(), Rebuilds: c.rebuilds.Load(), QueueHighMark: c.queueHigh.Load(),
	}
}

func (c *Channel) setState(s ChannelState) {
	if ChannelState(c.state.Swap(int32(s))) == s {
		return
	}
	c.log.Debug("notification channel state", zap.Stringer("state", s))
	if c.cfg.OnState != nil {
		c.cfg.OnState(s)
	}
}

// endReason says why a connected session ended.
type endReason int

const (
	endContext     endReason = iota // ctx done
	endDropped                      // socket closed or failed (§6.6 sub-codes 0/3)
	endNoPong                       // two consecutive missed pongs (§6.6 sub-code 2)
	endRebuild                      // server ordered a rebuild (registration Terminated / reselect_node)
	endWriteFailed                  // a ping could not be written (treated like endDropped)
	endOpenFailed                   // the initial open failed (full rebuild, not counted in Rebuilds)
)

func (r endReason) String() string {
	return [...]string{"context done", "socket lost", "no pong", "server-ordered rebuild", "write failed", "initial open failed"}[r]
}

// Run connects and keeps the channel alive until ctx ends (returns nil) or recovery gives up
// after MaxAttempts rounds (returns an error wrapping ErrChannelFailed). All goroutines it
// starts are gone when it returns. Run may be called only once.
func (c *Channel) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return ErrChannelRunning
	}
	var wg sync.WaitGroup
	qctx, stopQ := context.WithCancel(context.Background())
	wg.Go(func() { c.deliver(qctx) })
	defer func() {
		stopQ()
		wg.Wait()
		close(c.out)
	}()

	if c.cfg.OnState != nil {
		c.cfg.OnState(ChannelConnecting)
	}
	var conn *websocket.Conn
	var err error
	if u := c.URL(); u != "" {
		conn, err = c.dial(ctx, u)
	} else {
		err = errors.New("no initial channel URL")
	}
	reason := endOpenFailed
	if err != nil {
		c.log.Warn("notification channel: initial open failed", zap.Error(err))
	}
	flaps := 0 // consecutive sessions that ended within stableSession of opening
	for {
		if conn != nil {
			c.setState(ChannelConnected)
			opened := time.Now()
			reason = c.serve(ctx, conn)
			conn = nil
			if time.Since(opened) < c.stableSession() {
				flaps++
			} else {
				flaps = 0
			}
		}
		if ctx.Err() != nil {
			c.setState(ChannelClosed)
			return nil
		}
		if reason == endRebuild {
			c.rebuilds.Add(1)
		}
		if reason == endOpenFailed {
			// Never connected: "initial open failed" was the warn.
			c.log.Info("notification channel recovering", zap.Stringer("reason", reason))
		} else {
			// The one warn line of a loss; the recovery's own lines stay at info.
			c.log.Warn("notification channel lost, recovering", zap.Stringer("reason", reason))
		}
		c.setState(ChannelRecovering)
		if flaps > 0 && !c.flapPause(ctx, flaps) {
			c.setState(ChannelClosed)
			return nil
		}
		conn, err = c.recover(ctx, reason)
		if err != nil {
			if ctx.Err() != nil {
				c.setState(ChannelClosed)
				return nil
			}
			c.setState(ChannelFailed)
			c.log.Error("notification channel failed", zap.Error(err))
			return err
		}
		c.reconnects.Add(1)
	}
}

// stableSession is how long a socket must have stayed open for its loss not to count as
// flapping: the fast-restore window, or its default when the window is disabled.
func (c *Channel) stableSession() time.Duration {
	if w := c.cfg.FastRestoreWindow; w > 0 {
		return w
	}
	return DefaultFastRestoreWindow
}

// flapPause waits before recovering from the flaps-th consecutive short-lived session, so that a
// server that accepts and at once drops the socket (or orders a rebuild) is not hammered: every
// open of such a loop succeeds, so recover's own backoff never engages. It reports false if ctx
// ended while waiting.
func (c *Channel) flapPause(ctx context.Context, flaps int) bool {
	d := Backoff{Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax}.Delay(flaps - 1)
	c.log.Info("notification channel flapping, backing off", zap.Int("flaps", flaps), zap.Duration("delay", d))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// recover runs recovery rounds (§6.6) until a socket is open, ctx ends or MaxAttempts rounds
// failed. A fast restore (socket lost, no pong) first reopens the same URL unless the previous
// recovery began less than FastRestoreWindow ago; otherwise, and in every later round, a new
// URL is fetched with Refresh. Rounds are separated by capped exponential backoff.
func (c *Channel) recover(ctx context.Context, reason endReason) (*websocket.Conn, error) {
	bo := Backoff{Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax}
	sameFirst := reason == endDropped || reason == endNoPong || reason == endWriteFailed
	if w := c.cfg.FastRestoreWindow; w > 0 && !c.lastRecovery.IsZero() && time.Since(c.lastRecovery) < w {
		sameFirst = false
	}
	var lastErr error
	for round := 0; ; round++ {
		if c.cfg.MaxAttempts > 0 && round >= c.cfg.MaxAttempts {
			return nil, fmt.Errorf("%w: %d recovery rounds failed: %w", ErrChannelFailed, round, lastErr)
		}
		if round > 0 {
			d := bo.Delay(round - 1)
			c.log.Debug("notification channel: backing off", zap.Duration("delay", d), zap.Int("round", round))
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		c.lastRecovery = time.Now()
		if (round == 0 && sameFirst) || c.cfg.Refresh == nil {
			if u := c.URL(); u != "" {
				conn, err := c.dial(ctx, u)
				if err == nil {
					return conn, nil
				}
				lastErr = err
				c.log.Info("notification channel: reopening same URL failed", zap.Error(err))
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
			}
			if c.cfg.Refresh == nil {
				continue
			}
		}
		c.refreshes.Add(1)
		u, err := c.cfg.Refresh(ctx)
		if err == nil && u == "" {
			err = errors.New("refresh returned an empty channel URL")
		}
		if err != nil {
			lastErr = fmt.Errorf("refresh channel URL: %w", err)
			c.log.Warn("notification channel: refresh failed", zap.Error(err))
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		c.url.Store(&u)
		conn, err := c.dial(ctx, u)
		if err == nil {
			return conn, nil
		}
		lastErr = err
		c.log.Warn("notification channel: opening new URL failed", zap.Error(err))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// dial opens one WebSocket: no subprotocol, no extra headers (§6.1).
func (c *Channel) dial(ctx context.Context, u string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	conn, resp, err := c.dialer.DialContext(dctx, u, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		c.dialFailures.Add(1)
		var ue *url.Error
		if errors.As(err, &ue) { // its text would carry the full URL, a credential
			err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
		}
		de := &ChannelDialError{URL: RedactChannelURL(u), Err: err}
		if resp != nil {
			de.StatusCode = resp.StatusCode
		}
		return nil, de
	}
	conn.SetReadLimit(ChannelReadLimit)
	c.log.Info("notification channel open", zap.String("url", RedactChannelURL(u)))
	return conn, nil
}

// RedactChannelURL returns a loggable form of a channel URL: scheme, host and the last four
// characters of the path (the path token is the credential, §6.1, §11).
func RedactChannelURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "<unparseable url>"
	}
	tail := strings.TrimPrefix(p.Path, "/")
	if len(tail) > 4 {
		tail = "…" + tail[len(tail)-4:]
	}
	return p.Scheme + "://" + p.Host + "/" + tail
}

// session is one open socket. Writes go through write, serialised by mu (gorilla allows one
// concurrent writer; Close and WriteControl are safe anyway).
type session struct {
	c    *Channel
	conn *websocket.Conn
	mu   sync.Mutex
}

func (s *session) write(data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.c.cfg.WriteTimeout)); err != nil {
		return err
	}
	return s.conn.WriteMessage(websocket.TextMessage, data)
}

// serve runs one connected socket until it ends; the socket is closed and the reader
// goroutine gone on return.
func (c *Channel) serve(ctx context.Context, conn *websocket.Conn) endReason {
	s := &session{c: c, conn: conn}
	pongs := make(chan struct{}, 1)
	rebuild := make(chan struct{}, 1)
	readDone := make(chan error, 1)
	go func() { readDone <- s.readLoop(pongs, rebuild) }()

	reason := s.keepAlive(ctx, pongs, rebuild, readDone)
	if reason == endContext {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	}
	_ = conn.Close()
	if reason != endDropped { // readDone already consumed when the reader ended the session
		<-readDone
	}
	return reason
}

// keepAlive sends the pings (§6.2) and waits for the session to end.
func (s *session) keepAlive(ctx context.Context, pongs, rebuild <-chan struct{}, readDone <-chan error) endReason {
	c := s.c
	ticker := time.NewTicker(c.cfg.PingInterval)
	defer ticker.Stop()
	pongTimer := time.NewTimer(time.Hour)
	pongTimer.Stop()
	defer pongTimer.Stop()
	awaiting, missed := false, 0

	ping := func() bool {
		if err := s.write([]byte(PingText(time.Now()))); err != nil {
			c.log.Info("notification channel: ping write failed", zap.Error(err))
			return false
		}
		c.pingsSent.Add(1)
		awaiting = true
		pongTimer.Reset(c.cfg.PongTimeout)
		return true
	}
	if !ping() {
		return endWriteFailed
	}
	for {
		select {
		case <-ctx.Done():
			return endContext
		case err := <-readDone:
			c.log.Info("notification channel: socket closed", zap.Error(err))
			return endDropped
		case <-rebuild:
			return endRebuild
		case <-pongs:
			awaiting, missed = false, 0
			pongTimer.Stop()
		case <-pongTimer.C:
			if !awaiting {
				continue
			}
			c.pongsMissed.Add(1)
			missed++
			c.log.Info("notification channel: pong missed", zap.Int("consecutive", missed))
			if missed >= 2 {
				return endNoPong
			}
			if !ping() {
				return endWriteFailed
			}
		case <-ticker.C:
			if awaiting {
				continue // the pong timer decides
			}
			if !ping() {
				return endWriteFailed
			}
		}
	}
}

// readLoop reads frames until the socket fails: pongs are signalled, nsMsg frames acked
// first and then queued (§6.3, §6.4).
func (s *session) readLoop(pongs, rebuild chan<- struct{}) error {
	c := s.c
	for {
		typ, data, err := s.conn.ReadMessage()
		if err != nil {
			return err
		}
		if typ != websocket.TextMessage {
			c.parseErrors.Add(1)
			c.log.Warn("notification channel: ignoring non-text frame", zap.Int("type", typ))
			continue
		}
		if IsPong(data) {
			select {
			case pongs <- struct{}{}:
			default:
			}
			continue
		}
		msgID, ns, err := DecodeFrame(data)
		if err != nil {
			c.parseErrors.Add(1)
			c.log.Warn("notification channel: unparseable frame", zap.Error(err), zap.Int("len", len(data)))
			continue
		}
		c.received.Add(1)
		if werr := s.write(EncodeAck(msgID)); werr != nil {
			c.log.Info("notification channel: ack write failed", zap.Error(werr))
		} else {
			c.acked.Add(1)
		}
		for _, n := range ns {
			if n.Err != nil {
				c.parseErrors.Add(1)
				c.log.Warn("notification channel: malformed notification", zap.String("type", n.Type), zap.Error(n.Err))
			}
			if n.Type == "" {
				continue
			}
			if !n.Known() {
				c.unknown.Add(1)
				c.log.Info("notification channel: unknown notification type", zap.String("type", n.Type))
			}
			c.enqueue(n)
			if n.NeedsRebuild() {
				c.log.Info("notification channel: server ordered a rebuild", zap.String("type", n.Type))
				select {
				case rebuild <- struct{}{}:
				default:
				}
			}
		}
	}
}

// notifyQueue is the unbounded FIFO between the read loop and Notifications().
type notifyQueue struct {
	mu     sync.Mutex
	items  []Notification
	signal chan struct{}
}

func (c *Channel) enqueue(n Notification) {
	c.q.mu.Lock()
	c.q.items = append(c.q.items, n)
	l := uint64(len(c.q.items))
	c.q.mu.Unlock()
	c.delivered.Add(1)
	for {
		h := c.queueHigh.Load()
		if l <= h || c.queueHigh.CompareAndSwap(h, l) {
			break
		}
	}
	if l >= 1024 && l&(l-1) == 0 {
		c.log.Warn("notification channel: consumer is slow", zap.Uint64("backlog", l))
	}
	select {
	case c.q.signal <- struct{}{}:
	default:
	}
}

// deliver moves queued notifications to the out channel until ctx ends.
func (c *Channel) deliver(ctx context.Context) {
	for {
		c.q.mu.Lock()
		if len(c.q.items) == 0 {
			c.q.items = nil
			c.q.mu.Unlock()
			select {
			case <-c.q.signal:
				continue
			case <-ctx.Done():
				return
			}
		}
		n := c.q.items[0]
		c.q.items[0] = Notification{}
		c.q.items = c.q.items[1:]
		c.q.mu.Unlock()
		select {
		case c.out <- n:
		case <-ctx.Done():
			return
		}
	}
}
