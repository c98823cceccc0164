package daemon

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ynagw/ynagw/admin"
	"github.com/ynagw/ynagw/metrics"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

func startDaemon(t *testing.T, opts Options) *Daemon {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	d, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		_ = d.Close(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(ctxT(t, 20*time.Second)); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return d
}

func TestDaemonLinkBackendDrain(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	dir := t.TempDir()
	key := testKey(t)
	opts := testOptions(t, sim, dir, key)
	opts.Admin = AdminOptions{Listen: "127.0.0.1:0"}
	d := startDaemon(t, opts)
	ctx := ctxT(t, 20*time.Second)
	b := d.Backend()

	if err := d.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	ls := b.Lines(ctx)
	if len(ls) != 1 || ls[0].MSISDN != tLine || ls[0].State != admin.LineUnlinked {
		t.Fatalf("lines before link: %+v", ls)
	}
	yc, err := yna.NewClient(ynaConfig(sim))
	if err != nil {
		t.Fatal(err)
	}
	defer yc.CloseIdleConnections()
	msisdn, err := b.CompleteLink(ctx, linkCode(t, yc), tRedirect)
	if err != nil || msisdn != tLine {
		t.Fatalf("CompleteLink %q %v", msisdn, err)
	}
	if _, err := sim.WaitChannel(ctx, tAccount, func(ci ynasim.ChannelInfo) bool { return ci.SocketsOpen > 0 }); err != nil {
		t.Fatalf("channel: %v", err)
	}
	// The channel state reaches the admin view through Gateway.ChannelState.
	tk := time.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	for ls = b.Lines(ctx); len(ls) != 1 || ls[0].Channel != "connected"; ls = b.Lines(ctx) {
		select {
		case <-tk.C:
		case <-ctx.Done():
			t.Fatalf("line channel never connected: %+v", ls)
		}
	}
	if ls[0].State != admin.LineLinked || ls[0].TokenExpiresAt.IsZero() || ls[0].LinkedAt.IsZero() {
		t.Errorf("lines after link: %+v", ls)
	}
	if l, err := d.Store().GetLine(ctx, tLine); err != nil || l.AccessToken == "" || l.State != store.LineLinked {
		t.Errorf("stored line %+v %v", l, err)
	}
	u, err := b.EmergencyAddressURL(ctx, tLine, "http://127.0.0.1/ok", "")
	if err != nil || u == "" {
		t.Errorf("E911 URL %q %v", u, err)
	}
	if err := b.Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
	if d.AdminAddr() == "" {
		t.Error("no admin address")
	}
	if calls := b.Calls(ctx); len(calls) != 0 {
		t.Errorf("calls %+v", calls)
	}

	done := make(chan struct{})
	go func() { defer close(done); d.Drain(ctx, 10*time.Second) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Drain without calls did not return")
	}
	if err := b.Ready(ctx); err == nil {
		t.Error("ready while draining")
	}
	if !d.Gateway().Draining() {
		t.Error("gateway not draining after Drain")
	}
	if up := gaugeValue(t, d, metrics.NameUp); up != 0 {
		t.Errorf("%s = %v while draining, want 0", metrics.NameUp, up)
	}

	if err := b.Unlink(ctx, tLine); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Store().GetLine(ctx, tLine); err == nil {
		t.Error("line still stored after unlink")
	}
}

// TestDaemonRecoversOrphans: open CDRs left by a crash are ended at YNA (DELETE /end)
// and closed as orphaned when the daemon starts.
func TestDaemonRecoversOrphans(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	if err := sim.SetNumberBehaviour("2065550123", ynasim.Behaviour{Kind: ynasim.BehaviourManual}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key := testKey(t)
	ctx := ctxT(t, 30*time.Second)
	yc, err := yna.NewClient(ynaConfig(sim))
	if err != nil {
		t.Fatal(err)
	}
	defer yc.CloseIdleConnections()
	tr, err := yc.ExchangeCode(ctx, linkCode(t, yc), tRedirect)
	if err != nil {
		t.Fatal(err)
	}
	// A call the crashed daemon had started.
	eng, err := rtpmedia.NewWebRTCEngine(rtpmedia.WebRTCConfig{AllowLoopback: true, ICEGatherTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	leg, err := eng.NewLeg([]rtpmedia.Codec{{Name: "PCMU", PayloadType: 0, ClockRate: 8000}})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	offer, err := leg.CreateOffer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := yc.Start(ctx, tr.AccessToken, yna.StartRequest{From: tLine, To: "12065550123", SDP: offer})
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, filepath.Join(dir, "ynagw.db"), key)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.PutLine(ctx, store.Line{MSISDN: tLine, AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, ExpiresAt: time.Now().Add(time.Hour)}))
	must(st.OpenCall(ctx, store.CDR{ID: "with-yna", Direction: store.Outbound, Line: tLine, SIPCallID: "s1", YNACallID: sr.CallID}))
	must(st.OpenCall(ctx, store.CDR{ID: "sip-only", Direction: store.Outbound, Line: tLine, SIPCallID: "s2"}))
	must(st.OpenCall(ctx, store.CDR{ID: "done", Direction: store.Inbound, Line: tLine}))
	must(st.CloseCall(ctx, "done", store.CallEnd{Result: "answered"}))
	must(st.Close())

	d := startDaemon(t, testOptions(t, sim, dir, key))
	if err := sim.WaitCallState(ctx, sr.CallID, ynasim.CallTerminated); err != nil {
		t.Fatalf("orphaned YNA call not ended: %v", err)
	}
	ci, _ := sim.Call(sr.CallID)
	if len(ci.EventsOf("rest", "end")) == 0 {
		t.Errorf("no DELETE /end: %+v", ci.Events)
	}
	for _, id := range []string{"with-yna", "sip-only"} {
		c, err := d.Store().GetCall(ctx, id)
		if err != nil || c.Open() || c.Result != ResultOrphaned || c.EndReason != ReasonRestart {
			t.Errorf("%s: %+v %v", id, c, err)
		}
	}
	if c, _ := d.Store().GetCall(ctx, "done"); c.Result != "answered" {
		t.Errorf("closed call touched: %+v", c)
	}
}

// TestNewFailsCleanly: a part that cannot be built releases what was built before it.
func TestNewFailsCleanly(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	dir := t.TempDir()
	key := testKey(t)
	cases := map[string]func(*Options){
		"bad store key": func(o *Options) { o.StoreKey = []byte("short") },
		"bad sip":       func(o *Options) { o.SIP.Listen[0].Network = "carrier-pigeon" },
		"bad yna":       func(o *Options) { o.YNA.BaseURL = "ftp://x" },
		"bad bridge":    func(o *Options) { o.Bridge.Lines[0].MSISDN = "12" },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			o := testOptions(t, sim, dir, key)
			mod(&o)
			d, err := New(ctxT(t, 10*time.Second), o)
			if err == nil {
				_ = d.Close(context.Background())
				t.Fatal("New succeeded")
			}
		})
	}
	// The store was closed each time: it opens again.
	st := openStore(t, filepath.Join(dir, "ynagw.db"), key)
	_ = st.Close()
}

// gaugeValue returns the value of the unlabelled gauge name from the daemon's registry.
func gaugeValue(t *testing.T, d *Daemon, name string) float64 {
	t.Helper()
	fams, err := d.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
