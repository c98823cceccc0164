package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/internal/pgtest"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/store"
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
