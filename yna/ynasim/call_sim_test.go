package ynasim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// Tests of the call part against a real Sim on loopback: yna.Client (PoP-signed REST), the
// notification channel over a gorilla websocket (acked like the SDK), the control API over
// HTTP, and the real far end of package farend.

type callSimRig struct {
	*simRig
	cl  *yna.Client
	tok string
	ws  *websocket.Conn
}

func newCallSimRig(t *testing.T, fakeMedia bool) *callSimRig {
	t.Helper()
	rg := newSimRig(t, nil)
	if fakeMedia {
		rg.sim.calls.newFarEnd = func(ctx context.Context, _ CodecMode) (farEnd, error) { return &fakeFarEnd{}, nil }
	}
	tok, _, ws := rg.online()
	cl, err := yna.NewClient(yna.Config{BaseURL: rg.sim.URL(), ClientID: simClientID, ClientSecret: simSecret,
		Key: rg.key, Now: rg.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	return &callSimRig{simRig: rg, cl: cl, tok: tok, ws: ws}
}

func (rg *callSimRig) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	rg.t.Cleanup(cancel)
	return ctx
}

// note reads the next notification from the channel and acks it like the SDK (§6.4).
func (rg *callSimRig) note() yna.Notification {
	rg.t.Helper()
	for {
		f := readFrame(rg.t, rg.ws)
		if yna.IsPong([]byte(f)) {
			continue
		}
		msgID, ns, err := yna.DecodeFrame([]byte(f))
		if err != nil || len(ns) != 1 {
			rg.t.Fatalf("frame %s: %v", f, err)
		}
		writeText(rg.t, rg.ws, string(yna.EncodeAck(msgID)))
		return ns[0]
	}
}

func (rg *callSimRig) expect(id, status string, code int, withSDP bool) *yna.SessionStatus {
	rg.t.Helper()
	n := rg.note()
	st := n.Status
	if st == nil || st.Status != status || int(st.ResponseCode) != code || (st.SDP != "") != withSDP || n.CallID() != id {
		rg.t.Fatalf("notification %s %+v, want %s/%d sdp=%v for %s", n.Type, st, status, code, withSDP, id)
	}
	return st
}

// ctl sends a control API request and decodes the JSON answer into out (if non-nil).
func (rg *callSimRig) ctl(method, path string, body any, out any) int {
	rg.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, rg.sim.URL()+path, rd)
	res, err := rg.hc.Do(req)
	if err != nil {
		rg.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			rg.t.Fatalf("%s %s: %v (%s)", method, path, err, b)
		}
	}
	return res.StatusCode
}

func statusOf(err error) int {
	var ae *yna.APIError
	if errors.As(err, &ae) {
		return ae.HTTPStatus
	}
	return 0
}

func TestSimOutboundScriptsOverChannel(t *testing.T) {
	rg := newCallSimRig(t, true)
	ctx := rg.ctx()
	if st := rg.ctl(http.MethodPut, "/sim/numbers/4255550177", map[string]any{"behaviour": "busy"}, nil); st != 200 {
		t.Fatalf("put number: %d", st)
	}
	if st := rg.ctl(http.MethodPut, "/sim/numbers/14255550178", map[string]any{"behaviour": "decline", "delayMs": 1}, nil); st != 200 {
		t.Fatalf("put number: %d", st)
	}
	if st := rg.ctl(http.MethodPut, "/sim/numbers/14255550179", map[string]any{"behaviour": "sometimes"}, nil); st != 400 {
		t.Fatalf("bad behaviour: %d", st)
	}
	var nums map[string]Behaviour
	if rg.ctl(http.MethodGet, "/sim/numbers", nil, &nums); nums["14255550177"].Kind != BehaviourBusy || len(nums) != 2 {
		t.Fatalf("numbers %+v", nums)
	}

	offer := testSDP(dirSendRecv)
	// answered (default)
	res, err := rg.cl.Start(ctx, rg.tok, yna.StartRequest{From: simLine1, To: "14255550199", SDP: offer})
	if err != nil {
		t.Fatal(err)
	}
	id := res.CallID
	if res.From != simLine1 || res.To != "14255550199" || res.ClientCorrelator == "" {
		t.Fatalf("start response %+v", res)
	}
	rg.expect(id, yna.StatusInProgress, 183, true)
	rg.expect(id, yna.StatusRinging, 180, false)
	rg.expect(id, yna.StatusConnected, 200, false)
	if err := rg.sim.WaitCallState(ctx, id, CallConnected); err != nil {
		t.Fatal(err)
	}
	// every notification is acked; the event log shows it
	var ci CallInfo
	if st := rg.ctl(http.MethodGet, "/sim/calls/"+id, nil, &ci); st != 200 {
		t.Fatalf("get call: %d", st)
	}
	if !strings.HasPrefix(ci.CallObjectRef, rg.sim.URL()+"/cpaas/v1/call/"+simLine1+"/sessions/") {
		t.Fatalf("callObjectRef %s", ci.CallObjectRef)
	}
	if _, err := rg.WaitChannel(ctx, func(i ChannelInfo) bool { return len(i.Unacked) == 0 }); err != nil {
		t.Fatal(err)
	}
	ci, _ = rg.sim.Call(id)
	for _, e := range ci.EventsOf("notify", "") {
		if e.Ack != AckAcked {
			t.Fatalf("event %+v not acked", e)
		}
	}
	// the network hangs up via the control API
	var ar map[string]string
	if st := rg.ctl(http.MethodPost, "/sim/calls/"+id+"/actions", map[string]string{"action": "hangup"}, &ar); st != 200 || ar["state"] != CallTerminated {
		t.Fatalf("hangup: %d %v", st, ar)
	}
	rg.expect(id, yna.StatusTerminated, 200, false)
	if err := rg.cl.End(ctx, rg.tok, id, "", false); statusOf(err) != 404 {
		t.Fatalf("end after hangup: %v", err)
	}

	// busy and decline (10-digit number matched after normalization)
	for _, tc := range []struct {
		to    string
		notes []string
		code  int
	}{{"14255550177", nil, 486}, {"14255550178", []string{yna.StatusInProgress, yna.StatusRinging}, 603}} {
		res, err := rg.cl.Start(ctx, rg.tok, yna.StartRequest{From: simLine1, To: tc.to, SDP: offer})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tc.notes {
			n := rg.note()
			if n.Status == nil || n.Status.Status != s {
				t.Fatalf("%s: got %+v want %s", tc.to, n.Status, s)
			}
		}
		rg.expect(res.CallID, yna.StatusTerminated, tc.code, false)
		if _, err := rg.cl.Hold(ctx, rg.tok, res.CallID, testSDP(dirSendOnly)); statusOf(err) != 404 {
			t.Fatalf("hold on ended call: %v", err)
		}
	}
	var list struct{ Calls []CallInfo }
	if rg.ctl(http.MethodGet, "/sim/calls", nil, &list); len(list.Calls) != 3 || list.Calls[1].Outcome != OutcomeBusy || list.Calls[2].Outcome != OutcomeDeclined {
		t.Fatalf("calls %+v", list.Calls)
	}
}

// WaitChannel waits on the rig account's channel.
func (rg *callSimRig) WaitChannel(ctx context.Context, cond func(ChannelInfo) bool) (ChannelInfo, error) {
	return rg.sim.WaitChannel(ctx, "alice", cond)
}

func TestSimInboundOverChannel(t *testing.T) {
	rg := newCallSimRig(t, true)
	ctx := rg.ctx()
	var inj map[string]string
	if st := rg.ctl(http.MethodPost, "/sim/calls", map[string]any{"line": simLine1, "from": "2065550123", "name": "Bob"}, &inj); st != 201 {
		t.Fatalf("inject: %d", st)
	}
	id := inj["callId"]
	n := rg.note()
	if n.Invitation == nil || n.CallID() != id || n.Invitation.OriginatorAddress != "tel:+12065550123" ||
		n.Invitation.ReceiverAddress != "tel:+"+simLine1 || n.Invitation.SDP == "" || n.Invitation.OriginatorName != "Bob" {
		t.Fatalf("invitation %+v", n.Invitation)
	}
	empty := ""
	if err := rg.cl.InProgress(ctx, rg.tok, id, &empty); err != nil {
		t.Fatal(err)
	}
	if err := rg.cl.Ringing(ctx, rg.tok, id); err != nil {
		t.Fatal(err)
	}
	answer := testSDP(dirSendRecv)
	if _, err := rg.cl.Connected(ctx, rg.tok, id, &answer); err != nil {
		t.Fatal(err)
	}
	if err := rg.sim.WaitCallState(ctx, id, CallConnected); err != nil {
		t.Fatal(err)
	}
	// network hold → Hold with offer → /acceptHold
	if err := rg.sim.CallAction(ctx, id, ActionHold); err != nil {
		t.Fatal(err)
	}
	st := rg.expect(id, yna.StatusHold, 0, true)
	if st.Offer == nil || st.Offer.MediaIndicator == nil || st.Offer.MediaIndicator.Direction != yna.DirectionSendOnly {
		t.Fatalf("hold offer %+v", st.Offer)
	}
	if err := rg.cl.AcceptHold(ctx, rg.tok, id, testSDP(dirRecvOnly)); err != nil {
		t.Fatal(err)
	}
	if err := rg.sim.WaitCallState(ctx, id, CallHold); err != nil {
		t.Fatal(err)
	}
	if err := rg.sim.CallAction(ctx, id, ActionResume); err != nil {
		t.Fatal(err)
	}
	rg.expect(id, yna.StatusResume, 0, true)
	if err := rg.cl.AcceptResume(ctx, rg.tok, id, testSDP(dirSendRecv)); err != nil {
		t.Fatal(err)
	}
	if err := rg.sim.WaitCallState(ctx, id, CallConnected); err != nil {
		t.Fatal(err)
	}
	if err := rg.cl.End(ctx, rg.tok, id, "", false); err != nil {
		t.Fatal(err)
	}
	if err := rg.sim.WaitCallState(ctx, id, CallTerminated); err != nil {
		t.Fatal(err)
	}
	if ci, _ := rg.sim.Call(id); ci.Outcome != OutcomeEndedByClient {
		t.Fatalf("outcome %s", ci.Outcome)
	}

	// declined inbound call → voicemail; Go API injection
	id2, err := rg.sim.InjectCall(ctx, simLine2, "+442071234567")
	if err != nil {
		t.Fatal(err)
	}
	if n := rg.note(); n.Invitation == nil || n.Invitation.OriginatorAddress != "tel:+442071234567" {
		t.Fatalf("invitation %+v", n.Invitation)
	}
	if _, err := rg.cl.Connected(ctx, rg.tok, id2, &answer); statusOf(err) != 409 {
		t.Fatalf("connected before inProgress: %v", err)
	}
	if err := rg.cl.End(ctx, rg.tok, id2, "", false); err != nil {
		t.Fatal(err)
	}
	if ci, _ := rg.sim.Call(id2); ci.Outcome != OutcomeVoicemail {
		t.Fatalf("outcome %s", ci.Outcome)
	}
}

func TestSimCallControlErrors(t *testing.T) {
	rg := newCallSimRig(t, true)
	ctx := rg.ctx()
	cases := []struct {
		method, path string
		body         any
		want         int
	}{
		{http.MethodPost, "/sim/calls", map[string]any{"line": "14255550000", "from": "12065550123"}, 404},
		{http.MethodPost, "/sim/calls", map[string]any{"line": "x", "from": "12065550123"}, 400},
		{http.MethodPost, "/sim/calls", map[string]any{"lin": simLine1}, 400},
		{http.MethodGet, "/sim/calls/ABC", nil, 404},
		{http.MethodPost, "/sim/calls/ABC/actions", map[string]any{"action": "hangup"}, 404},
		{http.MethodPut, "/sim/numbers/abc", map[string]any{"behaviour": "busy"}, 400},
		{http.MethodPut, "/sim/calls/quirks", map[string]any{"connectedFirst": true, "bogus": 1}, 400},
	}
	for _, tc := range cases {
		if st := rg.ctl(tc.method, tc.path, tc.body, nil); st != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, st, tc.want)
		}
	}
	var q CallQuirks
	if st := rg.ctl(http.MethodPut, "/sim/calls/quirks", map[string]any{"holdOfferToHolder": true}, &q); st != 200 || !q.HoldOfferToHolder {
		t.Fatalf("put quirks: %d %+v", st, q)
	}
	if rg.ctl(http.MethodGet, "/sim/calls/quirks", nil, &q); !q.HoldOfferToHolder || q.ConnectedFirst {
		t.Fatalf("get quirks %+v", q)
	}
	id, err := rg.sim.InjectCall(ctx, simLine1, "12065550123")
	if err != nil {
		t.Fatal(err)
	}
	rg.note()
	for action, want := range map[string]int{"hold": 409, "answer": 409, "fly": 400} {
		if st := rg.ctl(http.MethodPost, "/sim/calls/"+id+"/actions", map[string]string{"action": action}, nil); st != want {
			t.Errorf("action %s: %d, want %d", action, st, want)
		}
	}
	if err := rg.sim.CallAction(ctx, "nope", ActionHangup); !errors.Is(err, ErrCallNotFound) {
		t.Fatalf("unknown call: %v", err)
	}
	if err := rg.sim.WaitCallState(ctx, "nope", CallConnected); !errors.Is(err, ErrCallNotFound) {
		t.Fatalf("wait unknown call: %v", err)
	}
	// a start from another account's line is forbidden
	if _, err := rg.cl.Start(ctx, rg.tok, yna.StartRequest{From: "14255550999", To: "14255550199", SDP: testSDP(dirSendRecv)}); statusOf(err) != 403 {
		t.Fatalf("start from foreign line: %v", err)
	}
	if err := rg.sim.CallAction(ctx, id, ActionCancel); err != nil {
		t.Fatal(err)
	}
	rg.expect(id, yna.StatusSessionCancelled, 487, false)
	if err := rg.sim.WaitCallState(ctx, id, CallConnected); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("wait on ended call: %v", err)
	}
}

// TestSimRealMedia runs an outbound call with the real far end; the client side is another
// farend.FarEnd (a pion PeerConnection on loopback). It checks media both ways, hold/resume
// renegotiation and DTMF from the far end.
func TestSimRealMedia(t *testing.T) {
	rg := newCallSimRig(t, false)
	ctx := rg.ctx()
	client, err := farend.New(farend.Config{AllowLoopback: true, ToneHz: 440})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	offer, err := client.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := rg.cl.Start(ctx, rg.tok, yna.StartRequest{From: simLine1, To: "14255550199", SDP: offer})
	if err != nil {
		t.Fatal(err)
	}
	id := res.CallID
	st := rg.expect(id, yna.StatusInProgress, 183, true)
	if err := client.SetAnswer(st.SDP); err != nil {
		t.Fatal(err)
	}
	rg.expect(id, yna.StatusRinging, 180, false)
	rg.expect(id, yna.StatusConnected, 200, false)
	if err := client.WaitPackets(ctx, 20); err != nil {
		t.Fatalf("no media from the far end: %v", err)
	}

	// client hold: the answer comes in the 200 body (recvonly), then a Hold notification
	hold, err := client.Reoffer(ctx, "sendonly")
	if err != nil {
		t.Fatal(err)
	}
	hr, err := rg.cl.Hold(ctx, rg.tok, id, hold)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := parseAudioSDP(hr.SDP); hr.Status != "Hold" || d != dirRecvOnly {
		t.Fatalf("hold answer %s %s", hr.Status, d)
	}
	if err := client.SetAnswer(hr.SDP); err != nil {
		t.Fatal(err)
	}
	if n := rg.expect(id, yna.StatusHold, 0, true); n.Offer != nil {
		t.Fatal("holder notification carries an offer")
	}
	resume, err := client.Reoffer(ctx, "sendrecv")
	if err != nil {
		t.Fatal(err)
	}
	rr, err := rg.cl.Resume(ctx, rg.tok, id, resume)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.SetAnswer(rr.SDP); err != nil {
		t.Fatal(err)
	}
	rg.expect(id, yna.StatusConnected, 200, false)

	if err := rg.sim.CallAction(ctx, id, ActionDTMF, "12#"); err != nil {
		t.Fatal(err)
	}
	if err := client.WaitDigits(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if got := client.Stats().Digits; got != "12#" {
		t.Fatalf("digits %q", got)
	}
	ci, _ := rg.sim.Call(id)
	ms, ok := ci.Media.(farend.Stats)
	if !ok || ms.PacketsSent == 0 || ms.Codec == "" {
		t.Fatalf("far end stats %+v", ci.Media)
	}
	if err := rg.cl.End(ctx, rg.tok, id, "", false); err != nil {
		t.Fatal(err)
	}
	if err := rg.sim.WaitCallState(ctx, id, CallTerminated); err != nil {
		t.Fatal(err)
	}
}
