package daemon

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/pgtest"
	"github.com/ynagw/ynagw/store"
	"go.uber.org/zap/zaptest"
)

// fakeGate records which channels a lease manager holds open.
type fakeGate struct {
	mu   sync.Mutex
	open map[string]bool
	log  []string
}

func (g *fakeGate) OpenChannel(_ context.Context, line string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil {
		g.open = map[string]bool{}
	}
	g.open[line] = true
	g.log = append(g.log, "open "+line)
	return nil
}

func (g *fakeGate) CloseChannel(line string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.open, line)
	g.log = append(g.log, "close "+line)
}

func (g *fakeGate) isOpen(line string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open[line]
}

func (g *fakeGate) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.open)
}

// failingStore fails every lease request while fail is set (PostgreSQL unreachable).
type failingStore struct {
	*store.Postgres
	mu   sync.Mutex
	fail bool
}

var errDown = errors.New("postgres unreachable")

func (f *failingStore) down() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.fail }

func (f *failingStore) AcquireLease(ctx context.Context, m, h, a string, ttl time.Duration) (store.Lease, bool, error) {
	if f.down() {
		return store.Lease{}, false, errDown
	}
	return f.Postgres.AcquireLease(ctx, m, h, a, ttl)
}

func (f *failingStore) Heartbeat(ctx context.Context, n, i, a string, ttl time.Duration) ([]store.Node, error) {
	if f.down() {
		return nil, errDown
	}
	return f.Postgres.Heartbeat(ctx, n, i, a, ttl)
}

func (f *failingStore) Lines(ctx context.Context) ([]store.Line, error) {
	if f.down() {
		return nil, errDown
	}
	return f.Postgres.Lines(ctx)
}

const (
	clLine1 = "14255550100"
	clLine2 = "14255550111"
)

func clusterStore(t *testing.T) *store.Postgres {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	pg, err := store.OpenPostgres(ctx, pgtest.NewDB(t), testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Close() })
	for _, l := range []string{clLine1, clLine2} {
		if err := pg.PutLine(ctx, store.Line{MSISDN: l, AccessToken: "at-" + l, RefreshToken: "rt"}); err != nil {
			t.Fatal(err)
		}
	}
	return pg
}

func newTestManager(t *testing.T, st leaseStore, node string, ttl time.Duration) (*leaseManager, *fakeGate, *[]string) {
	g := &fakeGate{}
	m := newLeaseManager(st, g, ClusterOptions{NodeID: node, SIPAddress: node + ":5060", LeaseTTL: ttl}, zaptest.NewLogger(t).Named(node))
	var mu sync.Mutex
	var takeovers []string
	m.onTakeover = func(prev, line string) {
		mu.Lock()
		takeovers = append(takeovers, prev+" "+line)
		mu.Unlock()
	}
	return m, g, &takeovers
}

// tickUntil ticks the managers (each once per round, like their loops) until cond
// holds; it fails after deadline.
func tickUntil(t *testing.T, deadline time.Duration, what string, cond func() bool, ms ...*leaseManager) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > deadline {
			t.Fatalf("%s: not within %s", what, deadline)
		}
		round := time.Now()
		for _, m := range ms {
			m.tick(context.Background())
		}
		if cond() {
			return time.Since(start)
		}
		if d := ms[0].every - time.Since(round); d > 0 {
			time.Sleep(d) // the managers' own period: the lease clock is what is under test
		}
	}
}

// TestLeaseShareTakeoverDrain: one node takes both lines; a second node joining gets
// one by rebalancing (each channel open on exactly one node); when the first stops
// renewing (dead) the second takes its line within TTL + one period and is told whose
// calls are orphans; a drain hands the lines over as a release (no orphans).
func TestLeaseShareTakeoverDrain(t *testing.T) {
	pg := clusterStore(t)
	const ttl = 3 * time.Second
	a, ga, _ := newTestManager(t, pg, "a", ttl)
	b, gb, bTakeovers := newTestManager(t, pg, "b", ttl)
	var omu sync.Mutex
	bOwned := map[string]bool{} // b's ynagw_line_owned series
	b.onOwned = func(line string, owned bool) { omu.Lock(); bOwned[line] = owned; omu.Unlock() }

	a.tick(context.Background())
	if ga.count() != 2 {
		t.Fatalf("a alone opened %v, want both lines", ga.open)
	}
	tickUntil(t, 5*ttl, "one line each", func() bool { return ga.count() == 1 && gb.count() == 1 }, a, b)
	omu.Lock()
	if len(bOwned) != 2 {
		t.Errorf("b's line_owned series = %v, want one per linked line (0 for a's)", bOwned)
	}
	omu.Unlock()
	for _, l := range []string{clLine1, clLine2} {
		if ga.isOpen(l) == gb.isOpen(l) {
			t.Fatalf("line %s open on a: %v, on b: %v; want exactly one", l, ga.isOpen(l), gb.isOpen(l))
		}
	}
	if len(*bTakeovers) != 0 {
		t.Fatalf("rebalance counted as takeover from a dead node: %v", *bTakeovers)
	}

	// a dies: it stops ticking. b takes a's line within the TTL plus one period.
	aLine := a.OwnedLines()[0]
	took := tickUntil(t, 3*ttl, "takeover", func() bool { return gb.count() == 2 }, b)
	if took > ttl+b.every+time.Second {
		t.Errorf("takeover after %s, want at most TTL %s + period %s (+1s slack)", took, ttl, b.every)
	}
	t.Logf("takeover of %s after the last renewal: %s", aLine, took)
	if len(*bTakeovers) != 1 || (*bTakeovers)[0] != "a "+aLine {
		t.Fatalf("takeovers = %v, want [a %s]", *bTakeovers, aLine)
	}
	// a comes back: its renewal is refused, so it closes its stale channel at once.
	a.tick(context.Background())
	if ga.count() != 0 {
		t.Fatalf("a kept %v open after b took its line", ga.open)
	}

	// b drains: releases both; a (alone again) takes them as a handover, not as orphans.
	var aTakeovers []string
	a.onTakeover = func(prev, line string) { aTakeovers = append(aTakeovers, prev) }
	b.drain(context.Background())
	if gb.count() != 0 {
		t.Fatalf("b still has %v open after drain", gb.open)
	}
	b.tick(context.Background()) // b's loop runs on while its calls drain: it must not count as live
	a.tick(context.Background())
	if ga.count() != 2 || len(aTakeovers) != 0 {
		t.Fatalf("after b's drain a has %v open, takeovers %v; want both lines, no orphans", ga.open, aTakeovers)
	}
}

// TestLeaseLostWhileStoreDown: a node that cannot reach PostgreSQL closes its
// channels before its lease can end, so no other node's channel overlaps its own.
func TestLeaseLostWhileStoreDown(t *testing.T) {
	pg := clusterStore(t)
	const ttl = 3 * time.Second
	fs := &failingStore{Postgres: pg}
	a, ga, _ := newTestManager(t, fs, "a", ttl)
	errs := 0
	a.onError = func() { errs++ }
	a.tick(context.Background())
	if ga.count() != 2 {
		t.Fatalf("a opened %v, want both", ga.open)
	}
	leases, err := pg.Leases(context.Background())
	if err != nil || len(leases) != 2 {
		t.Fatal(leases, err)
	}
	fs.mu.Lock()
	fs.fail = true
	fs.mu.Unlock()
	tickUntil(t, 2*ttl, "channels closed", func() bool { return ga.count() == 0 }, a)
	now, err := pg.DBNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		if !now.Before(l.ExpiresAt) {
			t.Errorf("line %s: channel closed at %s, after its lease ended at %s", l.MSISDN, now, l.ExpiresAt)
		}
	}
	if errs == 0 {
		t.Error("no lease error counted")
	}
}

// refusingGate cannot open channels (the line is unknown to this node's gateway).
type refusingGate struct{ fakeGate }

func (g *refusingGate) OpenChannel(context.Context, string) error {
	return errors.New("line not known")
}

// TestLeaseReleasedWhenChannelFails: a node that takes a line but cannot open its
// channel releases the lease at once (as a handover, no orphans); a line left free
// for a whole round goes to a node beyond its share, so it does not stay deaf.
func TestLeaseReleasedWhenChannelFails(t *testing.T) {
	pg := clusterStore(t)
	g := &refusingGate{}
	a := newLeaseManager(pg, g, ClusterOptions{NodeID: "a", LeaseTTL: time.Minute}, zaptest.NewLogger(t))
	a.tick(context.Background())
	if got := a.OwnedLines(); len(got) != 0 {
		t.Fatalf("a holds %v without channels", got)
	}
	b, gb, takeovers := newTestManager(t, pg, "b", time.Minute)
	b.tick(context.Background()) // its share (a counts as live): one line
	if gb.count() != 1 {
		t.Fatalf("b's first round opened %v, want its share, one line", gb.open)
	}
	a.tick(context.Background()) // a takes the other and hands it on again
	b.tick(context.Background()) // the line stayed free a whole round: b takes it too
	if gb.count() != 2 || len(*takeovers) != 0 {
		t.Fatalf("b opened %v (takeovers %v), want both lines as a handover", gb.open, *takeovers)
	}
}

// TestLeaseReleasedWhenUnlinked: a line that is no longer linked (needs a relink,
// unlinked on another node) is given up by its holder: channel closed, lease free.
func TestLeaseReleasedWhenUnlinked(t *testing.T) {
	pg := clusterStore(t)
	a, ga, _ := newTestManager(t, pg, "a", time.Minute)
	ctx := context.Background()
	a.tick(ctx)
	if ga.count() != 2 {
		t.Fatalf("a opened %v, want both", ga.open)
	}
	if err := pg.MarkNeedsRelink(ctx, clLine2, "test"); err != nil {
		t.Fatal(err)
	}
	a.tick(ctx)
	if ga.isOpen(clLine2) || !ga.isOpen(clLine1) || a.Owns(clLine2) {
		t.Fatalf("after the relink mark: open %v, owns %v; want only %s", ga.open, a.OwnedLines(), clLine1)
	}
	ls, err := pg.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.MSISDN == clLine2 && l.Holder != "" {
			t.Errorf("lease of the unlinked line still held by %q", l.Holder)
		}
	}
}
