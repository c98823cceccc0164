package e2e

// Two ynagw processes behind a real Kamailio (configs/kamailio, issue 13): the
// dispatcher's OPTIONS probing follows each node's readiness, so a draining node
// leaves the rotation while its calls go on through the Record-Route.

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ynagw/ynagw/demo"
	"github.com/ynagw/ynagw/internal/kamailio"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna/ynasim"
)

const (
	clLine2    = "14255550199"
	clAccount2 = "dpacct2"
)

// secondNode is another installation against e's simulator, with its own line
// (clLine2 of account clAccount2, linked): the simulator sends an account's
// notifications to its newest channel socket only, so two nodes on one line would
// need the lease of issue 13 point 2.
func secondNode(t *testing.T, e *dpEnv) *dpEnv {
	t.Helper()
	if _, err := e.sim.AddAccount(ynasim.Account{ID: clAccount2, Lines: []string{clLine2}}); err != nil {
		t.Fatal(err)
	}
	e2 := &dpEnv{t: t, bin: e.bin, dir: t.TempDir(), sim: e.sim, cfg: e.cfg}
	pop, err := os.ReadFile(filepath.Join(e.dir, "pop.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e2.dir, "pop.pem"), pop, 0o600); err != nil {
		t.Fatal(err)
	}
	sk, err := store.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if e2.keyBytes, err = store.ParseKey(sk); err != nil {
		t.Fatal(err)
	}
	e2.cfg.StoreKey = sk
	e2.writeConfig()
	patchConfig(t, e2, `msisdn: "`+dpLine+`"`, `msisdn: "`+clLine2+`"`)
	ctx := dpCtx(t, 20*time.Second)
	tr := testenv.Link(t, testenv.NewClient(t, e.sim), clAccount2)
	st := e2.openStore()
	defer st.Close()
	if err := st.PutLine(ctx, store.Line{MSISDN: clLine2, AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken,
		ExpiresAt: time.Now().Add(tr.Lifetime())}); err != nil {
		t.Fatal(err)
	}
	return e2
}

// patchConfig replaces old by new in e's configuration file.
func patchConfig(t *testing.T, e *dpEnv, old, new string) {
	t.Helper()
	cfg, err := os.ReadFile(e.configPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), old) {
		t.Fatalf("%s has no %q", e.configPath(), old)
	}
	if err := os.WriteFile(e.configPath(), []byte(strings.Replace(string(cfg), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rtpRange gives node i its own RTP port range, away from the default one that
// other ynagw processes on this machine may be using.
func rtpRange(t *testing.T, e *dpEnv, i int) {
	t.Helper()
	lo := 23000 + 500*i
	patchConfig(t, e, "rtp:\n  bind_ip: 127.0.0.1\n", fmt.Sprintf("rtp:\n  bind_ip: 127.0.0.1\n  port_min: %d\n  port_max: %d\n", lo, lo+499))
}

// startSecond runs e2 (secondNode) and waits until its line's channel is open.
func startSecond(t *testing.T, e2 *dpEnv) *dpProc {
	t.Helper()
	p := startDaemon(t, e2.bin, e2.dir, e2.configPath())
	started := p.waitLog("ynagw started", 30*time.Second)
	ap, err := netip.ParseAddrPort(fmt.Sprint(started["sip_udp"]))
	if err != nil {
		t.Fatalf("sip_udp in %v: %v", started, err)
	}
	p.sip = ap
	if _, err := e2.sim.WaitChannel(dpCtx(t, 20*time.Second), clAccount2, func(ci ynasim.ChannelInfo) bool { return ci.SocketsOpen > 0 }); err != nil {
		t.Fatalf("node 2's notification channel did not open: %v", err)
	}
	return p
}

// dispatchedTo returns the node Kamailio last dispatched an INVITE of callID to.
func dispatchedTo(p *kamailio.Proxy, callID string) string {
	ms := regexp.MustCompile(`INVITE \S+ \(Call-ID `+regexp.QuoteMeta(callID)+`\) to node sip:(\S+)`).FindAllStringSubmatch(p.Log(), -1)
	if len(ms) == 0 {
		return ""
	}
	return ms[len(ms)-1][1]
}

// TestClusterKamailioDrain: two ynagw processes behind Kamailio. A phone registers
// and calls through the proxy; the node holding the call drains (SIGTERM): its
// OPTIONS answer 503 and the dispatcher takes it out within the probing interval;
// a new call goes to the other node, the first call keeps its media and ends with
// the phone's BYE through the Record-Route, after which the drained node exits 0
// with its CDR closed.
func TestClusterKamailioDrain(t *testing.T) {
	kamailio.Require(t)
	bin := buildYnagw(t, t.TempDir())
	e1 := newDPEnv(t, bin)
	e2 := secondNode(t, e1)
	envs := []*dpEnv{e1, e2}
	for i, e := range envs {
		rtpRange(t, e, i)
	}
	procs := []*dpProc{e1.start(), startSecond(t, e2)}
	nodes := []string{procs[0].sip.String(), procs[1].sip.String()}
	kam := kamailio.Start(t, kamailio.Options{Nodes: nodes, PingInterval: time.Second, FailoverTimeout: time.Second})
	for _, n := range nodes {
		kam.WaitNode(t, n, true, 15*time.Second) // 200 to OPTIONS: both ready (line linked, channel up)
	}

	ph, err := demo.NewPhone("201", "pw-201", dpDomain, kam.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ph.Close)
	ctx := dpCtx(t, 90*time.Second)
	if err := ph.Register(ctx); err != nil {
		t.Fatalf("REGISTER through Kamailio: %v", err)
	}

	c1, err := ph.Dial(ctx, dpFar, nil)
	if err != nil || c1.Code != 200 {
		t.Fatalf("call 1 through Kamailio: %v (code %d %s)", err, c1.Code, c1.Reason)
	}
	if err := c1.WaitReceived(ctx, 10); err != nil {
		t.Fatal(err)
	}
	id1, err := e1.sim.WaitCall(ctx, func(ci ynasim.CallInfo) bool {
		return ci.Direction == ynasim.DirectionOutbound && ci.State == ynasim.CallConnected
	})
	if err != nil {
		t.Fatal(err)
	}
	holder := -1
	for i, n := range nodes {
		if dispatchedTo(kam, c1.CallID) == n {
			holder = i
		}
	}
	if holder < 0 {
		t.Fatalf("Kamailio's log names no node for call 1 (%s)", c1.CallID)
	}
	other := 1 - holder
	t.Logf("call 1 on node %d (%s)", holder, nodes[holder])

	start := time.Now()
	procs[holder].signal(syscall.SIGTERM)
	procs[holder].waitLog("draining: new calls are refused", 10*time.Second)
	kam.WaitNode(t, nodes[holder], false, 10*time.Second)
	t.Logf("draining node out of rotation %v after SIGTERM (ping interval 1 s)", time.Since(start).Round(10*time.Millisecond))

	c2, err := ph.Dial(ctx, dpFar, nil)
	if err != nil || c2.Code != 200 {
		t.Fatalf("call 2 while node %d drains: %v (code %d %s)", holder, err, c2.Code, c2.Reason)
	}
	if got := dispatchedTo(kam, c2.CallID); got != nodes[other] {
		t.Errorf("call 2 dispatched to %q, want the other node %s", got, nodes[other])
	}
	if err := c2.WaitReceived(ctx, 10); err != nil {
		t.Fatal(err)
	}
	_, recv1, _ := c1.Counters()
	if err := c1.WaitReceived(ctx, recv1+25); err != nil {
		t.Errorf("call 1 lost its media while its node drains: %v", err)
	}

	if err := c1.Hangup(ctx); err != nil { // BYE through the Record-Route to the draining node
		t.Fatal(err)
	}
	if code := procs[holder].wait(30 * time.Second); code != 0 {
		t.Errorf("drained node exit code %d, want 0", code)
	}
	if err := e1.sim.WaitCallState(ctx, id1, ynasim.CallTerminated); err != nil {
		t.Errorf("sim call 1: %v", err)
	}
	kam.WaitLog(t, "in-dialog BYE from ", 5*time.Second)

	if err := c2.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	procs[other].signal(syscall.SIGTERM)
	if code := procs[other].wait(30 * time.Second); code != 0 {
		t.Errorf("node %d exit code %d, want 0", other, code)
	}
	for i, e := range envs {
		cdrs := e.cdrs()
		answered := 0
		for _, c := range cdrs {
			if c.Open() {
				t.Errorf("node %d: CDR left open: %+v", i, c)
			}
			if c.Result == "answered" {
				answered++
			}
		}
		if answered != 1 {
			t.Errorf("node %d: %d answered CDRs, want 1: %+v", i, answered, cdrs)
		}
	}
}
