package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// Regression tests of issue 9, "calls that never get stuck": each failed on the code
// before the fix (see the commit messages).

// startGate holds the response of POST /start back until release is closed, so the
// call's notifications arrive (and are buffered) before the gateway knows the callId.
type startGate struct {
	rt      http.RoundTripper
	started chan string // the callId of each held /start
	release chan struct{}
}

func (g *startGate) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := g.rt.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/call/start") {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	var v struct {
		CallID string `json:"callId"`
	}
	_ = json.Unmarshal(body, &v)
	g.started <- v.CallID
	select {
	case <-g.release:
		return res, nil
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

func gatedClient(t *testing.T, sim *ynasim.Sim, g *startGate) *yna.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	g.rt = tr
	cfg := testenv.YNAConfig(sim)
	cfg.HTTPClient = &http.Client{Transport: g, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	yc, err := yna.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return yc
}

func (e *env) buffered(id string) int {
	e.gw.mu.Lock()
	defer e.gw.mu.Unlock()
	return len(e.gw.pending[id])
}

// Failure 1: notifications buffered before bind (here the whole call: 183, 180,
// Connected and the far end's hang-up) are all handled, the Terminated behind the
// Connected included: the phone gets its 200 and then a BYE, not a call that hangs until
// the media timeout.
func TestNotificationsBehindConnectedNotLost(t *testing.T) {
	g := &startGate{started: make(chan string, 1), release: make(chan struct{})}
	e := newEnvWith(t, nil, nil, func(e *env, d *Deps) { d.YNA = gatedClient(t, e.sim, g) })
	if err := e.sim.SetNumberBehaviour(farNumber, ynasim.Behaviour{Kind: ynasim.BehaviourManual}); err != nil {
		t.Fatal(err)
	}
	alice := e.phone("alice", "alicepw")
	res := make(chan *outCall, 1)
	go func() { res <- alice.call(e.ctx(30*time.Second), farNumber) }()
	id := waitFor(t, g.started, 15*time.Second, "POST /start")
	e.action(id, ynasim.ActionAnswer) // 183 + SDP, 180, Connected
	e.action(id, ynasim.ActionHangup) // Terminated
	eventually(t, 10*time.Second, "the four notifications buffered before /start returned", func() bool { return e.buffered(id) >= 4 })
	close(g.release)
	oc := waitFor(t, res, 20*time.Second, "the phone's final response")
	if oc.code == 200 {
		waitFor(t, alice.byes, 10*time.Second, "BYE at the phone for the Terminated behind Connected")
	}
	cdr := e.cdr()
	if cdr.YNACallID != id || !strings.Contains(cdr.EndReason, "network") {
		t.Errorf("CDR %+v", cdr)
	}
	eventually(t, 5*time.Second, "no call active", func() bool { return e.gw.ActiveCalls() == 0 })
}

// Failure 2: a hold the network refuses is rolled back on both sides: the phone's
// re-INVITE fails, media keeps flowing both ways, and the next hold and resume work
// (before the fix the WebRTC leg stayed re-offered and one-way: later re-offers were
// refused and the network's audio never reached the phone again).
func TestPhoneHoldRefusedByNetworkRollsBack(t *testing.T) {
	e := newEnv(t, nil)
	alice, oc, id := establishedOutbound(t, e)
	if err := e.sim.SetEndpointFault(ynasim.EndpointFault{Endpoint: "hold", Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	code, _ := alice.reinviteCode(e.ctx(20*time.Second), oc, rtpmedia.SendOnly)
	if code < 400 {
		t.Errorf("hold refused by the network answered %d to the phone, want a failure (the session unchanged)", code)
		if code == 200 { // carry on as the phone would: it believes it holds, so it resumes
			alice.reinvite(e.ctx(20*time.Second), oc, rtpmedia.SendRecv)
		}
	}
	if ci, _ := e.sim.Call(id); ci.State != ynasim.CallConnected || ci.HeldByClient {
		t.Errorf("sim call %s heldByClient=%v after the refused hold", ci.State, ci.HeldByClient)
	}
	rx := oc.media.rx.Load()
	eventually(t, 10*time.Second, "network audio at the phone after the refused hold", func() bool { return oc.media.rx.Load() > rx+10 })
	if got := alice.reinvite(e.ctx(20*time.Second), oc, rtpmedia.SendOnly); got != rtpmedia.RecvOnly {
		t.Errorf("second hold answered %v, want recvonly", got)
	}
	if ci := e.waitState(id, ynasim.CallHold); !ci.HeldByClient {
		t.Errorf("second hold: sim heldByClient=%v", ci.HeldByClient)
	}
	if got := alice.reinvite(e.ctx(20*time.Second), oc, rtpmedia.SendRecv); got != rtpmedia.SendRecv {
		t.Errorf("resume answered %v, want sendrecv", got)
	}
	e.waitState(id, ynasim.CallConnected)
	rx = oc.media.rx.Load()
	eventually(t, 10*time.Second, "network audio at the phone after the resume", func() bool { return oc.media.rx.Load() > rx+10 })
	if err := oc.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	e.waitState(id, ynasim.CallTerminated)
}

// refreshingTokens is a TokenSource + TokenRefresher over one linked grant of the sim.
type refreshingTokens struct {
	yc *yna.Client

	mu        sync.Mutex
	access    string
	refresh   string
	refreshes int   // RefreshAccessToken calls that refreshed
	refuse    error // RefreshAccessToken fails with it
	relinks   []string
}

func newRefreshingTokens(t *testing.T, yc *yna.Client) *refreshingTokens {
	tr := testenv.Link(t, yc, testAccount)
	return &refreshingTokens{yc: yc, access: tr.AccessToken, refresh: tr.RefreshToken}
}

func (r *refreshingTokens) AccessToken(context.Context, string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.access, nil
}

// rotate refreshes the token as the daemon's refresh loop does before it expires.
func (r *refreshingTokens) rotate(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tr, err := r.yc.RefreshToken(ctx, r.refresh)
	if err != nil {
		return err
	}
	r.access = tr.AccessToken
	if tr.RefreshToken != "" {
		r.refresh = tr.RefreshToken
	}
	return nil
}

func (r *refreshingTokens) RefreshAccessToken(ctx context.Context, _ string, refused string) (string, error) {
	r.mu.Lock()
	if r.refuse != nil {
		defer r.mu.Unlock()
		return "", r.refuse
	}
	if refused != r.access { // someone refreshed already
		defer r.mu.Unlock()
		return r.access, nil
	}
	r.refreshes++
	r.mu.Unlock()
	if err := r.rotate(ctx); err != nil {
		return "", err
	}
	return r.AccessToken(ctx, "")
}

func (r *refreshingTokens) MarkNeedsRelink(_ context.Context, line, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.relinks = append(r.relinks, line)
}

func (r *refreshingTokens) counts() (refreshes int, relinks []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refreshes, append([]string(nil), r.relinks...)
}

func newTokenEnv(t *testing.T) (*env, *refreshingTokens) {
	var rt *refreshingTokens
	e := newEnvWith(t, nil, nil, func(e *env, d *Deps) {
		rt = newRefreshingTokens(t, e.yc)
		d.Tokens = rt
	})
	return e, rt
}

// Failure 3: the network forgot the call's token (401): the phone's hang-up still ends
// the network call (one refresh, one retry of DELETE /end).
func TestExpiredTokenRefreshedToEndCall(t *testing.T) {
	e, rt := newTokenEnv(t)
	_, oc, id := establishedOutbound(t, e)
	if err := e.sim.ExpireTokens(testAccount); err != nil {
		t.Fatal(err)
	}
	if err := oc.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("outcome %s, want %s (DELETE /end after a token refresh)", ci.Outcome, ynasim.OutcomeEndedByClient)
	}
	if n, relinks := rt.counts(); n != 1 || len(relinks) != 0 {
		t.Errorf("refreshes %d relinks %v, want 1 refresh and no relink", n, relinks)
	}
}

// Failure 3: a call outliving its token uses the line's current token for every request
// (here a hold after the token was renewed), not the one it read at setup.
func TestLongCallUsesCurrentToken(t *testing.T) {
	e, rt := newTokenEnv(t)
	alice, oc, id := establishedOutbound(t, e)
	if err := e.sim.ExpireTokens(testAccount); err != nil {
		t.Fatal(err)
	}
	if err := rt.rotate(e.ctx(10 * time.Second)); err != nil { // the daemon's refresher renewed it
		t.Fatal(err)
	}
	if code, got := alice.reinviteCode(e.ctx(20*time.Second), oc, rtpmedia.SendOnly); code != 200 || got != rtpmedia.RecvOnly {
		t.Errorf("hold after the token was renewed: %d %v, want 200 recvonly", code, got)
	}
	if ci := e.waitState(id, ynasim.CallHold); !ci.HeldByClient {
		t.Errorf("sim heldByClient=%v", ci.HeldByClient)
	}
	if n, _ := rt.counts(); n != 0 {
		t.Errorf("%d refreshes: the call used a stale token", n)
	}
}

// Failure 4: the phone answers the network hold's re-INVITE with 491 (glare): the
// gateway retries it after the RFC 3261 §14.1 timer and accepts the network's hold only
// once the phone took it.
func TestNetworkHoldGlareRetried(t *testing.T) {
	e := newEnv(t, nil)
	alice, _, id := establishedOutbound(t, e)
	alice.answerReinvites(491)
	e.action(id, ynasim.ActionHold)
	first := waitFor(t, alice.reinviteLog, 10*time.Second, "the hold re-INVITE at the phone")
	if first.code != 491 {
		t.Fatalf("first re-INVITE got %d", first.code)
	}
	if ci, _ := e.sim.Call(id); hasRESTEvent(ci, "acceptHold") {
		t.Errorf("network hold accepted although the phone answered 491")
	}
	second := waitFor(t, alice.reinviteLog, 10*time.Second, "the retried hold re-INVITE (RFC 3261 §14.1)")
	// The phone owns this Call-ID (it sent the INVITE): the retry comes after 0-2 s.
	if second.code != 200 || second.dir != rtpmedia.SendOnly || second.at.Sub(first.at) > 3*time.Second {
		t.Errorf("retry %+v after %v", second, second.at.Sub(first.at))
	}
	if ci := e.waitState(id, ynasim.CallHold); !ci.HeldByNetwork || !e.restSeen(id, "acceptHold") {
		t.Errorf("sim heldByNetwork=%v after the retried hold", ci.HeldByNetwork)
	}
}

// Failure 4: a phone that refuses the network's hold for good never leaves the network
// holding a call the phone does not know about: no /acceptHold, and the call ends on
// both sides.
func TestNetworkHoldRefusedByPhoneEndsCall(t *testing.T) {
	e := newEnv(t, nil)
	alice, _, id := establishedOutbound(t, e)
	alice.answerReinvites(488)
	e.action(id, ynasim.ActionHold)
	if got := waitFor(t, alice.reinviteLog, 10*time.Second, "the hold re-INVITE at the phone"); got.code != 488 {
		t.Fatalf("re-INVITE got %d", got.code)
	}
	waitFor(t, alice.byes, 10*time.Second, "BYE at the phone")
	ci := e.waitState(id, ynasim.CallTerminated)
	if hasRESTEvent(ci, "acceptHold") {
		t.Errorf("network hold accepted although the phone refused it")
	}
	if cdr := e.cdr(); !strings.Contains(cdr.EndReason, "hold") {
		t.Errorf("CDR end reason %q", cdr.EndReason)
	}
}

// Failure 5: the WebRTC leg of an inbound call is built and its answer gathered while the
// phones ring, so /connected goes out right after the phone's 200 OK.
func TestInboundNetLegReadyWhileRinging(t *testing.T) {
	legs := make(chan NetLeg, 4)
	e := newEnvMedia(t, nil, func(m MediaFactory) MediaFactory { return tapMedia{inner: m, legs: legs} })
	_, id := e.ringingAtAlice()
	leg := waitFor(t, legs, 5*time.Second, "the network leg while the phone rings")
	wl, ok := leg.(*rtpmedia.WebRTCLeg)
	if !ok {
		t.Fatalf("leg %T", leg)
	}
	eventually(t, 5*time.Second, "the answer to the network's offer gathered while ringing", func() bool { return wl.LocalDescription() != "" })
	if ci, _ := e.sim.Call(id); ci.State != ynasim.CallRinging || hasRESTEvent(ci, "connected") {
		t.Errorf("sim call %s: want it still ringing", ci.State)
	}
}

// countingMetrics counts CallStarted and Ended per direction.
type countingMetrics struct {
	NopMetrics
	mu             sync.Mutex
	started, ended map[string]int
}

func (m *countingMetrics) CallStarted(dir, _ string) CallMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.started[dir]++
	return countingCall{m: m, dir: dir}
}

func (m *countingMetrics) counts() (started, ended map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, en := map[string]int{}, map[string]int{}
	for k, v := range m.started {
		s[k] = v
	}
	for k, v := range m.ended {
		en[k] = v
	}
	return s, en
}

type countingCall struct {
	nopCall
	m   *countingMetrics
	dir string
}

func (c countingCall) Ended(string, time.Duration) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.m.ended[c.dir]++
}

// Failure 6: a call that comes in while the gateway closes is never counted as active
// without being finished (ynagw_calls_active would stay up for good).
func TestCallsActiveBalancedWhenClosing(t *testing.T) {
	cm := &countingMetrics{started: map[string]int{}, ended: map[string]int{}}
	e := newEnvWith(t, nil, nil, func(_ *env, d *Deps) { d.Metrics = cm })
	if err := e.gw.Close(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	e.gw.startInbound(testLine, &yna.SessionInvitation{OriginatorAddress: "tel:+12065550123",
		CallObjectRef: e.sim.URL() + "/cpaas/v1/call/" + testLine + "/sessions/LATE", SDP: "v=0"})
	started, ended := cm.counts()
	for _, dir := range []string{DirectionInbound, DirectionOutbound} {
		if started[dir] != ended[dir] {
			t.Errorf("%s: %d calls started, %d ended", dir, started[dir], ended[dir])
		}
	}
}

// Failure 3: a DELETE /end the network refuses is retried with backoff until it goes
// through: the network call does not stay up after the phone hung up.
func TestEndRetriedUntilTheNetworkTakesIt(t *testing.T) {
	e := newEnv(t, nil)
	_, oc, id := establishedOutbound(t, e)
	if err := e.sim.SetEndpointFault(ynasim.EndpointFault{Endpoint: "end", Status: 503, Count: 2}); err != nil {
		t.Fatal(err)
	}
	if err := oc.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if cdr := e.cdr(); cdr.Result != ResultAnswered {
		t.Errorf("CDR %+v", cdr)
	}
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("outcome %s, want %s", ci.Outcome, ynasim.OutcomeEndedByClient)
	}
	if faults := e.sim.EndpointFaults(); len(faults) != 0 {
		t.Errorf("faults left %+v: DELETE /end was not retried twice", faults)
	}
}

// F: an inbound call rung on a PBX trunk carries the line's number as the Request-URI's
// user and in To (URI parameters inside To's angle brackets), the caller in From and
// P-Asserted-Identity.
func TestTrunkInviteNamesLineAndCaller(t *testing.T) {
	e := newEnv(t, nil)
	pbx := e.phone("pbx", "x")
	pbx.mode.Store("ring")
	trunk := "sip:127.0.0.1:" + strconv.Itoa(pbx.addr.Port) + ";transport=udp"
	if err := e.gw.AddLineConfig(e.ctx(5*time.Second), LineConfig{MSISDN: testLine, RingTrunk: trunk}, ""); err != nil {
		t.Fatal(err)
	}
	e.inject(testLine)
	req := waitFor(t, pbx.inviteReqs, 10*time.Second, "INVITE at the PBX")
	if u := req.Recipient.User; u != testLine {
		t.Errorf("Request-URI %s: user %q, want the line %s", req.Recipient.String(), u, testLine)
	}
	to := req.To()
	if to.Address.User != testLine || !strings.HasPrefix(to.Value(), "<") || strings.Contains(to.Value(), ">;transport") {
		t.Errorf("To %q, want <sip:%s@...;transport=udp>", to.Value(), testLine)
	}
	if f := req.From(); !strings.Contains(f.Address.User, callerNumber1) {
		t.Errorf("From %q, want the caller %s", f.Value(), callerNumber1)
	}
	if h := req.GetHeader("P-Asserted-Identity"); h == nil || !strings.Contains(h.Value(), callerNumber1) {
		t.Errorf("P-Asserted-Identity %v, want the caller %s", h, callerNumber1)
	}
}
