package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ynagw/ynagw/admin"
	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/metrics"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// refreshPeriod is how often the token refresher looks for tokens close to expiry.
const refreshPeriod = time.Minute

// Daemon is one assembled ynagw: create it with New, run it with Start, stop it with
// Drain and/or Close.
type Daemon struct {
	opts    Options
	log     *zap.Logger
	lock    *storeLock // one daemon per store (lock.go); sqlite only
	store   store.Store
	pg      *store.Postgres // clustered mode: the shared store (also d.store)
	leases  *leaseManager   // clustered mode: line ownership (lease.go); nil otherwise
	metrics *metrics.Metrics
	yna     *yna.Client
	sip     *sip.Server
	engine  *rtpmedia.WebRTCEngine
	gw      *bridge.Gateway
	tokens  *tokenStore
	health  *lineHealthLog // per-line channel health (logs, /readyz)
	cdr     *cdrSink
	backend *Backend
	admin   *admin.Server

	ctx    context.Context // cancelled by Close: owned goroutines stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	orphanRuns map[string]bool // clustered mode: dead nodes whose calls are being ended
	started    bool
	closed     bool
	draining   bool
	// restartPending: fields changed on disk that only a restart applies (Reload).
	restartPending []string
}

// New builds every part from opts (opening the store); nothing listens yet.
func New(ctx context.Context, opts Options) (_ *Daemon, err error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.RefreshBefore <= 0 {
		opts.RefreshBefore = DefaultRefreshBefore
	}
	d := &Daemon{opts: opts, log: opts.Logger}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			d.closeParts()
			d.cancel()
		}
	}()
	if err := d.openStore(ctx); err != nil {
		return nil, err
	}
	st := d.store
	d.metrics = metrics.New(opts.Version, metrics.WithLineLabels(opts.Metrics.lineLabels(opts.Bridge.Lines)))

	yc := opts.YNA
	yc.Logger = d.log.Named("yna")
	yc.Observe = d.metrics.YNARequest
	if d.yna, err = yna.NewClient(yc); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	sc := opts.SIP
	sc.Logger = d.log
	if d.pg != nil {
		sc.Registrations, sc.NodeID = sipRegistrations{d.pg}, opts.Cluster.NodeID
	}
	sc.Observer = sipObserver{d.metrics}
	// OPTIONS probes (Kamailio dispatcher) see 503 while draining or not ready
	sc.Ready = func(ctx context.Context) error { return d.backend.Ready(ctx) }
	if d.sip, err = sip.NewServer(sc); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	wc := opts.WebRTC
	wc.Logger = d.log.Named("webrtc")
	if d.engine, err = rtpmedia.NewWebRTCEngine(wc); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d.tokens = &tokenStore{st: lineStoreCounter{Store: st, onErr: d.metrics.StoreError}, yc: d.yna, log: d.log.Named("tokens"), before: opts.RefreshBefore,
		onExp: d.metrics.TokenExpiry, onRelink: d.metrics.LineNeedsRelink, onFail: d.lineFailed}
	stored, err := d.tokens.load(ctx) // sets ynagw_line_needs_relink of every stored line
	if err != nil {
		return nil, err
	}
	initRelinkGauge(d.metrics, opts.Bridge.Lines, stored)
	d.cdr = newCDRSink(st, d.log.Named("cdr"))
	if d.pg != nil {
		d.cdr.node = opts.Cluster.NodeID
	}
	d.cdr.onStoreError = d.metrics.StoreError
	d.health = newLineHealthLog(d.metrics, d.log.Named("lines"))
	bc := opts.Bridge
	bc.LeasedChannels = d.pg != nil
	deps := bridge.Deps{SIP: d.sip, YNA: d.yna, Media: bridge.WebRTCMedia{Engine: d.engine},
		Tokens: d.tokens, Metrics: d.health, CDR: d.cdr, Logger: d.log}
	if d.pg != nil {
		deps.Relay = d.relayStatus
	}
	d.gw, err = bridge.New(bc, deps)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	if d.pg != nil {
		d.startCluster()
	}
	d.backend = &Backend{d: d}
	return d, nil
}

// Start recovers the calls a crash left open, starts the SIP listeners, the gateway (with
// every configured line and every linked line of the store), the token refresher and the
// admin listener.
func (d *Daemon) Start(ctx context.Context) error {
	d.mu.Lock()
	if d.started || d.closed {
		d.mu.Unlock()
		return errors.New("daemon: already started or closed")
	}
	d.started = true
	d.mu.Unlock()

	d.recoverOrphans(ctx)
	if err := d.sip.Start(ctx); err != nil {
		return fmt.Errorf("daemon: sip: %w", err)
	}
	if err := d.gw.Start(ctx); err != nil {
		return fmt.Errorf("daemon: gateway: %w", err)
	}
	configured := map[string]bool{}
	for _, l := range d.opts.Bridge.Lines {
		configured[l.MSISDN] = true
	}
	ls, err := d.store.Lines(ctx)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	for _, l := range ls {
		if l.State != store.LineLinked || configured[l.MSISDN] {
			continue
		}
		if err := d.gw.AddLine(ctx, l.MSISDN, ""); err != nil {
			d.log.Warn("cannot start linked line", zap.String("line", l.MSISDN), zap.Error(err))
		}
	}
	if d.leases != nil {
		listening := make(chan struct{})
		d.goOwned(func() { d.relayLoop(listening) })
		d.goOwned(d.relayPurgeLoop)
		select { // relayed notifications reach this node before it takes calls
		case <-listening:
		case <-ctx.Done():
		}
		if d.leases.addr == "" {
			d.leases.addr = d.SIPAddr("udp")
		}
		if err := d.leases.join(ctx); errors.Is(err, store.ErrNodeInUse) {
			return fmt.Errorf("daemon: cluster.node_id %q is in use by another running ynagw: give each node its own id: %w", d.opts.Cluster.NodeID, err)
		} else if err != nil {
			return fmt.Errorf("daemon: cluster heartbeat: %w", err)
		}
		d.leases.tick(ctx) // take this node's share of the lines before saying ready
		d.goOwned(func() { d.leases.run(d.ctx) })
	}
	d.goOwned(func() { d.tokens.refreshLoop(d.ctx, refreshPeriod) })
	d.goOwned(d.registrationsLoop)
	if err := d.startAdmin(ctx); err != nil {
		return err
	}
	d.log.Info("ynagw started", zap.String("version", d.opts.Version), zap.Stringer("sip_udp", d.sip.Addr("udp")),
		zap.Int("lines", len(d.gw.Lines())))
	return nil
}

func (d *Daemon) goOwned(f func()) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
}

// registrationsLoop keeps the registrations gauge current.
func (d *Daemon) registrationsLoop() {
	tk := time.NewTicker(5 * time.Second)
	defer tk.Stop()
	for {
		d.metrics.Registrations(d.sip.Registrations())
		select {
		case <-d.ctx.Done():
			return
		case <-tk.C:
		}
	}
}

// lineFailed stops the channel of a line whose tokens are gone (needs relink); its
// established calls go on, the other lines are untouched.
func (d *Daemon) lineFailed(line string) {
	d.gw.RemoveLine(line)
	d.metrics.ChannelUp(line, false)
}

// initRelinkGauge gives every configured line not in the store (not linked yet) a
// ynagw_line_needs_relink series of 0, so the gauge exists from the start.
func initRelinkGauge(m *metrics.Metrics, configured []bridge.LineConfig, stored []store.Line) {
	known := map[string]bool{}
	for _, l := range stored {
		known[l.MSISDN] = true
	}
	for _, lc := range configured {
		if !known[lc.MSISDN] {
			m.LineNeedsRelink(lc.MSISDN, false)
		}
	}
}

// SIPAddr returns the bound SIP address for network ("udp", "tcp", "tls").
func (d *Daemon) SIPAddr(network string) string {
	if a := d.sip.Addr(network); a.IsValid() {
		return a.String()
	}
	return ""
}

// AdminAddr returns the bound admin/metrics address ("" if none).
func (d *Daemon) AdminAddr() string {
	if d.admin == nil || d.admin.Addr() == nil {
		return ""
	}
	return d.admin.Addr().String()
}

// Backend returns the admin backend (the demo links its line through it).
func (d *Daemon) Backend() *Backend { return d.backend }

// Gateway returns the gateway.
func (d *Daemon) Gateway() *bridge.Gateway { return d.gw }

// Store returns the store.
func (d *Daemon) Store() store.Store { return d.store }

// Draining reports whether Drain has begun.
func (d *Daemon) Draining() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.draining
}

// Drain stops taking new calls (new INVITEs get 503 with Retry-After, readiness goes
// off) and waits up to timeout (or ctx) for the active calls to end, logging their
// number every few seconds. It does not end the remaining calls: Close does.
func (d *Daemon) Drain(ctx context.Context, timeout time.Duration) {
	d.mu.Lock()
	d.draining = true
	d.mu.Unlock()
	d.gw.SetDraining(true) // new INVITEs 503 + Retry-After, new invitations to voicemail
	if d.leases != nil {   // clustered: the other nodes take the lines at once; calls go on
		d.leases.drain(ctx)
	}
	d.metrics.SetUp(false)
	if d.admin != nil {
		d.admin.SetDraining(true)
	}
	d.log.Info("draining: new calls are refused", zap.Duration("timeout", timeout), zap.Int("active_calls", d.gw.ActiveCalls()))
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	lastLog := time.Now()
	for {
		n := d.gw.ActiveCalls()
		if n == 0 {
			d.log.Info("drained: no active calls")
			return
		}
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			d.log.Info("draining: waiting for active calls", zap.Int("active_calls", n), zap.Strings("sample", d.activeCallSample(5)))
		}
		select {
		case <-ctx.Done():
			d.log.Info("drain interrupted", zap.Int("active_calls", n))
			return
		case <-deadline.C:
			d.log.Warn("drain timeout: ending the remaining calls", zap.Int("active_calls", n))
			return
		case <-poll.C:
		}
	}
}

// activeCallSample describes up to n of the gateway's calls (oldest first) for the drain
// log: "<direction> <line> <state> <YNA callId or SIP Call-ID>".
func (d *Daemon) activeCallSample(n int) []string {
	var out []string
	for _, c := range d.gw.Calls() {
		if len(out) == n {
			break
		}
		id := c.YNACallID
		if id == "" {
			id = c.SIPCallID
		}
		out = append(out, c.Direction+" "+c.Line+" "+c.State+" "+id)
	}
	return out
}

// Close ends every call properly (BYE + DELETE /end, CDRs written), then stops the SIP
// server, the admin listener, the owned goroutines and closes the store.
func (d *Daemon) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.draining = true
	started := d.started
	d.mu.Unlock()
	var errs []error
	if d.leases != nil && started {
		d.leases.drain(ctx) // channels closed, leases free before the calls end
	}
	if d.gw != nil {
		if err := d.gw.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if d.admin != nil {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = d.admin.Close(sctx)
		cancel()
	}
	d.cancel()
	d.wg.Wait()
	d.closeParts()
	d.log.Info("ynagw stopped")
	return errors.Join(errs...)
}

// closeParts closes what New built (each part tolerates being closed once).
func (d *Daemon) closeParts() {
	if d.sip != nil {
		_ = d.sip.Close()
	}
	if d.engine != nil {
		_ = d.engine.Close()
	}
	if d.yna != nil {
		d.yna.CloseIdleConnections()
	}
	if d.cdr != nil {
		d.cdr.close() // one last attempt at queued call records
	}
	if d.store != nil {
		_ = d.store.Close()
	}
	d.lock.release()
	d.lock = nil
}

// sipObserver counts SIP traffic (sip.Observer → ynagw_sip_requests/responses).
type sipObserver struct{ m *metrics.Metrics }

func (o sipObserver) Request(method string) { o.m.SIPRequest(method) }
func (o sipObserver) Response(code int)     { o.m.SIPResponse(code) }
func (o sipObserver) AuthFailure(r string)  { o.m.SIPAuthFailure(r) }
func (o sipObserver) AuthBlocked(n int)     { o.m.SIPAuthBlocked(n) }

var _ sip.AuthObserver = sipObserver{}
