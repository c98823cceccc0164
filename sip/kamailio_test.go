package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/ynagw/ynagw/internal/kamailio"
)

// kamCluster is two Servers sharing one registration store behind a real
// Kamailio (configs/kamailio/kamailio.cfg), each answering calls with a
// controlledApp.
type kamCluster struct {
	nodes []*Server
	apps  []*controlledApp
	ids   []string
	p     *kamailio.Proxy
}

func newKamCluster(t *testing.T, o kamailio.Options, mods ...func(i int, c *Config)) *kamCluster {
	t.Helper()
	kamailio.Require(t)
	shared := NewMemoryRegistrations()
	k := &kamCluster{ids: []string{"a", "b"}}
	for i, id := range k.ids {
		s := newTestServer(t, func(c *Config) {
			c.Registrations, c.NodeID = shared, id
			for _, m := range mods {
				m(i, c)
			}
		})
		app := &controlledApp{dialogs: make(chan *Dialog, 4)}
		s.SetHandler(app)
		k.nodes, k.apps = append(k.nodes, s), append(k.apps, app)
		o.Nodes = append(o.Nodes, s.Addr("udp").String())
	}
	k.p = kamailio.Start(t, o)
	for _, n := range o.Nodes {
		k.p.WaitNode(t, n, true, 10*time.Second)
	}
	return k
}

// hdr returns the values of header name of m.
func hdrs(m sip.Message, name string) []string {
	var out []string
	for _, h := range m.GetHeaders(name) {
		out = append(out, h.Value())
	}
	return out
}

// inDialogRequest builds a request of the phone u inside the dialog of a
// received INVITE (uas: u answered it) or of the INVITE u sent (uas false:
// res is the 200 it got). Route is the route set (RFC 3261 §12.1.1/§12.1.2).
func inDialogRequest(u *rawUA, method string, cseq uint32, target string, route []string, from, to, callID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, target)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-kam-%d;rport\r\n", u.local(), u.seq.Add(1))
	for _, r := range route {
		fmt.Fprintf(&b, "Route: %s\r\n", r)
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		from, to, callID, cseq, method)
	return b.String()
}

// TestKamailioRingThroughPathAndRecordRoute: a phone registers through a real
// Kamailio with one of two nodes sharing the registrations; the binding names
// the proxy in its Path. The other node rings the phone: its INVITE goes
// through Kamailio (Route = Path; the phone's Contact is a dead port, only the
// Path's received= reaches it), Record-Routed, its ACK and a re-INVITE (hold)
// with its ACK through Kamailio, and the phone's BYE comes back through Kamailio to that node. Then the phone calls in
// through Kamailio, a node answers, and that node's BYE (UAS side of the
// Record-Route) also passes Kamailio.
func TestKamailioRingThroughPathAndRecordRoute(t *testing.T) {
	k := newKamCluster(t, kamailio.Options{})
	proxy := k.p.Addr().String()
	phone := newRawUA(t, k.p.Addr())
	const deadContact = "<sip:alice@127.0.0.1:9>" // nothing listens: only the Path reaches the phone

	reg := func(m string) string {
		m = strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1)
		return strings.Replace(m, "Contact: <sip:raw@"+phone.local()+">", "Contact: "+deadContact, 1)
	}
	phone.send(reg(phone.req("REGISTER", "kam-reg", "r", "", 1, "", "Expires: 600", "Supported: path")))
	ch := phone.expect(401).GetHeader("WWW-Authenticate").Value()
	creds := answerChallenge(t, ch, "alice", "alicepw", "REGISTER", "sip:2000@"+proxy)
	phone.send(reg(phone.req("REGISTER", "kam-reg", "r", "", 2, "", "Expires: 600", "Supported: path", "Authorization: "+creds)))
	res := phone.expect(200)
	if p := hdrs(res, "Path"); len(p) != 1 || !strings.Contains(p[0], proxy) {
		t.Errorf("200 to REGISTER has Path %q, want the proxy's %s", p, proxy)
	}

	owner, other := 0, 1
	if k.nodes[1].Registrations() == 1 {
		owner, other = 1, 0
	}
	if k.nodes[owner].Registrations() != 1 || k.nodes[other].Registrations() != 0 {
		t.Fatalf("Registrations a=%d b=%d, want one node to hold the binding", k.nodes[0].Registrations(), k.nodes[1].Registrations())
	}
	cs := k.nodes[other].Contacts("alice")
	if len(cs) != 1 {
		t.Fatalf("node %s sees %d bindings of alice, want 1", k.ids[other], len(cs))
	}
	c := cs[0]
	if len(c.Path) != 1 || !strings.Contains(c.Path[0], proxy) || !strings.Contains(c.Path[0], "received=") || c.Node != k.ids[owner] {
		t.Fatalf("binding %+v: want a Path through %s with received=, registered at node %s", c, proxy, k.ids[owner])
	}
	t.Logf("binding of alice (node %s): %s Path %s", c.Node, c.URI, c.Path[0])

	// node "other" rings the phone through the proxy
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o, err := k.nodes[other].Dial(ctx, DialRequest{From: "sip:+15550001@ynagw", Targets: []Target{{URI: c.URI, Route: c.Path}},
		Offer: []byte(rawSDP("sendrecv"))})
	if err != nil {
		t.Fatal(err)
	}
	inv := phone.expectRequest("INVITE")
	vias, rr := hdrs(inv, "Via"), hdrs(inv, "Record-Route")
	if len(vias) != 2 || !strings.Contains(vias[0], proxy) || !strings.Contains(vias[1], k.nodes[other].Addr("udp").String()) {
		t.Errorf("INVITE Vias %q: want the proxy's over node %s's", vias, k.ids[other])
	}
	if len(rr) != 1 || !strings.Contains(rr[0], proxy) {
		t.Errorf("INVITE Record-Route %q, want the proxy", rr)
	}
	if inv.Recipient.String() != c.URI {
		t.Errorf("INVITE Request-URI %s, want the Contact %s", inv.Recipient.String(), c.URI)
	}
	ok := sip.NewResponseFromRequest(inv, 200, "OK", []byte(rawSDP("sendrecv")))
	ok.To().Params.Add("tag", "phone1")
	ok.AppendHeader(sip.NewHeader("Contact", "<sip:alice@"+phone.local()+">"))
	ok.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	phone.send(ok.String())
	var d *Dialog
	for ev := range o.Events() {
		if a, isA := ev.(*AnsweredEvent); isA {
			d = a.Dialog
		} else if f, isF := ev.(*FailedEvent); isF {
			t.Fatalf("fork failed: %d %s", f.Code, f.Reason)
		}
	}
	if d == nil {
		t.Fatal("no AnsweredEvent")
	}
	ack := phone.expectRequest("ACK")
	if v := hdrs(ack, "Via"); len(v) != 2 || !strings.Contains(v[0], proxy) {
		t.Errorf("ACK of the 2xx did not come through the proxy: Vias %q", v)
	}
	// the node puts the phone on hold: its re-INVITE and the ACK follow the Record-Route
	reinv := make(chan error, 1)
	go func() { _, err := d.ReInvite(ctx, appSDP(40002, SendOnly, 2)); reinv <- err }()
	ri := phone.expectRequest("INVITE")
	if v := hdrs(ri, "Via"); len(v) != 2 || !strings.Contains(v[0], proxy) {
		t.Errorf("re-INVITE did not come through the proxy: Vias %q", v)
	}
	if tag, _ := ri.To().Params.Get("tag"); tag != "phone1" {
		t.Errorf("re-INVITE To tag %q, want phone1", tag)
	}
	rok := sip.NewResponseFromRequest(ri, 200, "OK", []byte(rawSDP("recvonly")))
	rok.AppendHeader(sip.NewHeader("Contact", "<sip:alice@"+phone.local()+">"))
	rok.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	phone.send(rok.String())
	if err := <-reinv; err != nil {
		t.Fatalf("re-INVITE through the proxy: %v", err)
	}
	if v := hdrs(phone.expectRequest("ACK"), "Via"); len(v) != 2 || !strings.Contains(v[0], proxy) {
		t.Errorf("ACK of the re-INVITE did not come through the proxy: Vias %q", v)
	}
	// the phone hangs up: BYE to the node's Contact with the route set
	bye := inDialogRequest(phone, "BYE", 1, inv.Contact().Address.String(), rr, ok.To().Value(), inv.From().Value(), inv.CallID().Value())
	phone.send(bye)
	phone.expect(200)
	for {
		ev := nextEvent(t, d)
		if _, isBye := ev.(*ByeEvent); isBye {
			break
		}
		if _, isT := ev.(*TerminatedEvent); isT {
			t.Fatal("dialog ended without the phone's BYE")
		}
	}
	k.p.WaitLog(t, "in-dialog BYE from "+phone.local(), 5*time.Second)
	k.p.WaitLog(t, "through the Path to sip:"+phone.local(), 5*time.Second)

	// the phone calls in through the proxy (digest end to end)
	phone.send(phone.req("INVITE", "kam-in", "ft", "", 1, rawSDP("sendrecv")))
	r407 := phone.expect(407)
	phone.ackNon2xx(r407)
	creds = answerChallenge(t, r407.GetHeader("Proxy-Authenticate").Value(), "alice", "alicepw", "INVITE", "sip:2000@"+proxy)
	phone.send(phone.req("INVITE", "kam-in", "ft", "", 2, rawSDP("sendrecv"), "Proxy-Authorization: "+creds))
	ok2 := phone.expect(200)
	rr2 := hdrs(ok2, "Record-Route")
	if len(rr2) != 1 || !strings.Contains(rr2[0], proxy) {
		t.Errorf("200 Record-Route %q, want the proxy", rr2)
	}
	phone.send(inDialogRequest(phone, "ACK", 2, ok2.Contact().Address.String(), rr2, ok2.From().Value(), ok2.To().Value(), "kam-in"))
	var d2 *Dialog
	var answeredBy string
	select {
	case d2 = <-k.apps[0].dialogs:
		answeredBy = k.ids[0]
	case d2 = <-k.apps[1].dialogs:
		answeredBy = k.ids[1]
	case <-time.After(5 * time.Second):
		t.Fatal("no node answered the phone's INVITE")
	}
	hung := make(chan error, 1)
	go func() { hung <- d2.Hangup(ctx, "") }()
	bye2 := phone.expectRequest("BYE")
	if v := hdrs(bye2, "Via"); len(v) != 2 || !strings.Contains(v[0], proxy) {
		t.Errorf("node %s's BYE did not come through the proxy: Vias %q", answeredBy, v)
	}
	phone.reply(bye2, 200, "")
	if err := <-hung; err != nil {
		t.Errorf("Hangup: %v", err)
	}
}

// nextFinal waits for the next final response on u.
func nextFinal(t *testing.T, u *rawUA) *sip.Response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if res, ok := u.recv(time.Until(deadline)).(*sip.Response); ok && res.StatusCode >= 200 {
			return res
		}
	}
	t.Fatal("no final response")
	return nil
}

// phoneCall places a call from the phone (alice, digest answered as often as
// asked) through the proxy, ACKs the 200 along its Record-Route, and has the
// answering node hang up; it returns that node's index.
func (k *kamCluster) phoneCall(t *testing.T, phone *rawUA, callID string) int {
	t.Helper()
	proxy := k.p.Addr().String()
	var ok *sip.Response
	extra := []string(nil)
	for cseq := 1; ok == nil; cseq++ {
		if cseq > 4 {
			t.Fatalf("call %s: still challenged after %d INVITEs", callID, cseq-1)
		}
		phone.send(phone.req("INVITE", callID, "ft", "", cseq, rawSDP("sendrecv"), extra...))
		res := nextFinal(t, phone)
		switch res.StatusCode {
		case 200:
			ok = res
		case 407:
			phone.ackNon2xx(res)
			creds := answerChallenge(t, res.GetHeader("Proxy-Authenticate").Value(), "alice", "alicepw", "INVITE", "sip:2000@"+proxy)
			extra = []string{"Proxy-Authorization: " + creds}
		default:
			t.Fatalf("call %s: %d %s", callID, res.StatusCode, res.Reason)
		}
	}
	phone.send(inDialogRequest(phone, "ACK", ok.CSeq().SeqNo, ok.Contact().Address.String(), hdrs(ok, "Record-Route"), ok.From().Value(), ok.To().Value(), callID))
	var d *Dialog
	idx := -1
	select {
	case d = <-k.apps[0].dialogs:
		idx = 0
	case d = <-k.apps[1].dialogs:
		idx = 1
	case <-time.After(5 * time.Second):
		t.Fatalf("call %s: answered but no node has the dialog", callID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hung := make(chan error, 1)
	go func() { hung <- d.Hangup(ctx, "") }()
	phone.reply(phone.expectRequest("BYE"), 200, "")
	if err := <-hung; err != nil {
		t.Errorf("call %s: Hangup: %v", callID, err)
	}
	return idx
}

// rejectingApp rejects every call with code (a node whose bridge drains
// answers new INVITEs 503).
type rejectingApp struct{ code int }

func (a rejectingApp) HandleInvite(_ context.Context, c *InboundCall) { _ = c.Reject(a.code, "") }

// TestKamailioFailover: Kamailio's dispatcher in front of two nodes.
// An INVITE a node answers 503 goes on to the other node (ds_next_dst); a node
// whose OPTIONS answer 503 (draining / not ready) and a stopped node (OPTIONS
// unanswered) are taken out of rotation within the probing interval and come
// back when they answer 200; while one is out every new call reaches the other.
func TestKamailioFailover(t *testing.T) {
	var notReady atomic.Bool
	k := newKamCluster(t, kamailio.Options{PingInterval: time.Second, FailoverTimeout: time.Second},
		func(i int, c *Config) {
			if i == 0 {
				c.Ready = func(context.Context) error {
					if notReady.Load() {
						return errors.New("draining")
					}
					return nil
				}
			}
		})
	n0 := k.nodes[0].Addr("udp").String()
	phone := newRawUA(t, k.p.Addr())

	// 1. node 0 rejects INVITEs with 503: every call still lands on node 1
	k.nodes[0].SetHandler(rejectingApp{code: 503})
	for i := 0; i < 6; i++ {
		if got := k.phoneCall(t, phone, fmt.Sprintf("fo503-%d", i)); got != 1 {
			t.Fatalf("call %d answered by node %d while node 0 rejects 503", i, got)
		}
	}
	k.p.WaitLog(t, "node sip:"+n0+" failed for INVITE", time.Second)
	k.nodes[0].SetHandler(k.apps[0])
	k.p.WaitNode(t, n0, true, 10*time.Second) // probing brings it back (OPTIONS 200)

	// 2. node 0 drains: its OPTIONS 503 take it out; calls go to node 1
	start := time.Now()
	notReady.Store(true)
	k.p.WaitNode(t, n0, false, 10*time.Second)
	t.Logf("draining node out of rotation after %v (ping interval 1 s)", time.Since(start).Round(10*time.Millisecond))
	for i := 0; i < 4; i++ {
		if got := k.phoneCall(t, phone, fmt.Sprintf("fodrain-%d", i)); got != 1 {
			t.Fatalf("call %d answered by draining node 0", i)
		}
	}
	notReady.Store(false)
	k.p.WaitNode(t, n0, true, 10*time.Second)
	seen0 := false
	for i := 0; i < 8 && !seen0; i++ {
		seen0 = k.phoneCall(t, phone, fmt.Sprintf("foback-%d", i)) == 0
	}
	if !seen0 {
		t.Error("node 0 back in rotation but 8 calls all went to node 1")
	}

	// 3. node 0 stops: OPTIONS go unanswered, it is taken out, calls go to node 1
	start = time.Now()
	_ = k.nodes[0].Close()
	for i := 0; i < 3; i++ { // right away: a call hashed to node 0 times out there and moves on
		callStart := time.Now()
		if got := k.phoneCall(t, phone, fmt.Sprintf("fodead-%d", i)); got != 1 {
			t.Fatalf("call %d answered by stopped node 0", i)
		}
		t.Logf("call %d after the stop answered in %v", i, time.Since(callStart).Round(10*time.Millisecond))
	}
	k.p.WaitNode(t, n0, false, 10*time.Second)
	t.Logf("stopped node out of rotation after %v (ping 1 s, fr_timer 1 s)", time.Since(start).Round(10*time.Millisecond))
}

// TestKamailioCancelThroughPath: a node rings a phone registered through
// Kamailio and gives up (the call was answered elsewhere): the CANCEL follows
// the INVITE through Kamailio, the phone's 487 comes back, the fork ends.
func TestKamailioCancelThroughPath(t *testing.T) {
	k := newKamCluster(t, kamailio.Options{})
	proxy := k.p.Addr().String()
	phone := newRawUA(t, k.p.Addr())
	reg := func(m string) string { return strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1) }
	phone.send(reg(phone.req("REGISTER", "kam-creg", "r", "", 1, "", "Expires: 600")))
	ch := phone.expect(401).GetHeader("WWW-Authenticate").Value()
	creds := answerChallenge(t, ch, "alice", "alicepw", "REGISTER", "sip:2000@"+proxy)
	phone.send(reg(phone.req("REGISTER", "kam-creg", "r", "", 2, "", "Expires: 600", "Authorization: "+creds)))
	phone.expect(200)
	cs := k.nodes[0].Contacts("alice")
	if len(cs) != 1 || len(cs[0].Path) != 1 {
		t.Fatalf("bindings %+v, want one with a Path", cs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o, err := k.nodes[0].Dial(ctx, DialRequest{From: "sip:+15550001@ynagw", Targets: []Target{{URI: cs[0].URI, Route: cs[0].Path}},
		Offer: []byte(rawSDP("sendrecv"))})
	if err != nil {
		t.Fatal(err)
	}
	inv := phone.expectRequest("INVITE")
	ringing := sip.NewResponseFromRequest(inv, 180, "Ringing", nil)
	ringing.To().Params.Add("tag", "phonec")
	phone.send(ringing.String())
	for ev := range o.Events() {
		if p, ok := ev.(*ProgressEvent); ok && p.Code == 180 {
			break
		}
	}
	o.Cancel("answered elsewhere")
	c := phone.expectRequest("CANCEL")
	if v := hdrs(c, "Via"); len(v) != 1 || !strings.Contains(v[0], proxy) { // CANCEL is hop by hop: Kamailio's own
		t.Errorf("CANCEL did not come from the proxy: Vias %q", v)
	}
	phone.reply(c, 200, "")
	terminated := sip.NewResponseFromRequest(inv, 487, "Request Terminated", nil)
	terminated.To().Params.Add("tag", "phonec")
	phone.send(terminated.String())
	for ev := range o.Events() {
		if f, ok := ev.(*FailedEvent); ok && f.Code != 487 {
			t.Errorf("cancelled fork failed with %d, want 487", f.Code)
		}
	}
	select {
	case <-o.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("fork not done after CANCEL and 487")
	}
	ack := phone.expectRequest("ACK") // Kamailio ACKs the 487 hop by hop
	if v := hdrs(ack, "Via"); len(v) != 1 || !strings.Contains(v[0], proxy) {
		t.Errorf("ACK of the 487 not Kamailio's own: Vias %q", v)
	}
	// the node's own ACK of the 487 ends at Kamailio: the next message is the
	// answer to a keep-alive OPTIONS the phone sends Kamailio now
	phone.send(strings.Replace(phone.req("OPTIONS", "kam-ka", "k", "", 1, ""), "OPTIONS sip:2000@", "OPTIONS sip:", 1))
	switch m := phone.recv(5 * time.Second).(type) {
	case *sip.Response:
		if m.StatusCode != 200 {
			t.Errorf("Kamailio answered its keep-alive OPTIONS %d", m.StatusCode)
		}
	case *sip.Request:
		t.Errorf("the phone got a second %s (Vias %q): the node's hop-by-hop ACK was forwarded", m.Method, hdrs(m, "Via"))
	default:
		t.Error("no answer to the keep-alive OPTIONS")
	}
}

// TestKamailioKeepAliveThroughPath: a node's keep-alive OPTIONS to a phone that
// registered through Kamailio take the Path: they arrive through Kamailio at the
// phone's received address (its Contact is a dead port), and the answer keeps
// the binding.
func TestKamailioKeepAliveThroughPath(t *testing.T) {
	k := newKamCluster(t, kamailio.Options{}, func(_ int, c *Config) { c.Registrar.KeepAlive = 200 * time.Millisecond })
	proxy := k.p.Addr().String()
	phone := newRawUA(t, k.p.Addr())
	reg := func(m string) string {
		m = strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1)
		return strings.Replace(m, "Contact: <sip:raw@"+phone.local()+">", "Contact: <sip:alice@127.0.0.1:9>", 1)
	}
	phone.send(reg(phone.req("REGISTER", "kam-ka-reg", "r", "", 1, "", "Expires: 600")))
	ch := phone.expect(401).GetHeader("WWW-Authenticate").Value()
	creds := answerChallenge(t, ch, "alice", "alicepw", "REGISTER", "sip:2000@"+proxy)
	phone.send(reg(phone.req("REGISTER", "kam-ka-reg", "r", "", 2, "", "Expires: 600", "Authorization: "+creds)))
	phone.expect(200)
	for i := 0; i < 4; i++ { // more than the 3 failures that would drop the binding
		opt := phone.expectRequest("OPTIONS")
		if v := hdrs(opt, "Via"); len(v) != 2 || !strings.Contains(v[0], proxy) {
			t.Fatalf("keep-alive OPTIONS did not come through the proxy: Vias %q", v)
		}
		if opt.Recipient.String() != "sip:alice@127.0.0.1:9" {
			t.Errorf("keep-alive Request-URI %s, want the Contact", opt.Recipient.String())
		}
		phone.reply(opt, 200, "")
	}
	if n := k.nodes[0].Registrations() + k.nodes[1].Registrations(); n != 1 {
		t.Errorf("%d bindings after answered keep-alives, want 1", n)
	}
}

// TestKamailioSippLoad: 200 sipp calls (50 per second, at most 100 at once)
// through Kamailio to two nodes: every call is set up and ended (ACK and BYE
// along the Record-Route), and the Call-ID hash spreads them over both nodes.
func TestKamailioSippLoad(t *testing.T) {
	k := newKamCluster(t, kamailio.Options{}, func(_ int, c *Config) { trunkLoopback(c) })
	apps := []*testApp{newTestApp(t, "", false), newTestApp(t, "", false)}
	for i, n := range k.nodes {
		n.SetHandler(apps[i])
	}
	const calls = 200
	start := time.Now()
	if err := runSipp(t, "uac_via_proxy.xml", k.p.Addr(), sippOpts{noMsgLog: true, extra: []string{"-r", "50", "-m", strconv.Itoa(calls), "-l", "100",
		"-default_behaviors", "all,-abortunexp"}}); err != nil {
		t.Fatalf("sipp through Kamailio: %v", err)
	}
	took := time.Since(start)
	// a node reports a call once its dialog has ended, maybe just after sipp saw the 200 to BYE
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	per := []int{len(apps[0].results), len(apps[1].results)}
	for per[0]+per[1] < calls && time.Now().Before(deadline) {
		<-tick.C
		per = []int{len(apps[0].results), len(apps[1].results)}
	}
	if per[0]+per[1] != calls {
		t.Fatalf("nodes handled %d+%d calls, want %d", per[0], per[1], calls)
	}
	for i, app := range apps {
		for j := 0; j < per[i]; j++ {
			if r := app.next(t, 10*time.Second); r.answerErr != nil || !r.byeSeen {
				t.Fatalf("node %d call %d: %v", i, j, r)
			}
		}
		app.wg.Wait()
		if per[i] < calls/4 {
			t.Errorf("node %d handled %d of %d calls: the hash should spread them", i, per[i], calls)
		}
	}
	t.Logf("%d calls through Kamailio in %v: %d on node a, %d on node b", calls, took.Round(10*time.Millisecond), per[0], per[1])
}
