package e2e

// Clustered mode with real parts (issue 13): a real PostgreSQL server
// (internal/pgtest), a real Kamailio (configs/kamailio via internal/kamailio) and
// two ynagw processes sharing the database, two lines linked. Each node holds one
// line's lease; phones register through Kamailio (the shared registrations carry
// Kamailio's Path, so any node rings any phone through the proxy).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/ynagw/ynagw/demo"
	"github.com/ynagw/ynagw/internal/kamailio"
	"github.com/ynagw/ynagw/internal/pgtest"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

const (
	cfLine1, cfAcct1 = "14255550100", "cfacct1"
	cfLine2, cfAcct2 = "14255550111", "cfacct2"
	// cfTakeoverTarget is the bound from a node's death to its lines'
	// channels open on another node, with the default lease TTL (6 s).
	cfTakeoverTarget = 10 * time.Second
)

var cfTemplate = template.Must(template.New("cfg").Parse(`sip:
  domain: ` + dpDomain + `
  listen:
    - transport: udp
      bind: {{.Bind}}
  digest_algorithms: [MD5]
rtp:
  bind_ip: 127.0.0.1
  port_min: {{.PortMin}}
  port_max: {{.PortMax}}
webrtc:
  allow_loopback: true
  ice_gather_timeout: 2s
yna:
  base_url: {{.SimURL}}
  client_id: ` + dpClientID + `
  client_secret: ` + dpSecret + `
  pop_key_file: pop.pem
  redirect_uri: ` + dpRedirect + `
lines:
  - msisdn: "` + cfLine1 + `"
    ring: ["201"]
    outbound: ["201", "alice"]
  - msisdn: "` + cfLine2 + `"
    ring: ["202"]
    outbound: ["202"]
users:
  - username: "201"
    password: pw-201
  - username: "202"
    password: pw-202
  - username: alice
    password: alicepw
timers:
  ring_timeout: 15s
  setup_timeout: 20s
  drain_timeout: 30s
  hangup_timeout: 3s
  rest_timeout: 10s
store:
  driver: postgres
  dsn_env: YNAGW_TEST_DSN
  key: {{.StoreKey}}
cluster:
  node_id: {{.Node}}
admin:
  listen: 127.0.0.1:0
log:
  level: info
  format: json
`))

// cfCluster is the shared part: simulator, database, key, binary.
type cfCluster struct {
	t   *testing.T
	bin string
	sim *ynasim.Sim
	dsn string
	key []byte
	sk  string
}

// cfNode is one ynagw process of the cluster.
type cfNode struct {
	id  string
	dir string
	p   *dpProc
}

// start runs node id with its SIP listener on bind ("127.0.0.1:0": any port); node-a
// relays RTP on 25000-25499, any other id on 25500-25999.
func (c *cfCluster) start(id, bind string) *cfNode {
	c.t.Helper()
	// Each node id its own RTP port range (the default one is shared by every ynagw on
	// the host: the two nodes, and other tests running at the same time, ran out of it).
	lo := 25000
	if id != "node-a" {
		lo = 25500
	}
	n := &cfNode{id: id, dir: c.t.TempDir()}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		c.t.Fatal(err)
	}
	pem, err := yna.MarshalPrivateKeyPEM(testenv.AppKey())
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.dir, "pop.pem"), pem, 0o600); err != nil {
		c.t.Fatal(err)
	}
	var b strings.Builder
	if err := cfTemplate.Execute(&b, map[string]string{"SimURL": c.sim.URL(), "StoreKey": c.sk, "Node": id, "Bind": bind,
		"PortMin": strconv.Itoa(lo), "PortMax": strconv.Itoa(lo + 499)}); err != nil {
		c.t.Fatal(err)
	}
	cfg := filepath.Join(n.dir, "ynagw.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.t.Setenv("YNAGW_TEST_DSN", c.dsn) // inherited by the process
	n.p = startDaemon(c.t, c.bin, n.dir, cfg)
	started := n.p.waitLog("ynagw started", 30*time.Second)
	ap, err := netip.ParseAddrPort(fmt.Sprint(started["sip_udp"]))
	if err != nil {
		c.t.Fatalf("sip_udp in %v: %v", started, err)
	}
	n.p.sip = ap
	return n
}

// admin is the node's admin listener address (from its log).
func (n *cfNode) admin() string {
	m := n.p.findLog("admin listening")
	if m == nil {
		return ""
	}
	return fmt.Sprint(m["addr"])
}

// owned is the set of lines n holds by its log: the last "line taken" / "line
// released" / "line given up" of each line.
func (n *cfNode) owned() map[string]bool {
	n.p.logsMu.Lock()
	defer n.p.logsMu.Unlock()
	out := map[string]bool{}
	for _, m := range n.p.logs {
		line, _ := m["line"].(string)
		switch m["msg"] {
		case "line taken":
			out[line] = true
		case "line released", "line given up":
			delete(out, line)
		}
	}
	return out
}

// waitOwned waits until n's log says it holds line (or not).
func (n *cfNode) waitOwned(t *testing.T, line string, want bool, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for n.owned()[line] != want {
		select {
		case <-n.p.wake:
		case <-n.p.done:
			if n.owned()[line] == want {
				return
			}
			t.Fatalf("node %s exited before its ownership of %s became %v", n.id, line, want)
		case <-deadline:
			t.Fatalf("node %s: ownership of %s not %v within %s (owns %v)", n.id, line, want, d, n.owned())
		}
	}
}

// seed links both accounts through the real link flow into the shared store.
func (c *cfCluster) seed() {
	c.t.Helper()
	ctx := dpCtx(c.t, 30*time.Second)
	pg, err := store.OpenPostgres(ctx, c.dsn, c.key)
	if err != nil {
		c.t.Fatal(err)
	}
	defer pg.Close()
	yc := testenv.NewClient(c.t, c.sim)
	for _, x := range []struct{ line, acct string }{{cfLine1, cfAcct1}, {cfLine2, cfAcct2}} {
		tr := testenv.Link(c.t, yc, x.acct)
		if err := pg.PutLine(ctx, store.Line{MSISDN: x.line, AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken,
			ExpiresAt: time.Now().Add(tr.Lifetime())}); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *cfCluster) cdrs() []store.CDR {
	c.t.Helper()
	ctx := dpCtx(c.t, 10*time.Second)
	pg, err := store.OpenPostgres(ctx, c.dsn, c.key)
	if err != nil {
		c.t.Fatal(err)
	}
	defer pg.Close()
	cs, err := pg.CDRs(ctx, store.CDRFilter{})
	if err != nil {
		c.t.Fatal(err)
	}
	return cs
}

// sockets returns the open notification sockets and all sockets ever opened of acct.
func (c *cfCluster) sockets(acct string) (open, opened int) {
	ci, err := c.sim.Channel(acct)
	if err != nil {
		c.t.Fatal(err)
	}
	return ci.SocketsOpen, ci.SocketsOpened
}

// inboundCall injects a network call to line and waits until ph rang and answered
// it, media flowing; it returns the phone's call and the simulator's call id.
func (c *cfCluster) inboundCall(ctx context.Context, line string, ph *demo.Phone) (*demo.Call, string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a call rings in well under a second
	defer cancel()
	id, err := c.sim.InjectCall(ctx, line, dpFar)
	if err != nil {
		c.t.Fatal(err)
	}
	var call *demo.Call
	select {
	case call = <-ph.Incoming():
	case <-ctx.Done():
		c.t.Fatalf("inbound call to %s did not ring the phone: %v", line, ctx.Err())
	}
	if err := c.sim.WaitCallState(ctx, id, ynasim.CallConnected); err != nil {
		c.t.Fatalf("inbound call to %s not connected: %v", line, err)
	}
	if err := call.WaitReceived(ctx, 10); err != nil {
		c.t.Fatalf("inbound call to %s: no media at the phone: %v", line, err)
	}
	return call, id
}

// newCFCluster starts a private PostgreSQL (skipping without one), a simulator with
// both accounts and links them into a fresh database; it builds the binary.
func newCFCluster(t *testing.T) *cfCluster {
	t.Helper()
	pgtest.Require(t) // skips, or fails in CI
	startCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	srv, err := pgtest.Start(startCtx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	dsn, err := srv.CreateDB(dpCtx(t, 20*time.Second), "cluster")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := store.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := store.ParseKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	c := &cfCluster{t: t, bin: buildYnagw(t, t.TempDir()), dsn: dsn, key: key, sk: sk,
		sim: testenv.NewSim(t, ynasim.Config{Accounts: []ynasim.Account{
			{ID: cfAcct1, Lines: []string{cfLine1}}, {ID: cfAcct2, Lines: []string{cfLine2}}}})}
	c.sim.SetFarEndConfig(farend.Config{AllowLoopback: true})
	c.seed()
	return c
}

// TestClusterFailover: two ynagw nodes on one PostgreSQL behind Kamailio, two lines.
//  1. The nodes share the lines out (one lease each); phones register through
//     Kamailio; an inbound call to each line rings its phone through the node that
//     holds the line; outbound calls of a line through Kamailio go out on both
//     nodes, the one holding the line's lease and the other.
//  2. SIGKILL of one node: within 10 s the other holds both leases and has the dead
//     node's line's channel open (ynasim sees the new socket); the dead node's call
//     is ended at the network and its CDR closed as orphaned; the survivor's call
//     keeps its media; a new inbound call to the taken-over line rings its phone.
//  3. The dead node restarts and gets a line back; SIGTERM of the survivor (a drain)
//     moves its lines to the restarted node within one lease period while its
//     established call keeps media and then ends normally; it exits 0.
//  4. Every CDR is present and closed; ynasim has no call left up.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PostgreSQL, Kamailio and two ynagw processes")
	}
	kamailio.Require(t) // skips, or fails in CI
	c := newCFCluster(t)
	ctx := dpCtx(t, 120*time.Second)

	// 1. Two nodes, one line each.
	a := c.start("node-a", "127.0.0.1:0")
	a.waitOwned(t, cfLine1, true, 15*time.Second)
	a.waitOwned(t, cfLine2, true, 15*time.Second) // alone: both lines
	b := c.start("node-b", "127.0.0.1:0")
	deadline := time.Now().Add(20 * time.Second)
	for len(a.owned()) != 1 || len(b.owned()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("lines not shared out: a owns %v, b owns %v", a.owned(), b.owned())
		}
		select { // either node's log moves on
		case <-a.p.wake:
		case <-b.p.wake:
		case <-time.After(time.Second):
		}
	}
	for _, acct := range []string{cfAcct1, cfAcct2} {
		if _, err := c.sim.WaitChannel(ctx, acct, func(ci ynasim.ChannelInfo) bool { return ci.SocketsOpen == 1 }); err != nil {
			t.Fatalf("%s: channel not open exactly once: %v", acct, err)
		}
	}
	kam := kamailio.Start(t, kamailio.Options{Nodes: []string{a.p.sip.String(), b.p.sip.String()}})
	kam.WaitNode(t, a.p.sip.String(), true, 15*time.Second)
	kam.WaitNode(t, b.p.sip.String(), true, 15*time.Second)
	phones := map[string]*demo.Phone{}
	for line, user := range map[string]string{cfLine1: "201", cfLine2: "202"} {
		ph, err := demo.NewPhone(user, "pw-"+user, dpDomain, kam.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ph.Close)
		if err := ph.Register(ctx); err != nil {
			t.Fatalf("REGISTER %s through Kamailio: %v", user, err)
		}
		phones[line] = ph
	}

	// Outbound calls through Kamailio on line 1 until each node has placed one: any
	// node places a line's calls, whoever holds its lease (the dispatcher hashes the
	// Call-ID, so which node gets a call is random).
	outbound := map[string]string{} // network call id → node that placed it
	placedBy := map[string]bool{}
	for i := 0; i < 12 && len(placedBy) < 2; i++ {
		oc, err := phones[cfLine1].Dial(ctx, dpFar, nil)
		if err != nil || oc.Code != 200 {
			t.Fatalf("outbound call through Kamailio: %v (code %d %s)", err, oc.Code, oc.Reason)
		}
		if err := oc.WaitReceived(ctx, 10); err != nil {
			t.Fatal(err)
		}
		id, err := c.sim.WaitCall(ctx, func(ci ynasim.CallInfo) bool {
			return ci.Direction == ynasim.DirectionOutbound && ci.State == ynasim.CallConnected
		})
		if err != nil {
			t.Fatal(err)
		}
		node := a.id
		if dispatchedTo(kam, oc.CallID) == b.p.sip.String() {
			node = b.id
		}
		outbound[id], placedBy[node] = node, true
		if err := oc.Hangup(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.sim.WaitCallState(ctx, id, ynasim.CallTerminated); err != nil {
			t.Fatal(err)
		}
	}
	if len(placedBy) < 2 {
		t.Errorf("12 outbound calls all went to %v", placedBy)
	}
	t.Logf("%d outbound calls of line 1 through Kamailio, placed by %v (line 1 held by %v)", len(outbound), placedBy,
		map[bool]string{true: a.id, false: b.id}[a.owned()[cfLine1]])

	victim, survivor := a, b
	vLine, sLine := cfLine1, cfLine2
	if a.owned()[cfLine2] {
		vLine, sLine = cfLine2, cfLine1
	}
	vAcct := cfAcct1
	if vLine == cfLine2 {
		vAcct = cfAcct2
	}
	vCall, vID := c.inboundCall(ctx, vLine, phones[vLine])
	sCall, sID := c.inboundCall(ctx, sLine, phones[sLine])
	t.Logf("node-a holds %s (call %s), node-b holds %s (call %s)", vLine, vID, sLine, sID)
	// 2. SIGKILL the victim.
	_, openedBefore := c.sockets(vAcct)
	killed := time.Now()
	victim.p.signal(syscall.SIGKILL)
	victim.p.wait(10 * time.Second)
	if _, err := c.sim.WaitChannel(ctx, vAcct, func(ci ynasim.ChannelInfo) bool {
		return ci.SocketsOpen == 1 && ci.SocketsOpened > openedBefore
	}); err != nil {
		t.Fatalf("the dead node's line %s got no new channel: %v", vLine, err)
	}
	takeover := time.Since(killed)
	survivor.waitOwned(t, vLine, true, 5*time.Second)
	t.Logf("takeover of %s: channel open on the survivor %s after SIGKILL (target %s)", vLine, takeover.Round(10*time.Millisecond), cfTakeoverTarget)
	if takeover > cfTakeoverTarget {
		t.Errorf("takeover took %s, target %s", takeover, cfTakeoverTarget)
	}
	// The survivor's /readyz JSON says ready and names it as the owner of both lines,
	// their channels connected (read until so, within 5 s: the channel state follows
	// the socket).
	type readyz struct {
		Ready bool `json:"ready"`
		Lines []struct {
			Name, Owner, Channel string
		} `json:"lines"`
	}
	rzDeadline := time.Now().Add(5 * time.Second)
	for {
		var rz readyz
		if err := json.Unmarshal([]byte(httpGet(t, "http://"+survivor.admin()+"/readyz?format=json")), &rz); err != nil {
			t.Fatal(err)
		}
		good := rz.Ready && len(rz.Lines) == 2
		for _, l := range rz.Lines {
			good = good && l.Owner == survivor.id && l.Channel == "connected"
		}
		if good {
			break
		}
		if time.Now().After(rzDeadline) {
			t.Errorf("survivor /readyz = %+v, want ready, both lines owned by %s and connected", rz, survivor.id)
			break
		}
		select { // the survivor's log moves with its channels
		case <-survivor.p.wake:
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := c.sim.WaitCallState(ctx, vID, ynasim.CallTerminated); err != nil {
		t.Errorf("the dead node's network call %s was not ended: %v", vID, err)
	}
	_ = vCall // its phone leg died with the node (no BYE from a SIGKILLed process)
	_, recv, _ := sCall.Counters()
	if err := sCall.WaitReceived(ctx, recv+50); err != nil {
		t.Errorf("the survivor's call lost media after the kill: %v", err)
	}
	nCall, nID := c.inboundCall(ctx, vLine, phones[vLine])
	t.Logf("new inbound call %s to the taken-over line rang its phone", nID)
	if err := nCall.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.sim.WaitCallState(ctx, nID, ynasim.CallTerminated); err != nil {
		t.Errorf("call %s after hangup: %v", nID, err)
	}

	// 3. The victim comes back and gets a line; the survivor drains.
	back := c.start(victim.id, victim.p.sip.String()) // its place in Kamailio's dispatcher list
	kam.WaitNode(t, back.p.sip.String(), true, 15*time.Second)
	deadline = time.Now().Add(20 * time.Second)
	for len(back.owned()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("restarted node got no line back: owns %v, survivor %v", back.owned(), survivor.owned())
		}
		select {
		case <-back.p.wake:
		case <-time.After(time.Second):
		}
	}
	moving := survivor.owned() // what the drain hands over
	opened := map[string]int{}
	for _, acct := range []string{cfAcct1, cfAcct2} {
		_, opened[acct] = c.sockets(acct)
	}
	drained := time.Now()
	survivor.p.signal(syscall.SIGTERM)
	back.waitOwned(t, sLine, true, 10*time.Second)
	back.waitOwned(t, vLine, true, 10*time.Second)
	t.Logf("drain: the restarted node holds both lines %s after SIGTERM (moved %v)", time.Since(drained).Round(10*time.Millisecond), moving)
	for line := range moving {
		acct := cfAcct1
		if line == cfLine2 {
			acct = cfAcct2
		}
		if _, err := c.sim.WaitChannel(ctx, acct, func(ci ynasim.ChannelInfo) bool {
			return ci.SocketsOpen == 1 && ci.SocketsOpened > opened[acct]
		}); err != nil {
			t.Errorf("drained line %s got no channel on the other node: %v", line, err)
		}
	}
	if m := back.p.findLog("line taken from a node that stopped renewing"); m != nil && m["node"] == survivor.id {
		t.Errorf("a drain was handled as a dead node: %v", m)
	}
	_, recv, _ = sCall.Counters()
	if err := sCall.WaitReceived(ctx, recv+25); err != nil {
		t.Errorf("the draining node's call lost media: %v", err)
	}
	if err := sCall.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if code := survivor.p.wait(30 * time.Second); code != 0 {
		t.Errorf("drained node exit code %d, want 0", code)
	}
	if err := c.sim.WaitCallState(ctx, sID, ynasim.CallTerminated); err != nil {
		t.Errorf("drained node's call %s: %v", sID, err)
	}
	back.p.signal(syscall.SIGTERM)
	if code := back.p.wait(30 * time.Second); code != 0 {
		t.Errorf("node %s exit code %d, want 0", back.id, code)
	}

	// 4. Every CDR closed, the dead node's as orphaned; no network call up.
	cdrs := c.cdrs()
	byYNA := map[string]store.CDR{}
	for _, r := range cdrs {
		if r.Open() {
			t.Errorf("CDR left open: %+v", r)
		}
		byYNA[r.YNACallID] = r
	}
	for id, node := range outbound {
		if r := byYNA[id]; r.Result != "answered" || r.Node != node {
			t.Errorf("outbound call %s: result %q node %q, want answered on %s", id, r.Result, r.Node, node)
		}
	}
	for _, id := range []string{vID, sID, nID} {
		if _, ok := byYNA[id]; !ok {
			t.Errorf("no CDR of network call %s (CDRs %+v)", id, cdrs)
		}
	}
	if r := byYNA[vID]; r.Result != "orphaned" || r.Node != victim.id {
		t.Errorf("the dead node's call: result %q node %q, want orphaned on %s", r.Result, r.Node, victim.id)
	}
	if r := byYNA[sID]; r.Result != "answered" || r.Node != survivor.id {
		t.Errorf("the survivor's call: result %q node %q, want answered on %s", r.Result, r.Node, survivor.id)
	}
	for _, ci := range c.sim.Calls() {
		if ci.State != ynasim.CallTerminated {
			t.Errorf("network call %s left %s", ci.ID, ci.State)
		}
	}
}
