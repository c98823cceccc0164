package daemon

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/internal/pgtest"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// TestClusterDaemons: two in-process daemons on one PostgreSQL store share the two
// linked lines out (each line's channel open exactly once at the simulator, on the
// node holding its lease); both are ready, /readyz's line detail names each line's
// owner, and a registration through one node is seen by the other.
func TestClusterDaemons(t *testing.T) {
	dsn := pgtest.NewDB(t)
	sim := testenv.NewSim(t, ynasim.Config{Accounts: []ynasim.Account{
		{ID: "acct1", Lines: []string{clLine1}}, {ID: "acct2", Lines: []string{clLine2}}}})
	key := testKey(t)
	ctx := ctxT(t, 60*time.Second)
	pg, err := store.OpenPostgres(ctx, dsn, key)
	if err != nil {
		t.Fatal(err)
	}
	yc := testenv.NewClient(t, sim)
	for line, acct := range map[string]string{clLine1: "acct1", clLine2: "acct2"} {
		tr := testenv.Link(t, yc, acct)
		if err := pg.PutLine(ctx, store.Line{MSISDN: line, AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken,
			ExpiresAt: time.Now().Add(tr.Lifetime())}); err != nil {
			t.Fatal(err)
		}
	}
	_ = pg.Close()
	node := func(id string) *Daemon {
		o := testOptions(t, sim, t.TempDir(), key)
		o.StoreDriver, o.StoreDSN = driverPostgres, dsn
		o.Cluster = ClusterOptions{NodeID: id, LeaseTTL: 3 * time.Second}
		o.Bridge.Lines = []bridge.LineConfig{{MSISDN: clLine1, Ring: []string{"201"}, Outbound: []string{"201"}},
			{MSISDN: clLine2, Ring: []string{"201"}, Outbound: []string{"201"}}}
		return startDaemon(t, o)
	}
	a := node("a")
	if got := a.leases.OwnedLines(); len(got) != 2 {
		t.Fatalf("a alone holds %v, want both lines", got)
	}
	b := node("b")
	tk := time.NewTicker(50 * time.Millisecond)
	defer tk.Stop()
	for len(a.leases.OwnedLines()) != 1 || len(b.leases.OwnedLines()) != 1 {
		select {
		case <-tk.C:
		case <-ctx.Done():
			t.Fatalf("not shared out: a %v, b %v", a.leases.OwnedLines(), b.leases.OwnedLines())
		}
	}
	for _, acct := range []string{"acct1", "acct2"} {
		if _, err := sim.WaitChannel(ctx, acct, func(ci ynasim.ChannelInfo) bool { return ci.SocketsOpen == 1 }); err != nil {
			t.Fatalf("%s: channel not open exactly once: %v", acct, err)
		}
	}
	for _, d := range []*Daemon{a, b} {
		if err := d.Backend().Ready(ctx); err != nil {
			t.Errorf("node %s not ready: %v", d.opts.Cluster.NodeID, err)
		}
	}
	// a's view: both lines, each with its owner; no channel-down time for b's line.
	aLine := a.leases.OwnedLines()[0]
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, lines := a.Backend().ReadyDetail(ctx, true)
		owners := map[string]string{}
		for _, l := range lines {
			owners[l.MSISDN] = l.Owner
			if l.MSISDN != aLine && !l.ChannelDownSince.IsZero() {
				t.Errorf("line %s held by b shows a channel down since %s on a", l.MSISDN, l.ChannelDownSince)
			}
		}
		other := clLine1
		if aLine == clLine1 {
			other = clLine2
		}
		if owners[aLine] == "a" && owners[other] == "b" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz owners on a = %v, want %s:a %s:b", owners, aLine, other)
		}
		<-tk.C
	}
	// The lines list (admin API, page, ynagw lines) names the same owners.
	for _, l := range a.Backend().Lines(ctx) {
		if want := map[bool]string{true: "a", false: "b"}[l.MSISDN == aLine]; l.Owner != want {
			t.Errorf("Lines() on a: line %s owner %q, want %q", l.MSISDN, l.Owner, want)
		}
	}
	// Shared registrations: a binding written through a is found through b's store.
	if err := (sipRegistrations{a.pg}).Put(ctx, sip.Contact{User: "201", URI: "sip:201@127.0.0.1:5999", Node: "a",
		Expires: time.Now().Add(time.Minute), Path: []string{"<sip:127.0.0.1:5060;lr>"}}); err != nil {
		t.Fatal(err)
	}
	cs, err := (sipRegistrations{b.pg}).Lookup(context.Background(), "201")
	if err != nil || len(cs) != 1 || cs[0].Node != "a" || len(cs[0].Path) != 1 {
		t.Fatalf("b's lookup = %+v %v; want a's binding with its Path", cs, err)
	}
}

// TestTakeoverOrphanEndRetried: the orphan of a dead node whose DELETE /end fails at
// takeover time (here: no token in the cache yet) is retried by the running gateway
// until the network takes it, not left in the store for the next start; its CDR is
// closed as orphaned, reason node stopped.
func TestTakeoverOrphanEndRetried(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	key := testKey(t)
	o := testOptions(t, sim, t.TempDir(), key)
	o.StoreDriver, o.StoreDSN = driverPostgres, pgtest.NewDB(t)
	o.Cluster = ClusterOptions{NodeID: "a", LeaseTTL: 3 * time.Second}
	d := startDaemon(t, o)
	LinkForTest(t, d, sim)
	ctx := ctxT(t, 30*time.Second)

	const far = "12065550123"
	if err := sim.SetNumberBehaviour(far, ynasim.Behaviour{Kind: ynasim.BehaviourManual}); err != nil {
		t.Fatal(err)
	}
	leg, err := testenv.NewEngine(t).NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	offer, err := leg.CreateOffer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := d.tokens.AccessToken(ctx, tLine)
	if err != nil {
		t.Fatal(err)
	}
	res, err := testenv.NewClient(t, sim).Start(ctx, tok, yna.StartRequest{From: tLine, To: far, SDP: offer})
	if err != nil {
		t.Fatal(err)
	}
	// The dead node's open call, and a cache without the line's token: the first
	// DELETE /end fails.
	if err := d.store.OpenCall(ctx, store.CDR{ID: "cdr-dead", Direction: store.Outbound, Line: tLine, YNACallID: res.CallID, Node: "dead"}); err != nil {
		t.Fatal(err)
	}
	d.tokens.SetToken(tLine, "")
	d.takeoverOrphans("dead", tLine)
	if err := sim.WaitCallState(ctx, res.CallID, ynasim.CallTerminated); err != nil {
		t.Fatalf("the orphan's DELETE /end was not retried: %v", err)
	}
	testenv.Eventually(t, 10*time.Second, "orphan CDR closed, pending end removed", func() bool {
		c, err := d.store.GetCall(ctx, "cdr-dead")
		es, err2 := d.pg.ListPendingEnds(ctx)
		return err == nil && err2 == nil && !c.Open() && c.Result == ResultOrphaned && c.EndReason == ReasonNodeLost && len(es) == 0
	})
}

// TestPreflightPostgres: check-config's store stage for driver postgres: a reachable
// database with this key passes; one created with another key names store.key; an
// unreachable server names the DSN option (dsn_env here); nothing is written.
func TestPreflightPostgres(t *testing.T) {
	dsn := pgtest.NewDB(t)
	load := func(t *testing.T, dsnLine string) error {
		dir := t.TempDir()
		y := validYAML(t, dir)
		if !strings.Contains(y, "  path: ynagw.db\n") {
			t.Fatal("validYAML has no store path line")
		}
		y = strings.Replace(y, "  path: ynagw.db\n", "  driver: postgres\n  "+dsnLine+"\n", 1)
		y = strings.Replace(y, "store:\n", "cluster:\n  node_id: pf\nstore:\n", 1)
		p := filepath.Join(dir, "ynagw.yaml")
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(p)
		if err != nil {
			return err
		}
		_, err = Preflight(ctxT(t, 20*time.Second), cfg)
		return err
	}
	fieldErr := func(t *testing.T, err error, path, words string) {
		t.Helper()
		var fe *config.FieldError
		if !errors.As(err, &fe) || fe.Path != path || !strings.Contains(fe.Msg, words) {
			t.Fatalf("err = %v; want a FieldError at %s with %q", err, path, words)
		}
	}
	t.Run("valid", func(t *testing.T) {
		if err := load(t, "dsn: "+dsn); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("another key", func(t *testing.T) {
		other := make([]byte, 32)
		other[0] = 7
		pg, err := store.OpenPostgres(ctxT(t, 10*time.Second), dsn, other)
		if err != nil {
			t.Fatal(err)
		}
		_ = pg.Close()
		fieldErr(t, load(t, "dsn: "+dsn), "store.key", "another key")
	})
	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := l.Addr().String()
		_ = l.Close()
		t.Setenv("YNAGW_TEST_PF_DSN", "postgres://u:pw@"+closed+"/x?sslmode=disable&connect_timeout=2")
		err = load(t, "dsn_env: YNAGW_TEST_PF_DSN")
		fieldErr(t, err, "store.dsn_env", "cannot use the postgres database")
		if strings.Contains(err.Error(), ":pw@") {
			t.Errorf("the error shows the DSN's password: %v", err)
		}
	})
}

// TestClusterNodeIDInUse: a second daemon started with the node id of a running one
// is refused at Start (after waiting a lease TTL for the id's heartbeat to lapse, as a
// crashed predecessor's would) with an error naming the option (both would hold the
// same leases and open every line's channel twice); the running one keeps its lines.
func TestClusterNodeIDInUse(t *testing.T) {
	dsn := pgtest.NewDB(t)
	sim := newSim(t, ynasim.Config{})
	key := testKey(t)
	opts := func() Options {
		o := testOptions(t, sim, t.TempDir(), key)
		o.StoreDriver, o.StoreDSN = driverPostgres, dsn
		o.Cluster = ClusterOptions{NodeID: "same", LeaseTTL: 3 * time.Second}
		return o
	}
	a := startDaemon(t, opts())
	LinkForTest(t, a, sim)
	ctx := ctxT(t, 20*time.Second)
	b, err := New(ctx, opts())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close(context.Background()) }()
	err = b.Start(ctx)
	if !errors.Is(err, store.ErrNodeInUse) || !strings.Contains(err.Error(), "cluster.node_id") {
		t.Fatalf("second daemon with the same node id: Start = %v, want ErrNodeInUse naming cluster.node_id", err)
	}
	if got := b.leases.OwnedLines(); len(got) != 0 {
		t.Fatalf("refused daemon holds %v", got)
	}
	testenv.Eventually(t, 10*time.Second, "the running node holds the line", func() bool { return a.leases.Owns(tLine) })
}
