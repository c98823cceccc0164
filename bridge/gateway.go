package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// Deps are the parts a Gateway is built from. SIP, YNA, Media and Tokens are required.
type Deps struct {
	SIP     *sip.Server
	YNA     *yna.Client
	Media   MediaFactory
	Tokens  TokenSource
	Metrics Metrics     // nil: NopMetrics
	CDR     CDRSink     // nil: NopCDRSink
	Logger  *zap.Logger // nil: zap.NewNop()
	// Relay (clustered mode), if set, gets every status notification of this node's
	// channels for a call this node does not have: another node may have placed it
	// (outbound calls run on any node, but a line's notifications reach only the
	// node holding its channel). That node hands it to Deliver.
	Relay func(st *yna.SessionStatus)
}

// Gateway bridges SIP calls and YNA calls. Create it with New, run it with Start, stop it
// with Close.
type Gateway struct {
	cfg     Config
	parts   parts       // what calls run on (ports.go)
	clock   clock       // parts.clock
	yna     *yna.Client // the lines' notification channels (nil in unit tests)
	media   MediaFactory
	tokens  TokenSource
	metrics Metrics
	cdr     CDRSink
	log     *zap.Logger
	relay   func(st *yna.SessionStatus)
	ports   *rtpmedia.PortAllocator
	ends    *endRetrier

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the gateway owns

	draining atomic.Bool

	mu      sync.Mutex
	started bool
	closed  bool
	lines   map[string]*lineRunner // by MSISDN
	confs   map[string]LineConfig  // routing of every known line
	calls   map[string]*call       // by YNA callId
	pending map[string][]pendingNote
	live    map[*call]struct{}
}

type pendingNote struct {
	at time.Time
	st *yna.SessionStatus
}

// New validates cfg (after Init) and builds a Gateway. It does not touch the network.
func New(cfg Config, deps Deps) (*Gateway, error) {
	cfg.Init()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bridge config: %w", err)
	}
	if deps.SIP == nil || deps.YNA == nil || deps.Media == nil || deps.Tokens == nil {
		return nil, errors.New("bridge: Deps.SIP, YNA, Media and Tokens are required")
	}
	log := deps.Logger
	if log == nil {
		log = zap.NewNop()
	}
	api := &tokenAPI{c: deps.YNA, tokens: deps.Tokens, log: log.Named("bridge")}
	return newGateway(cfg, deps, productionParts(deps.SIP, api))
}

// newGateway builds a Gateway whose calls run on p (New: the real packages; unit tests:
// fakes). cfg must have been through Init.
func newGateway(cfg Config, deps Deps, p parts) (*Gateway, error) {
	g := &Gateway{
		cfg: cfg, parts: p, clock: p.clock, yna: deps.YNA, media: deps.Media, tokens: deps.Tokens,
		metrics: deps.Metrics, cdr: deps.CDR, log: deps.Logger, relay: deps.Relay,
		lines: map[string]*lineRunner{}, confs: map[string]LineConfig{},
		calls: map[string]*call{}, pending: map[string][]pendingNote{}, live: map[*call]struct{}{},
	}
	g.ends = &endRetrier{g: g}
	if g.metrics == nil {
		g.metrics = NopMetrics{}
	}
	if g.cdr == nil {
		g.cdr = NopCDRSink{}
	}
	if g.log == nil {
		g.log = zap.NewNop()
	}
	g.log = g.log.Named("bridge")
	if cfg.Media.PortMin != 0 {
		pa, err := rtpmedia.NewPortAllocator(cfg.Media.PortMin, cfg.Media.PortMax, 2*time.Second)
		if err != nil {
			return nil, fmt.Errorf("bridge: %w", err)
		}
		g.ports = pa
	}
	for _, l := range cfg.Lines {
		g.confs[l.MSISDN] = l
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g, nil
}

// Start registers the gateway as the SIP handler and opens the notification channel of
// every configured line (a line without a token keeps retrying until it gets one). ctx
// only bounds start-up.
func (g *Gateway) Start(ctx context.Context) error {
	g.mu.Lock()
	if g.started || g.closed {
		g.mu.Unlock()
		return errors.New("bridge: already started or closed")
	}
	g.started = true
	lines := append([]LineConfig(nil), g.cfg.Lines...)
	g.mu.Unlock()
	for _, l := range lines {
		if g.cfg.LeasedChannels {
			break
		}
		if err := g.startLine(l); err != nil {
			return err
		}
	}
	g.ends.resume(ctx)
	g.parts.sip.SetHandler(g)
	g.log.Info("gateway started", zap.Int("lines", len(lines)))
	return ctx.Err()
}

// AddLine links a line at runtime: stores token (if the TokenSource accepts tokens) and
// opens the line's notification channel. Routing comes from the configured LineConfig of
// msisdn, if any (otherwise the line only takes inbound calls nobody rings: configure it
// with AddLineConfig).
func (g *Gateway) AddLine(ctx context.Context, msisdn, token string) error {
	n, err := yna.NormalizeLine(msisdn)
	if err != nil {
		return err
	}
	g.mu.Lock()
	lc, ok := g.confs[n]
	g.mu.Unlock()
	if !ok {
		lc = LineConfig{MSISDN: n}
	}
	return g.AddLineConfig(ctx, lc, token)
}

// AddLineConfig is AddLine with the line's routing.
func (g *Gateway) AddLineConfig(ctx context.Context, lc LineConfig, token string) error {
	n, err := yna.NormalizeLine(lc.MSISDN)
	if err != nil {
		return err
	}
	lc.MSISDN = n
	if token != "" {
		ts, ok := g.tokens.(TokenSetter)
		if !ok {
			return errors.New("bridge: TokenSource does not accept tokens")
		}
		ts.SetToken(n, token)
	}
	g.mu.Lock()
	g.confs[n] = lc
	r := g.lines[n]
	g.mu.Unlock()
	if r != nil {
		r.kick() // a new token: reconnect at once if it was waiting
		return ctx.Err()
	}
	if g.cfg.LeasedChannels {
		return ctx.Err()
	}
	if err := g.startLine(lc); err != nil {
		return err
	}
	return ctx.Err()
}

// RemoveLine closes the line's notification channel. Established calls continue (they
// need only REST and media); new calls on the line are refused.
func (g *Gateway) RemoveLine(msisdn string) {
	n, err := yna.NormalizeLine(msisdn)
	if err != nil {
		return
	}
	g.stopLine(n, true)
	if ts, ok := g.tokens.(TokenSetter); ok {
		ts.SetToken(n, "")
	}
}

// OpenChannel opens the notification channel of a known line (LeasedChannels:
// this node took the line's lease); a running one is left as it is.
func (g *Gateway) OpenChannel(ctx context.Context, msisdn string) error {
	n, err := yna.NormalizeLine(msisdn)
	if err != nil {
		return err
	}
	g.mu.Lock()
	lc, ok := g.confs[n]
	g.mu.Unlock()
	if !ok {
		return fmt.Errorf("bridge: open channel: line %s is not known", n)
	}
	if err := g.startLine(lc); err != nil {
		return err
	}
	return ctx.Err()
}

// CloseChannel closes a line's notification channel and waits until it is
// closed, keeping the line known (LeasedChannels: this node lost or released
// the lease). Established calls continue; the line's new invitations go to
// the node that opens its channel next.
func (g *Gateway) CloseChannel(msisdn string) {
	n, err := yna.NormalizeLine(msisdn)
	if err != nil {
		return
	}
	g.stopLine(n, false)
}

// stopLine stops line n's channel runner, if one runs, and waits for it to end;
// forget also drops the line's configuration (RemoveLine).
func (g *Gateway) stopLine(n string, forget bool) {
	g.mu.Lock()
	r := g.lines[n]
	delete(g.lines, n)
	if forget {
		delete(g.confs, n)
	}
	g.mu.Unlock()
	if r != nil {
		r.stop()
	}
}

// Lines returns the MSISDNs of the lines with a running notification channel.
func (g *Gateway) Lines() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.lines))
	for n := range g.lines {
		out = append(out, n)
	}
	return out
}

// DrainReason is the reason phrase of the 503 (with Retry-After) a draining gateway
// answers new INVITEs with.
const DrainReason = "Gateway draining"

// SetDraining turns draining on or off. While draining, new SIP INVITEs are answered 503
// with Retry-After and new network invitations are ended at once (DELETE /end: the
// caller goes to voicemail); notification channels stay open and established calls
// (and calls already being set up) continue.
func (g *Gateway) SetDraining(on bool) {
	if g.draining.Swap(on) != on {
		g.log.Info("draining", zap.Bool("on", on))
	}
}

// Draining reports whether the gateway is draining.
func (g *Gateway) Draining() bool { return g.draining.Load() }

// ActiveCalls returns the number of calls in progress.
func (g *Gateway) ActiveCalls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.live)
}

// Close stops taking calls, ends every call properly (BYE + DELETE /end, each bounded by
// Timers.DrainTimeout), closes the notification channels and waits for all goroutines
// (or ctx).
func (g *Gateway) Close(ctx context.Context) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	started := g.started
	runners := make([]*lineRunner, 0, len(g.lines))
	for _, r := range g.lines {
		runners = append(runners, r)
	}
	g.mu.Unlock()
	if started {
		g.parts.sip.SetHandler(nil)
	}
	g.cancel() // every call goroutine ends its call
	for _, r := range runners {
		r.stop()
	}
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		g.log.Info("gateway closed")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bridge: close: %w", ctx.Err())
	}
}

// goOwned runs f in a goroutine Close waits for; false when closing.
func (g *Gateway) goOwned(f func()) bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return false
	}
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// lineConf returns the routing of line.
func (g *Gateway) lineConf(line string) (LineConfig, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	lc, ok := g.confs[line]
	return lc, ok
}

// outboundLines returns the lines that can place calls now (running channel not needed:
// outbound calls need only REST, but the line must be known).
func (g *Gateway) outboundLines() []LineConfig {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]LineConfig, 0, len(g.confs))
	for _, l := range g.cfg.Lines { // configured order first
		if lc, ok := g.confs[l.MSISDN]; ok {
			out = append(out, lc)
		}
	}
	for n, lc := range g.confs {
		if _, ok := g.cfg.line(n); !ok {
			out = append(out, lc)
		}
	}
	return out
}

// --- call table ---

// admit registers a call (counted in ynagw_calls_active from here until end); false
// when closing: the call was never started and is not counted.
func (g *Gateway) admit(c *call) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.live[c] = struct{}{}
	c.m = g.metrics.CallStarted(c.dir, c.line)
	return true
}

// spawn admits c, binds callID to it and runs f as its goroutine, all at once; nothing
// when closing.
func (g *Gateway) spawn(c *call, callID string, f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.live[c] = struct{}{}
	g.calls[callID] = c
	for _, p := range g.pending[callID] {
		c.notes.put(p.st)
	}
	delete(g.pending, callID)
	c.m = g.metrics.CallStarted(c.dir, c.line)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer g.release(c)
		f()
	}()
}

// bind maps callID to c and moves the notifications buffered for it into its mailbox
// (they precede the answer to /start, §18.1); it returns them too.
func (g *Gateway) bind(callID string, c *call) []*yna.SessionStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls[callID] = c
	var out []*yna.SessionStatus
	for _, p := range g.pending[callID] {
		out = append(out, p.st)
		c.notes.put(p.st)
	}
	delete(g.pending, callID)
	return out
}

// bound reports whether callID belongs to a running call.
func (g *Gateway) bound(callID string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[callID] != nil
}

// release forgets a call that ended.
func (g *Gateway) release(c *call) { g.unbind(c) }

func (g *Gateway) unbind(c *call) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.live, c)
	if c.ynaID != "" && g.calls[c.ynaID] == c {
		delete(g.calls, c.ynaID)
	}
}

// dispatch routes a status notification to its call, or buffers it briefly (it may
// precede the /start response, §18.1).
func (g *Gateway) dispatch(st *yna.SessionStatus) { g.dispatchFrom(st, true) }

// Deliver takes a status notification another node's channel received for a call it
// does not have (Deps.Relay there): one of this node's calls gets it like one from
// its own channel; an unknown call's is buffered and dropped like those.
func (g *Gateway) Deliver(st *yna.SessionStatus) { g.dispatchFrom(st, false) }

func (g *Gateway) dispatchFrom(st *yna.SessionStatus, own bool) {
	id := yna.CallIDFromRef(st.CallObjectRef)
	if id == "" {
		g.log.Info("status notification without callObjectRef", zap.String("status", st.Status))
		return
	}
	now := g.clock.Now()
	g.mu.Lock()
	c := g.calls[id]
	if c == nil {
		for k, ps := range g.pending {
			if len(ps) > 0 && now.Sub(ps[len(ps)-1].at) > pendingNotificationTTL {
				delete(g.pending, k)
			}
		}
		if len(g.pending) < 1024 {
			g.pending[id] = append(g.pending[id], pendingNote{at: now, st: st})
		}
	}
	g.mu.Unlock()
	if c != nil {
		c.notes.put(st)
		return
	}
	if own && g.relay != nil {
		g.relay(st)
	}
	g.log.Debug("notification for unknown call buffered", zap.String("yna_call_id", id), zap.String("status", st.Status))
}
