package sip

import (
	"sync"
	"testing"
	"time"
)

// countingObserver counts Observer calls.
type countingObserver struct {
	mu   sync.Mutex
	reqs map[string]int
	resp map[int]int
}

func newCountingObserver() *countingObserver {
	return &countingObserver{reqs: map[string]int{}, resp: map[int]int{}}
}

func (o *countingObserver) Request(m string) { o.mu.Lock(); o.reqs[m]++; o.mu.Unlock() }
func (o *countingObserver) Response(c int)   { o.mu.Lock(); o.resp[c]++; o.mu.Unlock() }

func (o *countingObserver) snapshot() (map[string]int, map[int]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, s := map[string]int{}, map[int]int{}
	for k, v := range o.reqs {
		r[k] = v
	}
	for k, v := range o.resp {
		s[k] = v
	}
	return r, s
}

// waitCounts polls the observer (no sleep: a ticker with a failure deadline)
// until ok accepts the counts, and returns them.
func waitCounts(t *testing.T, o *countingObserver, ok func(map[string]int, map[int]int) bool) (map[string]int, map[int]int) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		r, s := o.snapshot()
		if ok(r, s) {
			return r, s
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("observer counts not reached: requests %v responses %v", r, s)
		}
	}
}

// TestObserverSippCall counts an authenticated sipp call: 407-challenged INVITE,
// its ACK, INVITE, 100, 180, 200, ACK, INFO, BYE.
func TestObserverSippCall(t *testing.T) {
	obs := newCountingObserver()
	s := newTestServer(t, func(c *Config) { c.Observer = obs })
	app := newTestApp(t, "", false)
	s.SetHandler(app)
	if err := runSipp(t, "uac_auth_call.xml", s.Addr("udp"), sippOpts{extra: []string{"-au", "alice", "-ap", "alicepw"}}); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	if r := app.next(t, 10*time.Second); r.answerErr != nil || !r.byeSeen {
		t.Fatalf("bad call %v", r)
	}
	reqs, resp := waitCounts(t, obs, func(r map[string]int, s map[int]int) bool { return s[200] >= 3 })
	// requests: retransmissions would count too, hence >=
	for m, min := range map[string]int{"INVITE": 2, "ACK": 2, "INFO": 1, "BYE": 1} {
		if reqs[m] < min {
			t.Errorf("Request(%s) = %d, want >= %d (all: %v)", m, reqs[m], min, reqs)
		}
	}
	// responses: each sent response exactly once (2xx retransmissions not counted)
	want := map[int]int{407: 1, 100: 1, 180: 1, 200: 3}
	for code, n := range want {
		if resp[code] != n {
			t.Errorf("Response(%d) = %d, want %d (all: %v)", code, resp[code], n, resp)
		}
	}
	if len(resp) != len(want) {
		t.Errorf("unexpected responses: %v", resp)
	}
}

// TestObserverCancel: the CANCEL, its 200 and the INVITE's 487 are reported.
func TestObserverCancel(t *testing.T) {
	obs := newCountingObserver()
	s := newTestServer(t, func(c *Config) { trunkLoopback(c); c.Observer = obs })
	s.SetHandler(newTestApp(t, "cancel", false))
	if err := runSipp(t, "uac_cancel.xml", s.Addr("udp"), sippOpts{}); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	reqs, resp := waitCounts(t, obs, func(r map[string]int, s map[int]int) bool { return s[487] >= 1 && r["ACK"] >= 1 })
	if reqs["CANCEL"] < 1 || reqs["INVITE"] < 1 {
		t.Errorf("requests %v", reqs)
	}
	if resp[200] != 1 || resp[487] != 1 || resp[180] != 1 || resp[100] != 1 {
		t.Errorf("responses %v, want one each of 100, 180, 200 (CANCEL), 487", resp)
	}
}

// TestObserverRetransmittedFinalOnce: a 200 retransmitted while the ACK is
// missing is reported once.
func TestObserverRetransmittedFinalOnce(t *testing.T) {
	obs := newCountingObserver()
	s := newTestServer(t, func(c *Config) { trunkLoopback(c); c.Observer = obs })
	app := &controlledApp{dialogs: make(chan *Dialog, 1)}
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp"))
	u.send(u.req("INVITE", "obs-rtx", "ft", "", 1, rawSDP("sendrecv")))
	first := u.expect(200)
	second := u.expect(200) // retransmission after T1 (no ACK yet)
	if first.CSeq().SeqNo != second.CSeq().SeqNo {
		t.Fatal("second 200 is not a retransmission")
	}
	tag, _ := first.To().Params.Get("tag")
	u.send(u.req("ACK", "obs-rtx", "ft", tag, 1, ""))
	var d *Dialog
	select {
	case d = <-app.dialogs:
	case <-time.After(5 * time.Second):
		t.Fatal("no dialog")
	}
	u.send(u.req("BYE", "obs-rtx", "ft", tag, 2, ""))
	u.expect(200)
	select {
	case <-d.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("BYE did not end the dialog")
	}
	_, resp := waitCounts(t, obs, func(r map[string]int, s map[int]int) bool { return r["BYE"] >= 1 && s[200] >= 2 })
	if resp[200] != 2 {
		t.Errorf("Response(200) = %d, want 2 (INVITE once despite retransmission, BYE)", resp[200])
	}
}
