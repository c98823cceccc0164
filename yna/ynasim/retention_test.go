package ynasim

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ynagw/ynagw/yna"
)

// newCallSimRigWith is newCallSimRig with a config change and the fake far end.
func newCallSimRigWith(t *testing.T, mut func(*Config)) *callSimRig {
	t.Helper()
	rg := newSimRig(t, mut)
	rg.sim.calls.newFarEnd = func(ctx context.Context, _ CodecMode) (farEnd, error) { return &fakeFarEnd{}, nil }
	tok, _, ws := rg.online()
	cl, err := yna.NewClient(yna.Config{BaseURL: rg.sim.URL(), ClientID: simClientID, ClientSecret: simSecret,
		Key: rg.key, Now: rg.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	return &callSimRig{simRig: rg, cl: cl, tok: tok, ws: ws}
}

// retained counts what the simulator holds on to.
type retained struct {
	calls, order, access, codes, caps, acked int
}

func (rg *callSimRig) retained() retained {
	s := rg.sim
	var r retained
	s.calls.mu.Lock()
	r.calls, r.order = len(s.calls.calls), len(s.calls.order)
	s.calls.mu.Unlock()
	s.mu.Lock()
	r.access, r.codes = len(s.access), len(s.codes)
	s.mu.Unlock()
	s.hub.mu.Lock()
	r.caps = len(s.hub.caps)
	for _, ch := range s.hub.chans {
		r.acked += len(ch.ackedIDs)
	}
	s.hub.mu.Unlock()
	return r
}

// retentionRound runs one round of traffic: an outbound and an inbound call (both ended),
// an account status fetch (a new channel URL), a link whose code is never exchanged, and a
// fresh access token (refresh grant) every 4th round; then the clock moves on by step.
func (rg *callSimRig) retentionRound(t testing.TB, i int, refresh *string, step time.Duration) {
	ctx := rg.ctx()
	if i%4 == 3 {
		tr, err := rg.cl.RefreshToken(ctx, *refresh)
		if err != nil {
			t.Fatal(err)
		}
		rg.tok, *refresh = tr.AccessToken, tr.RefreshToken
	}
	res, err := rg.cl.Start(ctx, rg.tok, yna.StartRequest{From: simLine1, To: "14255550199", SDP: testSDP(dirSendRecv)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rg.note()
	}
	if err := rg.sim.WaitCallState(ctx, res.CallID, CallConnected); err != nil {
		t.Fatal(err)
	}
	if err := rg.cl.End(ctx, rg.tok, res.CallID, "", false); err != nil {
		t.Fatal(err)
	}
	id, err := rg.sim.InjectCall(ctx, simLine1, "12065550123")
	if err != nil {
		t.Fatal(err)
	}
	rg.note()
	if err := rg.cl.End(ctx, rg.tok, id, "", false); err != nil {
		t.Fatal(err)
	}
	for _, cid := range []string{res.CallID, id} {
		if err := rg.sim.WaitCallState(ctx, cid, CallTerminated); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rg.cl.AccountStatus(ctx, rg.tok); err != nil {
		t.Fatal(err)
	}
	rg.link(simLine1, "unused")
	if _, err := rg.WaitChannel(ctx, func(ci ChannelInfo) bool { return len(ci.Unacked) == 0 }); err != nil {
		t.Fatal(err)
	}
	rg.clock.Advance(step)
}

// TestRetentionBounded: after 30 rounds, one simulated minute apart, the simulator holds
// only what the default retention (10 min) keeps: ended calls, expired tokens and codes,
// superseded channel URLs and ack records of the last ~10 minutes. Before retention existed
// every call, token, URL and acked msgId stayed forever (60 calls, 30 URLs, 120 acks).
func TestRetentionBounded(t *testing.T) {
	rg := newCallSimRigWith(t, func(c *Config) { c.TokenLifetime = 5 * time.Minute })
	tr := rg.linkToken(simLine1)
	rg.tok = tr.AccessToken
	refresh := tr.RefreshToken
	for i := range 30 {
		rg.retentionRound(t, i, &refresh, time.Minute)
	}
	r := rg.retained()
	t.Logf("retained after 30 rounds: %+v", r)
	// 10 minutes of rounds (+1 for the boundary): 2 calls, 1 URL (+1 the socket's), 4 acks each
	if r.calls > 24 || r.order > 24 || r.caps > 13 || r.acked > 48 || r.access > 5 || r.codes > 2 {
		t.Errorf("retained %+v, want at most 24 calls, 13 channel URLs, 48 ack records, 5 access tokens, 2 codes", r)
	}
	// The control API keeps the recent history: the last round's calls are still there.
	calls := rg.sim.Calls()
	if len(calls) < 2 || calls[len(calls)-1].Outcome != OutcomeVoicemail || calls[len(calls)-2].Outcome != OutcomeEndedByClient {
		t.Errorf("recent calls not kept: %d calls", len(calls))
	}
	// The live socket's URL still works for a new socket.
	ci, err := rg.sim.Channel("alice")
	if err != nil || ci.URL == "" {
		t.Fatalf("channel %+v %v", ci, err)
	}
	c := rg.dial(ci.URL)
	_ = c.Close()
}

// TestRetentionConfig: Config.CallHistory caps the ended calls kept; Config.Retention drops
// superseded channel URLs without sockets, and expired tokens (first "expired", then
// "invalid"); a call longer than the retention keeps the ack states of its notifications.
func TestRetentionConfig(t *testing.T) {
	rg := newCallSimRigWith(t, func(c *Config) {
		c.Retention, c.CallHistory, c.TokenLifetime = time.Minute, 3, 90*time.Second
	})
	ctx := rg.ctx()
	var ids []string
	for range 5 {
		id, err := rg.sim.InjectCall(ctx, simLine1, "12065550123")
		if err != nil {
			t.Fatal(err)
		}
		rg.note()
		if err := rg.cl.End(ctx, rg.tok, id, "", false); err != nil {
			t.Fatal(err)
		}
		if err := rg.sim.WaitCallState(ctx, id, CallTerminated); err != nil && !errors.Is(err, ErrCallNotFound) {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// The history cap applies when the next call ends or starts.
	long, err := rg.cl.Start(ctx, rg.tok, yna.StartRequest{From: simLine1, To: "14255550199", SDP: testSDP(dirSendRecv)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rg.note()
	}
	if err := rg.sim.WaitCallState(ctx, long.CallID, CallConnected); err != nil {
		t.Fatal(err)
	}
	calls := rg.sim.Calls()
	if len(calls) != 4 || calls[0].ID != ids[2] || calls[3].ID != long.CallID {
		t.Fatalf("%d calls kept, want the 3 newest ended ones and the live one", len(calls))
	}
	if _, ok := rg.sim.Call(ids[0]); ok {
		t.Errorf("call %s beyond CallHistory still kept", ids[0])
	}
	if st := rg.ctl(http.MethodGet, "/sim/calls/"+ids[1], nil, nil); st != http.StatusNotFound {
		t.Errorf("GET a dropped call: %d, want 404", st)
	}

	old := rg.status(rg.tok).ChannelURL // superseded below, no socket on it
	rg.status(rg.tok)
	rg.clock.Advance(70 * time.Second) // beyond the retention, the token still valid
	rg.status(rg.tok)                  // a sweep
	if _, res, err := websocket.DefaultDialer.Dial(old, nil); err == nil || res == nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("superseded URL %s still accepted (%v)", old, err)
	}
	if _, err := rg.cl.AccountStatus(ctx, rg.tok); err != nil {
		t.Fatal(err)
	}
	ci, _ := rg.sim.Call(long.CallID)
	for _, e := range ci.EventsOf("notify", "") {
		if e.Ack != AckAcked {
			t.Errorf("live call's notification %s: ack %q after the retention, want acked", e.Name, e.Ack)
		}
	}
	if _, ok := rg.sim.Call(ids[4]); ok {
		t.Errorf("call ended beyond the retention still kept")
	}

	rg.clock.Advance(30 * time.Second) // the token expired 10 s ago
	if res := rg.api(http.MethodGet, yna.PathAccountStatus, rg.tok, nil, popTweak{}); res.status != 401 ||
		!strings.Contains(res.errorBody(t).UserMessage, "expired") {
		t.Errorf("expired token: %d %s", res.status, res.body)
	}
	rg.clock.Advance(2 * time.Minute)
	if res := rg.api(http.MethodGet, yna.PathAccountStatus, rg.tok, nil, popTweak{}); res.status != 401 ||
		!strings.Contains(res.errorBody(t).UserMessage, "invalid") {
		t.Errorf("token expired beyond the retention: %d %s", res.status, res.body)
	}
}

// TestWaitCallSnapshotsOnlyChangedCalls: a WaitCall waiter snapshots every retained call
// once, then only the calls that changed; it used to snapshot every call ever made on every
// change of any call (here: 100 old calls × every change of two new ones).
func TestWaitCallSnapshotsOnlyChangedCalls(t *testing.T) {
	rg := newRig(t)
	for range 100 {
		id := rg.connectOutbound()
		if st, _ := rg.op(yna.OpEnd, id, nil); st != http.StatusOK {
			t.Fatal("end")
		}
		rg.waitState(id, CallTerminated)
	}
	const target = "14255550177"
	before := rg.cs.snapshots.Load()
	found := make(chan string, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		id, _ := rg.cs.waitCall(ctx, func(ci CallInfo) bool { return ci.Peer == target && ci.State == CallConnected })
		found <- id
	}()
	other := rg.connectOutbound() // changes that do not match
	id := rg.start(target)
	for range 3 {
		rg.next()
	}
	if got := <-found; got != id {
		t.Fatalf("waitCall returned %q, want %s", got, id)
	}
	n := rg.cs.snapshots.Load() - before
	t.Logf("%d snapshots for 102 calls (of which 2 changed)", n)
	if n > 100+2*40 {
		t.Errorf("waitCall took %d snapshots; want the 100 old calls once plus the changes of 2 calls", n)
	}
	_ = other
}
