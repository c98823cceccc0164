package daemon

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/ynagw/ynagw/store"
	"go.uber.org/zap"
)

// Clustered mode: line ownership by lease.
//
// With store.driver postgres several nodes share one database. Each linked
// line's notification channel (and so its inbound calls) is owned by one node
// at a time through its row in line_leases (store/leases.go says why a row and
// not an advisory lock). Every node runs a leaseManager: every TTL/3 it
// renews its heartbeat and the leases it holds, closes the channel of a line
// it lost, and takes free or expired lines up to its share (linked lines /
// live nodes, rounded up), opening their channels. A node that cannot renew
// closes a line's channel once the next attempt would come after the lease's
// end (by its own clock, started before the request, so never after the
// database's expiry): two nodes never hold one line's channel at once. A line
// left free for a whole round (no node under its share took it, e.g. the one under
// its share cannot open channels) goes to a node beyond its share, which keeps it
// until the set of live nodes changes; a node that takes a line but cannot open its
// channel hands it on at once. A line
// taken from a holder that did not release it (it stopped renewing: it died)
// has its old holder's open calls ended (orphans). A draining node releases
// its leases at once so the others take its lines within one period.
//
// Outbound calls work on every node (tokens come from the shared store). A
// line's token is refreshed by its lease holder only (tokens_cluster.go), so
// two nodes never spend the same refresh token.

// ClusterOptions are this node's identity in clustered mode (store.driver postgres).
type ClusterOptions struct {
	NodeID     string
	SIPAddress string        // shown as a line's owner
	LeaseTTL   time.Duration // 0: 6 s
}

// DefaultLeaseTTL is ClusterOptions.LeaseTTL's default.
const DefaultLeaseTTL = 6 * time.Second

// leaseStore is what the lease manager needs of the store (*store.Postgres).
type leaseStore interface {
	AcquireLease(ctx context.Context, msisdn, holder, addr string, ttl time.Duration) (store.Lease, bool, error)
	ReleaseLease(ctx context.Context, msisdn, holder string) error
	Leases(ctx context.Context) ([]store.Lease, error)
	DBNow(ctx context.Context) (time.Time, error)
	Heartbeat(ctx context.Context, node, instance, addr string, ttl time.Duration) ([]store.Node, error)
	Leave(ctx context.Context, node, instance string) error
	Lines(ctx context.Context) ([]store.Line, error)
}

// channelGate opens and closes lines' notification channels (*bridge.Gateway).
type channelGate interface {
	OpenChannel(ctx context.Context, msisdn string) error
	CloseChannel(msisdn string)
}

type leaseManager struct {
	st         leaseStore
	gate       channelGate
	node, addr string
	instance   string // this process (a random id): the node id is refused to a second process
	ttl, every time.Duration
	log        *zap.Logger
	now        func() time.Time

	onOwned      func(line string, owned bool) // metrics; nil = none
	onError      func()                        // metrics; nil = none
	onLines      func(ctx context.Context, ls []store.Line)
	onTakeover   func(prev, line string) // prev stopped renewing; must not block
	onTransition func(line string, owned bool)

	tickMu sync.Mutex // one tick or drain at a time

	mu       sync.Mutex
	owned    map[string]time.Time // line → local deadline of its lease
	owners   map[string]store.Lease
	reported map[string]bool // lines whose ynagw_line_owned series exists
	// freeBefore: free lines the last round left for nodes under their share; sticky:
	// lines taken beyond the share because they stayed free (kept while the same nodes
	// live, or they would bounce between a node that cannot use them and this one).
	freeBefore map[string]bool
	sticky     map[string]bool
	nodes      int
	draining   bool
}

func newLeaseManager(st leaseStore, gate channelGate, o ClusterOptions, log *zap.Logger) *leaseManager {
	ttl := o.LeaseTTL
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	return &leaseManager{st: st, gate: gate, node: o.NodeID, addr: o.SIPAddress, instance: uuid.NewString(), ttl: ttl, every: ttl / 3,
		log: log, now: time.Now, owned: map[string]time.Time{}, owners: map[string]store.Lease{}, reported: map[string]bool{}, sticky: map[string]bool{}}
}

// run ticks every TTL/3 until ctx ends.
func (m *leaseManager) run(ctx context.Context) {
	tk := time.NewTicker(m.every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		m.tick(ctx)
	}
}

// Owns reports whether this node holds line's lease now.
func (m *leaseManager) Owns(line string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.owned[line]
	return ok && m.now().Before(d)
}

// OwnedLines returns the lines this node holds, sorted.
func (m *leaseManager) OwnedLines() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.owned))
	for l := range m.owned {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// Owners returns the last seen lease of every line (holder "" = free).
func (m *leaseManager) Owners() map[string]store.Lease {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]store.Lease, len(m.owners))
	for k, v := range m.owners {
		out[k] = v
	}
	return out
}

func (m *leaseManager) fail(what string, err error, fields ...zap.Field) {
	if m.onError != nil {
		m.onError()
	}
	m.log.Warn(what, append(fields, zap.Error(err))...)
}

// tick is one round: heartbeat, renewals, losses, takeovers.
func (m *leaseManager) tick(parent context.Context) {
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	m.mu.Lock()
	draining := m.draining
	m.mu.Unlock()
	if draining {
		return // released everything and left: no heartbeat, no lines
	}
	ctx, cancel := context.WithTimeout(parent, m.every)
	defer cancel()
	start := m.now()

	// Renew what we hold first, at the start of the round: the next attempt then comes
	// at most one period later, which the deadline check below relies on.
	m.mu.Lock()
	held := make([]string, 0, len(m.owned))
	for l := range m.owned {
		held = append(held, l)
	}
	m.mu.Unlock()
	sort.Strings(held)
	for _, line := range held {
		l, ok, err := m.st.AcquireLease(ctx, line, m.node, m.addr, m.ttl)
		switch {
		case err != nil:
			m.fail("cluster: lease renewal failed", err, zap.String("line", line))
			m.mu.Lock()
			deadline := m.owned[line]
			m.mu.Unlock()
			if !m.now().Add(m.every).Before(deadline) {
				// The next attempt would come after the lease ends: stop
				// before another node can start.
				m.drop(line, "lease about to expire without renewal")
			}
		case !ok:
			m.drop(line, "lease taken by "+l.Holder)
		default:
			m.mu.Lock()
			m.owned[line] = start.Add(m.ttl)
			m.owners[line] = l
			m.mu.Unlock()
		}
	}

	// The heartbeat lives a little shorter than the leases, so a dead node no
	// longer counts when its leases end and the survivors take all its lines
	// in one round.
	nodes, err := m.st.Heartbeat(ctx, m.node, m.instance, m.addr, m.ttl-m.every/2)
	if errors.Is(err, store.ErrNodeInUse) {
		// Another process runs with our node id (misconfiguration, or it took the id
		// over while we could not renew): it would hold "our" leases too. Give all up.
		m.fail("cluster: node id in use by another process; giving up every line", err, zap.String("node", m.node))
		for _, line := range m.OwnedLines() {
			m.drop(line, "node id in use by another process")
		}
		return
	}
	if err != nil {
		m.fail("cluster heartbeat failed", err)
	}
	ls, listErr := m.st.Lines(ctx)
	if listErr != nil {
		m.fail("cluster: cannot list lines", listErr)
	} else if m.onLines != nil {
		m.onLines(ctx, ls)
	}
	linked := map[string]bool{}
	for _, l := range ls {
		if l.State == store.LineLinked {
			linked[l.MSISDN] = true
		}
	}

	// Every linked line gets its ynagw_line_owned series on every node (0 where another
	// node holds it), so alerts can tell "held elsewhere" from "held nowhere".
	if m.onOwned != nil {
		for line := range linked {
			m.mu.Lock()
			_, mine := m.owned[line]
			first := !m.reported[line]
			m.reported[line] = true
			m.mu.Unlock()
			if first && !mine {
				m.onOwned(line, false)
			}
		}
	}

	m.mu.Lock()
	if len(nodes) > 0 {
		if len(nodes) != m.nodes {
			m.sticky = map[string]bool{} // a node came or went: share out afresh
		}
		m.nodes = len(nodes)
	}
	live := max(m.nodes, 1)
	m.mu.Unlock()
	if listErr != nil {
		return // keep what we hold (renewed above), take nothing blind
	}
	for _, line := range m.OwnedLines() { // give up lines no longer linked
		if !linked[line] {
			m.release(ctx, line, "line no longer linked")
		}
	}

	// Take free lines up to our share, and beyond it those that stayed free for a whole
	// round (no node under its share wanted them, e.g. one that cannot open channels).
	share := (len(linked) + live - 1) / live
	free := m.freeLines(ctx, linked)
	stillFree := map[string]bool{}
	for _, line := range free {
		m.mu.Lock()
		stale := m.freeBefore[line]
		m.mu.Unlock()
		beyond := len(m.OwnedLines()) >= share
		if beyond && !stale {
			stillFree[line] = true
			continue
		}
		l, ok, err := m.st.AcquireLease(ctx, line, m.node, m.addr, m.ttl)
		if err != nil {
			m.fail("cluster: lease acquisition failed", err, zap.String("line", line))
			continue
		}
		if !ok {
			continue
		}
		m.take(ctx, line, l, start)
		if beyond {
			m.mu.Lock()
			if _, ok := m.owned[line]; ok {
				m.sticky[line] = true // not rebalanced away while the same nodes live
			}
			m.mu.Unlock()
		}
	}
	m.mu.Lock()
	m.freeBefore = stillFree
	m.mu.Unlock()
	// More than our share while others are live (a node joined): hand one
	// line over per round.
	var movable []string
	m.mu.Lock()
	for l := range m.owned {
		if !m.sticky[l] {
			movable = append(movable, l)
		}
	}
	m.mu.Unlock()
	sort.Strings(movable)
	if live > 1 && len(movable) > share { // sticky lines do not count against the share
		m.release(ctx, movable[len(movable)-1], "rebalancing over live nodes")
	}
}

// freeLines are the linked lines whose lease is missing, released or expired
// (database clock), sorted.
func (m *leaseManager) freeLines(ctx context.Context, linked map[string]bool) []string {
	leases, err := m.st.Leases(ctx)
	if err != nil {
		m.fail("cluster: cannot read leases", err)
		return nil
	}
	now, err := m.st.DBNow(ctx)
	if err != nil {
		m.fail("cluster: cannot read the database clock", err)
		return nil
	}
	byLine := map[string]store.Lease{}
	m.mu.Lock()
	for _, l := range leases {
		byLine[l.MSISDN] = l
		if linked[l.MSISDN] {
			m.owners[l.MSISDN] = l
		}
	}
	m.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for line := range linked {
		l, ok := byLine[line]
		if _, mine := m.owned[line]; !mine && (!ok || l.Holder == "" || !now.Before(l.ExpiresAt)) {
			out = append(out, line)
		}
	}
	sort.Strings(out)
	return out
}

// take makes line ours: channel opened; orphans of a dead previous holder ended.
func (m *leaseManager) take(ctx context.Context, line string, l store.Lease, start time.Time) {
	m.mu.Lock()
	m.owned[line] = start.Add(m.ttl)
	m.owners[line] = l
	m.mu.Unlock()
	if m.onOwned != nil {
		m.onOwned(line, true)
	}
	m.log.Info("line taken", zap.String("line", line), zap.Int64("epoch", l.Epoch), zap.String("previous_holder", l.Prev))
	if err := m.gate.OpenChannel(ctx, line); err != nil {
		// A lease without a channel would leave the line deaf: hand it on.
		m.log.Warn("cluster: cannot open the channel of a taken line", zap.String("line", line), zap.Error(err))
		m.release(ctx, line, "channel could not be opened")
		return
	}
	if m.onTransition != nil {
		m.onTransition(line, true)
	}
	if l.Prev != "" && l.Prev != m.node && m.onTakeover != nil {
		m.onTakeover(l.Prev, line)
	}
}

// drop closes line's channel and forgets it (the lease is gone or going).
func (m *leaseManager) drop(line, why string) {
	m.gate.CloseChannel(line)
	m.mu.Lock()
	delete(m.owned, line)
	delete(m.sticky, line)
	m.mu.Unlock()
	if m.onOwned != nil {
		m.onOwned(line, false)
	}
	if m.onTransition != nil {
		m.onTransition(line, false)
	}
	m.log.Warn("line given up", zap.String("line", line), zap.String("why", why))
}

// release closes line's channel, then frees its lease for another node.
func (m *leaseManager) release(ctx context.Context, line, why string) {
	m.gate.CloseChannel(line)
	m.mu.Lock()
	delete(m.owned, line)
	delete(m.sticky, line)
	m.mu.Unlock()
	if err := m.st.ReleaseLease(ctx, line, m.node); err != nil {
		m.fail("cluster: lease release failed (it expires by itself)", err, zap.String("line", line))
	}
	if m.onOwned != nil {
		m.onOwned(line, false)
	}
	if m.onTransition != nil {
		m.onTransition(line, false)
	}
	m.log.Info("line released", zap.String("line", line), zap.String("why", why))
}

// drain stops taking lines and releases every held one (their channels close
// first); established calls go on.
func (m *leaseManager) drain(ctx context.Context) {
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	m.mu.Lock()
	m.draining = true
	m.mu.Unlock()
	for _, line := range m.OwnedLines() {
		m.release(ctx, line, "draining")
	}
	if err := m.st.Leave(ctx, m.node, m.instance); err != nil {
		m.fail("cluster: leave failed", err)
	}
}

// join is the first heartbeat at start. A node id whose heartbeat belongs to another
// process is tried again until that heartbeat could have expired (a crashed
// predecessor with this id stops renewing; systemd restarts quicker than that), then
// ErrNodeInUse: another running process has this node id.
func (m *leaseManager) join(ctx context.Context) error {
	deadline := m.now().Add(m.ttl)
	for {
		_, err := m.st.Heartbeat(ctx, m.node, m.instance, m.addr, m.ttl-m.every/2)
		if !errors.Is(err, store.ErrNodeInUse) || !m.now().Before(deadline) {
			return err
		}
		t := time.NewTimer(m.every)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
