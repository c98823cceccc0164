package ynasim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna"
)

// Unit-test rig for the call store: a callStore without a Sim, whose seams are replaced by
// fakes (bearer token = account id, notifications captured on a channel, fake far end),
// served over loopback HTTP.

const (
	testLine  = "14255550100"
	testLine2 = "14255550111"
	testPeer  = "14255550199"
)

// testSDP builds a minimal audio SDP with direction dir.
func testSDP(dir string) string {
	return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 101\r\n" +
		"c=IN IP4 127.0.0.1\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=" + dir + "\r\n"
}

func reverseDir(d string) string {
	switch d {
	case dirSendOnly:
		return dirRecvOnly
	case dirRecvOnly:
		return dirSendOnly
	}
	return d
}

// fakeFarEnd records what the call asked of it and answers with testSDP.
type fakeFarEnd struct {
	mu       sync.Mutex
	ops      []string
	answers  []string
	digits   string
	closed   bool
	failNext error
}

func (f *fakeFarEnd) rec(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, op)
	err := f.failNext
	f.failNext = nil
	return err
}

func (f *fakeFarEnd) Answer(ctx context.Context, offer string) (string, error) {
	if err := f.rec("answer"); err != nil {
		return "", err
	}
	d, err := parseAudioSDP(offer)
	if err != nil {
		return "", err
	}
	return testSDP(reverseDir(d)), nil
}

func (f *fakeFarEnd) Offer(ctx context.Context) (string, error) {
	if err := f.rec("offer"); err != nil {
		return "", err
	}
	return testSDP(dirSendRecv), nil
}

func (f *fakeFarEnd) SetAnswer(answer string) error {
	if err := f.rec("setAnswer"); err != nil {
		return err
	}
	f.mu.Lock()
	f.answers = append(f.answers, answer)
	f.mu.Unlock()
	return nil
}

func (f *fakeFarEnd) Reoffer(ctx context.Context, dir string) (string, error) {
	if err := f.rec("reoffer " + dir); err != nil {
		return "", err
	}
	return testSDP(dir), nil
}

func (f *fakeFarEnd) AnswerReoffer(ctx context.Context, offer string) (string, error) {
	if err := f.rec("answerReoffer"); err != nil {
		return "", err
	}
	d, err := parseAudioSDP(offer)
	if err != nil {
		return "", err
	}
	return testSDP(reverseDir(d)), nil
}

func (f *fakeFarEnd) SendDTMF(digits string) error {
	if err := f.rec("dtmf"); err != nil {
		return err
	}
	f.mu.Lock()
	f.digits += digits
	f.mu.Unlock()
	return nil
}

func (f *fakeFarEnd) Stats() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return map[string]any{"ops": len(f.ops), "digits": f.digits}
}

func (f *fakeFarEnd) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// sentNote is one captured notification.
type sentNote struct {
	acct  string
	typ   string
	msgID string
	st    yna.SessionStatus
	inv   yna.SessionInvitation
}

type rig struct {
	t     testing.TB
	cs    *callStore
	srv   *httptest.Server
	notes chan sentNote
	accts []*Account

	mu  sync.Mutex
	fes []*fakeFarEnd
}

func newRig(t testing.TB) *rig {
	t.Helper()
	rg := &rig{t: t, notes: make(chan sentNote, 64),
		accts: []*Account{{ID: "acct-a", Lines: []string{testLine}}, {ID: "acct-b", Lines: []string{testLine2}}}}
	cs := newCallStore(nil)
	cs.startNotifyDelay = time.Millisecond
	var n int
	var nmu sync.Mutex
	cs.notify = func(acct *Account, typ string, v any, _ func(string)) string {
		nmu.Lock()
		n++
		id := fmt.Sprintf("m%d", n)
		nmu.Unlock()
		sn := sentNote{acct: acct.ID, typ: typ, msgID: id}
		switch x := v.(type) {
		case yna.SessionStatus:
			sn.st = x
		case yna.SessionInvitation:
			sn.inv = x
		default:
			t.Errorf("notify: unexpected payload %T", v)
		}
		rg.notes <- sn
		return id
	}
	cs.ackState = func(acct *Account, msgID string) string { return "acked" }
	cs.authorize = func(w http.ResponseWriter, r *http.Request, endpoint string) (*Account, []byte, bool) {
		body, _ := io.ReadAll(r.Body)
		for _, a := range rg.accts {
			if r.Header.Get("Authorization") == "Bearer "+a.ID {
				return a, body, true
			}
		}
		writeError(w, http.StatusUnauthorized, "no")
		return nil, nil, false
	}
	cs.byLine = func(l string) *Account {
		for _, a := range rg.accts {
			if a.hasLine(l) {
				return a
			}
		}
		return nil
	}
	cs.newFarEnd = func(ctx context.Context, _ CodecMode) (farEnd, error) {
		f := &fakeFarEnd{}
		rg.mu.Lock()
		rg.fes = append(rg.fes, f)
		rg.mu.Unlock()
		return f, nil
	}
	mux := http.NewServeMux()
	cs.routes(mux)
	rg.cs = cs
	rg.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		rg.srv.Close()
		cs.close()
	})
	return rg
}

func (rg *rig) lastFarEnd() *fakeFarEnd {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if len(rg.fes) == 0 {
		rg.t.Fatal("no far end created")
	}
	return rg.fes[len(rg.fes)-1]
}

// do sends a request as account acct and returns status and body.
func (rg *rig) do(acct, method, path string, body any, hdr ...string) (int, []byte) {
	rg.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, rg.srv.URL+path, rd)
	if err != nil {
		rg.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+acct)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := rg.srv.Client().Do(req)
	if err != nil {
		rg.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (rg *rig) op(op, id string, body any) (int, []byte) {
	rg.t.Helper()
	if op == yna.OpEnd {
		return rg.do("acct-a", http.MethodDelete, yna.CallPath(op, id), nil,
			yna.HeaderReason, yna.ReasonNormalUserDisconnect, yna.HeaderConference, "false")
	}
	return rg.do("acct-a", http.MethodPost, yna.CallPath(op, id), body)
}

func sdpBody(s string) map[string]string { return map[string]string{"sdp": s} }

// start places an outbound call from testLine to `to` and returns its id.
func (rg *rig) start(to string) string {
	rg.t.Helper()
	st, body := rg.do("acct-a", http.MethodPost, yna.CallPath(yna.OpStart, ""), yna.StartRequest{
		From: testLine, To: to, SDP: testSDP(dirSendRecv), ClientCorrelator: "a777980f-9e7a-4f4a-ae26-22feb3964399"})
	if st != http.StatusCreated {
		rg.t.Fatalf("start: %d %s", st, body)
	}
	var resp yna.StartResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		rg.t.Fatal(err)
	}
	return resp.CallID
}

// next returns the next captured notification (fails after 5 s).
func (rg *rig) next() sentNote {
	rg.t.Helper()
	select {
	case n := <-rg.notes:
		return n
	case <-time.After(5 * time.Second):
		rg.t.Fatal("no notification")
	}
	return sentNote{}
}

// expectStatus asserts the next notification's status, code and SDP presence.
func (rg *rig) expectStatus(id, status string, code int, withSDP bool) sentNote {
	rg.t.Helper()
	n := rg.next()
	if n.typ != yna.TypeSessionStatus || n.st.Status != status || int(n.st.ResponseCode) != code || (n.st.SDP != "") != withSDP {
		rg.t.Fatalf("notification = %s %s/%d sdp=%v, want %s/%d sdp=%v", n.typ, n.st.Status, n.st.ResponseCode, n.st.SDP != "", status, code, withSDP)
	}
	if got := yna.CallIDFromRef(n.st.CallObjectRef); got != id {
		rg.t.Fatalf("callObjectRef %q does not end in %s", n.st.CallObjectRef, id)
	}
	return n
}

// noMore asserts that no notification is pending once the call goroutine is idle.
func (rg *rig) noMore(id string) {
	rg.t.Helper()
	// A round trip through the call goroutine flushes anything it was about to send.
	if c := rg.cs.get(id); c != nil {
		c.post(context.Background(), callEvent{kind: evThen, fn: func() {}})
	}
	select {
	case n := <-rg.notes:
		rg.t.Fatalf("unexpected notification %s %+v", n.typ, n.st)
	default:
	}
}

func (rg *rig) waitState(id, state string) {
	rg.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rg.cs.waitState(ctx, id, state); err != nil {
		c := rg.cs.get(id)
		rg.t.Fatalf("wait %s: %v (call: %+v)", state, err, c.snapshot())
	}
}

func (rg *rig) info(id string) CallInfo {
	rg.t.Helper()
	c := rg.cs.get(id)
	if c == nil {
		rg.t.Fatalf("no call %s", id)
	}
	return c.snapshot()
}

func (rg *rig) action(id, action string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return rg.cs.doAction(ctx, id, action, args...)
}

// connectOutbound places an answered outbound call and consumes its notifications.
func (rg *rig) connectOutbound() string {
	rg.t.Helper()
	id := rg.start(testPeer)
	rg.expectStatus(id, yna.StatusInProgress, 183, true)
	rg.expectStatus(id, yna.StatusRinging, 180, false)
	rg.expectStatus(id, yna.StatusConnected, 200, false)
	rg.waitState(id, CallConnected)
	return id
}

// inject injects an inbound call to testLine and consumes the invitation.
func (rg *rig) inject(ringTimeout time.Duration) (string, yna.SessionInvitation) {
	rg.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, err := rg.cs.inject(ctx, InboundCall{Line: testLine, From: "+14255550123", Name: "Alice", RingTimeout: ringTimeout})
	if err != nil {
		rg.t.Fatal(err)
	}
	n := rg.next()
	if n.typ != yna.TypeSessionInvitation {
		rg.t.Fatalf("got %s, want invitation", n.typ)
	}
	return id, n.inv
}

// connectInbound injects and accepts an inbound call.
func (rg *rig) connectInbound() string {
	rg.t.Helper()
	id, _ := rg.inject(0)
	for _, step := range []struct {
		op   string
		body any
	}{{yna.OpInProgress, sdpBody("")}, {yna.OpRinging, nil}, {yna.OpConnected, sdpBody(testSDP(dirSendRecv))}} {
		if st, b := rg.op(step.op, id, step.body); st != http.StatusOK {
			rg.t.Fatalf("%s: %d %s", step.op, st, b)
		}
	}
	rg.waitState(id, CallConnected)
	return id
}
