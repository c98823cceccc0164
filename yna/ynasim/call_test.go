package ynasim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna"
)

func TestOutboundAnswered(t *testing.T) {
	rg := newRig(t)
	id := rg.start(testPeer)
	if !regexp.MustCompile(`^[0-9A-F]{80,}$`).MatchString(id) {
		t.Fatalf("callId %q is not 80+ upper-case hex", id)
	}
	n := rg.expectStatus(id, yna.StatusInProgress, 183, true)
	if d, err := parseAudioSDP(n.st.SDP); err != nil || d != dirSendRecv {
		t.Fatalf("183 sdp direction %q %v", d, err)
	}
	if n.st.NotificationReference == nil || n.st.NotificationReference.SequenceNumber != 1 {
		t.Fatalf("notificationReference = %+v", n.st.NotificationReference)
	}
	rg.expectStatus(id, yna.StatusRinging, 180, false)
	rg.expectStatus(id, yna.StatusConnected, 200, false)
	rg.waitState(id, CallConnected)
	ci := rg.info(id)
	if ci.Outcome != OutcomeAnswered || ci.Direction != DirectionOutbound || ci.Line != testLine || ci.Peer != testPeer {
		t.Fatalf("info = %+v", ci)
	}
	// §18.1: the /start response is out before the first notification.
	var order []string
	for _, e := range ci.Events {
		if e.Kind == "rest" || e.Kind == "notify" {
			order = append(order, e.Name)
		}
	}
	want := []string{yna.OpStart, "startResponseWritten", yna.StatusInProgress, yna.StatusRinging, yna.StatusConnected}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("event order %v, want %v", order, want)
	}
	for _, e := range ci.EventsOf("notify", "") {
		if e.MsgID == "" || e.Ack != "acked" {
			t.Fatalf("notify event without msgId/ack: %+v", e)
		}
	}
	if ci.Media == nil {
		t.Fatal("no media stats")
	}
}

func TestOutboundBehaviours(t *testing.T) {
	type note struct {
		status string
		code   int
		sdp    bool
	}
	prog, ring := note{yna.StatusInProgress, 183, true}, note{yna.StatusRinging, 180, false}
	cases := []struct {
		name    string
		b       Behaviour
		quirks  CallQuirks
		notes   []note
		state   string
		outcome string
	}{
		{"answerAfter", Behaviour{Kind: BehaviourAnswerAfter, DelayMs: 5}, CallQuirks{}, []note{prog, ring, {yna.StatusConnected, 200, false}}, CallConnected, OutcomeAnswered},
		{"busy", Behaviour{Kind: BehaviourBusy}, CallQuirks{}, []note{{yna.StatusTerminated, 486, false}}, CallTerminated, OutcomeBusy},
		{"decline", Behaviour{Kind: BehaviourDecline}, CallQuirks{}, []note{prog, ring, {yna.StatusTerminated, 603, false}}, CallTerminated, OutcomeDeclined},
		{"noAnswer", Behaviour{Kind: BehaviourNoAnswer, DelayMs: 10}, CallQuirks{}, []note{prog, ring, {yna.StatusTerminated, 480, false}}, CallTerminated, OutcomeNoAnswer},
		{"notReachable", Behaviour{Kind: BehaviourNotReachable}, CallQuirks{}, []note{{yna.StatusTerminated, 480, false}}, CallTerminated, OutcomeNotReachable},
		{"earlyMediaOnly", Behaviour{Kind: BehaviourEarlyMediaOnly, DelayMs: 10}, CallQuirks{}, []note{prog, {yna.StatusTerminated, 480, false}}, CallTerminated, OutcomeNoAnswer},
		{"connectedFirst", Behaviour{Kind: BehaviourAnswer}, CallQuirks{ConnectedFirst: true}, []note{{yna.StatusConnected, 200, true}}, CallConnected, OutcomeAnswered},
		{"connectedRepeatsSdp", Behaviour{Kind: BehaviourAnswer}, CallQuirks{ConnectedRepeatsSDP: true}, []note{prog, ring, {yna.StatusConnected, 200, true}}, CallConnected, OutcomeAnswered},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rg := newRig(t)
			if err := rg.cs.setBehaviour("+1 425 555 0199", tc.b); err != nil {
				t.Fatal(err)
			}
			rg.cs.setQuirks(tc.quirks)
			id := rg.start(testPeer)
			for _, n := range tc.notes {
				rg.expectStatus(id, n.status, n.code, n.sdp)
			}
			rg.waitState(id, tc.state)
			rg.noMore(id)
			if ci := rg.info(id); ci.Outcome != tc.outcome || ci.Behaviour != tc.b {
				t.Fatalf("outcome %q behaviour %+v, want %q %+v", ci.Outcome, ci.Behaviour, tc.outcome, tc.b)
			}
		})
	}
}

func TestOutboundManual(t *testing.T) {
	rg := newRig(t)
	if err := rg.cs.setBehaviour(testPeer, Behaviour{Kind: BehaviourManual}); err != nil {
		t.Fatal(err)
	}
	id := rg.start(testPeer)
	rg.noMore(id)
	if err := rg.action(id, ActionRing); err != nil {
		t.Fatal(err)
	}
	rg.expectStatus(id, yna.StatusRinging, 180, false)
	if err := rg.action(id, ActionProgress); !errors.Is(err, ErrWrongState) {
		t.Fatalf("progress after ring: %v", err)
	}
	if err := rg.action(id, ActionAnswer); err != nil {
		t.Fatal(err)
	}
	// answer sends the missing SDP in Connected (183 was skipped)
	rg.expectStatus(id, yna.StatusConnected, 200, true)
	rg.waitState(id, CallConnected)
	if err := rg.action(id, ActionBusy); !errors.Is(err, ErrWrongState) {
		t.Fatalf("busy after answer: %v", err)
	}
	if err := rg.action(id, "bogus"); !errors.Is(err, ErrBadAction) {
		t.Fatalf("bogus action: %v", err)
	}
	if err := rg.action(id, ActionHangup); err != nil {
		t.Fatal(err)
	}
	rg.expectStatus(id, yna.StatusTerminated, 200, false)
	if ci := rg.info(id); ci.State != CallTerminated || ci.Outcome != OutcomeEndedByNetwork {
		t.Fatalf("after hangup: %s %s", ci.State, ci.Outcome)
	}
	if st, _ := rg.op(yna.OpHold, id, sdpBody(testSDP(dirSendOnly))); st != http.StatusNotFound {
		t.Fatalf("hold after hangup: %d", st)
	}
	if err := rg.action(id, ActionHangup); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("action on ended call: %v", err)
	}
}

func TestStartValidation(t *testing.T) {
	rg := newRig(t)
	good := func() map[string]any {
		return map[string]any{"from": testLine, "to": testPeer, "sdp": testSDP(dirSendRecv), "clientCorrelator": "c1"}
	}
	with := func(k string, v any) map[string]any {
		m := good()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name string
		body any
		want int
	}{
		{"not json", "{", http.StatusBadRequest},
		{"array", "[]", http.StatusBadRequest},
		{"no from", with("from", nil), http.StatusBadRequest},
		{"no to", with("to", nil), http.StatusBadRequest},
		{"no sdp", with("sdp", nil), http.StatusBadRequest},
		{"no correlator", with("clientCorrelator", nil), http.StatusBadRequest},
		{"from number", with("from", 14255550100), http.StatusBadRequest},
		{"from 10 digits", with("from", "4255550100"), http.StatusBadRequest},
		{"from other account", with("from", testLine2), http.StatusForbidden},
		{"to empty", with("to", ""), http.StatusBadRequest},
		{"to letters", with("to", "bob"), http.StatusBadRequest},
		{"to emergency", with("to", "911"), http.StatusForbidden},
		{"sdp garbage", with("sdp", "hello"), http.StatusBadRequest},
		{"sdp empty", with("sdp", ""), http.StatusBadRequest},
		{"sdp no audio", with("sdp", strings.Replace(testSDP(dirSendRecv), "m=audio", "m=video", 1)), http.StatusBadRequest},
		{"sdp inactive", with("sdp", testSDP(dirInactive)), http.StatusBadRequest},
		{"correlator empty", with("clientCorrelator", " "), http.StatusBadRequest},
		{"international ok", with("to", "+442071234567"), http.StatusCreated},
		{"good", good(), http.StatusCreated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, body := rg.do("acct-a", http.MethodPost, yna.CallPath(yna.OpStart, ""), tc.body)
			if st != tc.want {
				t.Fatalf("status %d (%s), want %d", st, body, tc.want)
			}
			if st >= 400 {
				var eb yna.ErrorBody
				if err := json.Unmarshal(body, &eb); err != nil || len(eb.Errors) != 1 || eb.Errors[0].ReasonCode == "" {
					t.Fatalf("error body %s", body)
				}
			}
		})
	}
}

func TestCallOpErrors(t *testing.T) {
	rg := newRig(t)
	out := rg.connectOutbound()
	in, _ := rg.inject(0)
	ended := rg.start(testPeer)
	rg.expectStatus(ended, yna.StatusInProgress, 183, true)
	rg.expectStatus(ended, yna.StatusRinging, 180, false)
	rg.expectStatus(ended, yna.StatusConnected, 200, false)
	if st, _ := rg.op(yna.OpEnd, ended, nil); st != http.StatusOK {
		t.Fatalf("end: %d", st)
	}
	send, recv, sr := sdpBody(testSDP(dirSendOnly)), sdpBody(testSDP(dirRecvOnly)), sdpBody(testSDP(dirSendRecv))
	cases := []struct {
		name string
		acct string
		op   string
		id   string
		body any
		hdr  []string
		want int
	}{
		{"unknown id", "acct-a", yna.OpHold, "00FF", send, nil, 404},
		{"other account", "acct-b", yna.OpHold, out, send, nil, 404},
		{"other account end", "acct-b", yna.OpEnd, out, nil, []string{"Reason", "NORMAL_USER_DISCONNECT"}, 404},
		{"ended call", "acct-a", yna.OpHold, ended, send, nil, 404},
		{"inProgress outbound", "acct-a", yna.OpInProgress, out, sdpBody(""), nil, 403},
		{"ringing outbound", "acct-a", yna.OpRinging, out, nil, nil, 403},
		{"connected outbound", "acct-a", yna.OpConnected, out, sr, nil, 403},
		{"hold no body", "acct-a", yna.OpHold, out, nil, nil, 400},
		{"hold no sdp", "acct-a", yna.OpHold, out, map[string]string{}, nil, 400},
		{"hold sdp number", "acct-a", yna.OpHold, out, map[string]int{"sdp": 1}, nil, 400},
		{"hold bad sdp", "acct-a", yna.OpHold, out, sdpBody("v=0 nonsense"), nil, 400},
		{"hold sendrecv", "acct-a", yna.OpHold, out, sr, nil, 400},
		{"hold before connected", "acct-a", yna.OpHold, in, send, nil, 409},
		{"resume not held", "acct-a", yna.OpResume, out, sr, nil, 409},
		{"resume sendonly", "acct-a", yna.OpResume, out, send, nil, 400},
		{"acceptHold none pending", "acct-a", yna.OpAcceptHold, out, recv, nil, 409},
		{"acceptHold sendrecv", "acct-a", yna.OpAcceptHold, out, sr, nil, 400},
		{"acceptResume none pending", "acct-a", yna.OpAcceptResume, out, sr, nil, 409},
		{"proceeding", "acct-a", yna.OpProceeding, out, sr, nil, 409},
		{"proceeding no sdp", "acct-a", yna.OpProceeding, out, map[string]string{}, nil, 400},
		{"update", "acct-a", yna.OpUpdate, out, sr, nil, 409},
		{"renegotiate inbound unanswered", "acct-a", yna.OpRenegotiate, in, sr, nil, 409},
		{"connected before inProgress", "acct-a", yna.OpConnected, in, sr, nil, 409},
		{"inProgress bad json", "acct-a", yna.OpInProgress, in, "{", nil, 400},
		{"end without reason", "acct-a", yna.OpEnd, out, nil, []string{"Conference", "false"}, 400},
		{"end bad conference", "acct-a", yna.OpEnd, out, nil, []string{"Reason", "NORMAL_USER_DISCONNECT", "Conference", "maybe"}, 400},
		{"end wrong method", "acct-a", "end-post", out, nil, nil, 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, op := http.MethodPost, tc.op
			if op == yna.OpEnd {
				method = http.MethodDelete
			}
			if op == "end-post" {
				op = yna.OpEnd
			}
			st, body := rg.do(tc.acct, method, yna.CallPath(op, tc.id), tc.body, tc.hdr...)
			if st != tc.want {
				t.Fatalf("status %d (%s), want %d", st, body, tc.want)
			}
		})
	}
	// the errors did not disturb the calls
	if ci := rg.info(out); ci.State != CallConnected {
		t.Fatalf("outbound call is %s", ci.State)
	}
	if ci := rg.info(in); ci.State != CallInitial {
		t.Fatalf("inbound call is %s", ci.State)
	}
	// the 409s and 400s are in the event log
	if evs := rg.info(out).EventsOf("rest", yna.OpHold); len(evs) < 5 || evs[0].HTTPStatus != 400 {
		t.Fatalf("hold events %+v", evs)
	}
}

func TestClientHoldResume(t *testing.T) {
	for _, quirk := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "quirks"}[quirk], func(t *testing.T) {
			rg := newRig(t)
			rg.cs.setQuirks(CallQuirks{HoldOfferToHolder: quirk, SDPAfterEstablished: quirk})
			id := rg.connectOutbound()
			st, body := rg.op(yna.OpHold, id, sdpBody(testSDP(dirSendOnly)))
			if st != http.StatusOK {
				t.Fatalf("hold: %d %s", st, body)
			}
			var res yna.SDPResult
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatal(err)
			}
			if d, _ := parseAudioSDP(res.SDP); res.Status != "Hold" || d != dirRecvOnly ||
				res.ReceiverSessionStatus == nil || res.ReceiverSessionStatus.SDP != res.SDP || res.ReceiverSessionStatus.Status != "Hold" {
				t.Fatalf("hold result %s", body)
			}
			n := rg.expectStatus(id, yna.StatusHold, 0, true)
			if (n.st.Offer != nil) != quirk {
				t.Fatalf("holder notification offer=%v, want %v", n.st.Offer != nil, quirk)
			}
			rg.waitState(id, CallHold)
			if st, _ := rg.op(yna.OpHold, id, sdpBody(testSDP(dirInactive))); st != http.StatusConflict {
				t.Fatalf("second hold: %d", st)
			}
			st, body = rg.op(yna.OpResume, id, sdpBody(testSDP(dirSendRecv)))
			if st != http.StatusOK {
				t.Fatalf("resume: %d %s", st, body)
			}
			res = yna.SDPResult{}
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatal(err)
			}
			if d, _ := parseAudioSDP(res.SDP); res.Status != "Connected" || d != dirSendRecv {
				t.Fatalf("resume result %s", body)
			}
			rg.expectStatus(id, yna.StatusConnected, 200, quirk)
			rg.waitState(id, CallConnected)
			rg.noMore(id)
		})
	}
}

func TestNetworkHoldResumeReofferDTMF(t *testing.T) {
	rg := newRig(t)
	id := rg.connectInbound()
	rg.noMore(id) // no notification to the callee after /connected
	fe := rg.lastFarEnd()

	if err := rg.action(id, ActionResume); !errors.Is(err, ErrWrongState) {
		t.Fatalf("resume while not held: %v", err)
	}
	if err := rg.action(id, ActionHold); err != nil {
		t.Fatal(err)
	}
	n := rg.expectStatus(id, yna.StatusHold, 0, true)
	if d, _ := parseAudioSDP(n.st.SDP); d != dirSendOnly || n.st.Offer == nil || n.st.Offer.MediaIndicator == nil ||
		*n.st.Offer.MediaIndicator != (yna.MediaIndicator{Type: "audio", Direction: yna.DirectionSendOnly}) {
		t.Fatalf("hold notification %+v", n.st)
	}
	if info := rg.info(id); info.Pending != pendingAcceptHold || info.State != CallConnected {
		t.Fatalf("pending %q state %s", info.Pending, info.State)
	}
	if err := rg.action(id, ActionHold); !errors.Is(err, ErrWrongState) {
		t.Fatalf("hold while pending: %v", err)
	}
	if st, _ := rg.op(yna.OpHold, id, sdpBody(testSDP(dirSendOnly))); st != http.StatusConflict {
		t.Fatalf("client hold during network hold: %d", st)
	}
	if st, b := rg.op(yna.OpAcceptHold, id, sdpBody(testSDP(dirRecvOnly))); st != http.StatusOK {
		t.Fatalf("acceptHold %d %s", st, b)
	}
	rg.waitState(id, CallHold)
	if ci := rg.info(id); !ci.HeldByNetwork || ci.HeldByClient {
		t.Fatalf("held flags %+v", ci)
	}
	// the client may hold too (inactive offer), then resume
	st, body := rg.op(yna.OpHold, id, sdpBody(testSDP(dirInactive)))
	if st != http.StatusOK {
		t.Fatalf("hold while held: %d %s", st, body)
	}
	rg.expectStatus(id, yna.StatusHold, 0, true)
	if st, _ := rg.op(yna.OpResume, id, sdpBody(testSDP(dirSendRecv))); st != http.StatusOK {
		t.Fatalf("client resume: %d", st)
	}
	rg.expectStatus(id, yna.StatusConnected, 200, false)
	if ci := rg.info(id); ci.State != CallHold || ci.HeldByClient {
		t.Fatalf("after client resume: %+v", ci)
	}

	if err := rg.action(id, ActionResume); err != nil {
		t.Fatal(err)
	}
	n = rg.expectStatus(id, yna.StatusResume, 0, true)
	if d, _ := parseAudioSDP(n.st.SDP); d != dirSendRecv || n.st.Offer == nil || n.st.Offer.MediaIndicator.Direction != yna.DirectionSendRecv {
		t.Fatalf("resume notification %+v", n.st)
	}
	if st, _ := rg.op(yna.OpAcceptResume, id, sdpBody(testSDP(dirRecvOnly))); st != http.StatusBadRequest {
		t.Fatalf("acceptResume recvonly: %d", st)
	}
	if st, _ := rg.op(yna.OpAcceptResume, id, sdpBody(testSDP(dirSendRecv))); st != http.StatusOK {
		t.Fatalf("acceptResume: %d", st)
	}
	rg.waitState(id, CallConnected)

	if err := rg.action(id, ActionReoffer); err != nil {
		t.Fatal(err)
	}
	n = rg.expectStatus(id, yna.StatusConnected, 200, true)
	if n.st.Offer != nil {
		t.Fatal("re-offer carries an offer member")
	}
	if st, _ := rg.op(yna.OpConnected, id, sdpBody(testSDP(dirSendRecv))); st != http.StatusOK {
		t.Fatalf("connected answer: %d", st)
	}
	if ci := rg.info(id); ci.Pending != "" {
		t.Fatalf("pending %q after re-offer answer", ci.Pending)
	}
	if st, _ := rg.op(yna.OpConnected, id, sdpBody(testSDP(dirSendRecv))); st != http.StatusConflict {
		t.Fatalf("second connected: %d", st)
	}

	if err := rg.action(id, ActionDTMF, "x"); !errors.Is(err, ErrBadAction) {
		t.Fatalf("bad digits: %v", err)
	}
	if err := rg.action(id, ActionDTMF, "12#"); err != nil {
		t.Fatal(err)
	}
	fe.mu.Lock()
	digits, answers := fe.digits, len(fe.answers)
	fe.mu.Unlock()
	if digits != "12#" || answers != 4 { // connected, acceptHold, acceptResume, re-offer answer
		t.Fatalf("far end digits %q answers %d", digits, answers)
	}
	if st, _ := rg.op(yna.OpEnd, id, nil); st != http.StatusOK {
		t.Fatal("end")
	}
	rg.noMore(id)
	if ci := rg.info(id); ci.Outcome != OutcomeEndedByClient {
		t.Fatalf("outcome %s", ci.Outcome)
	} else if ends := ci.EventsOf("rest", yna.OpEnd); len(ends) != 1 || ends[0].Detail != "Reason: "+yna.ReasonNormalUserDisconnect {
		t.Fatalf("end events %+v, want the Reason header recorded", ends)
	}
	fe.mu.Lock()
	closed := fe.closed
	fe.mu.Unlock()
	if !closed {
		t.Fatal("far end not closed")
	}
}

func TestInbound(t *testing.T) {
	t.Run("accept", func(t *testing.T) {
		rg := newRig(t)
		id, inv := rg.inject(0)
		if inv.OriginatorAddress != "tel:+14255550123" || inv.ReceiverAddress != "tel:+"+testLine ||
			yna.CallIDFromRef(inv.CallObjectRef) != id || !strings.Contains(inv.CallObjectRef, "/cpaas/v1/call/"+testLine+"/sessions/") ||
			inv.ServerCorrelator == "" || inv.VerificationStatus != "TN-Validation-Passed" || inv.OriginatorName != "Alice" {
			t.Fatalf("invitation %+v", inv)
		}
		if d, err := parseAudioSDP(inv.SDP); err != nil || d != dirSendRecv {
			t.Fatalf("invitation sdp: %q %v", d, err)
		}
		if st, _ := rg.op(yna.OpInProgress, id, sdpBody("")); st != 200 {
			t.Fatal("inProgress")
		}
		if st, _ := rg.op(yna.OpInProgress, id, sdpBody("")); st != 409 {
			t.Fatal("second inProgress")
		}
		if st, _ := rg.op(yna.OpRinging, id, nil); st != 200 {
			t.Fatal("ringing")
		}
		if st, _ := rg.op(yna.OpConnected, id, map[string]string{}); st != 400 {
			t.Fatal("connected without sdp")
		}
		if st, _ := rg.op(yna.OpConnected, id, sdpBody(testSDP(dirSendRecv))); st != 200 {
			t.Fatal("connected")
		}
		rg.waitState(id, CallConnected)
		if st, _ := rg.op(yna.OpRinging, id, nil); st != 409 {
			t.Fatal("ringing after connected")
		}
		rg.noMore(id)
		if ci := rg.info(id); ci.Outcome != OutcomeAnswered || ci.Answered.IsZero() {
			t.Fatalf("info %+v", ci)
		}
	})
	t.Run("quirk sdpAfterEstablished", func(t *testing.T) {
		rg := newRig(t)
		rg.cs.setQuirks(CallQuirks{SDPAfterEstablished: true})
		id := rg.connectInbound()
		rg.expectStatus(id, yna.StatusConnected, 200, true)
	})
	t.Run("decline to voicemail", func(t *testing.T) {
		rg := newRig(t)
		id, _ := rg.inject(0)
		rg.op(yna.OpInProgress, id, sdpBody(""))
		rg.op(yna.OpRinging, id, nil)
		if st, _ := rg.op(yna.OpEnd, id, nil); st != 200 {
			t.Fatal("end")
		}
		rg.waitState(id, CallTerminated)
		rg.noMore(id)
		if ci := rg.info(id); ci.Outcome != OutcomeVoicemail {
			t.Fatalf("outcome %s", ci.Outcome)
		}
	})
	for _, tc := range []struct {
		action  string
		status  string
		code    int
		outcome string
	}{
		{ActionCancel, yna.StatusSessionCancelled, 487, OutcomeCancelled},
		{ActionAnswerOnMobile, yna.StatusSessionCancelled, 200, OutcomeAnsweredOnMobile},
	} {
		t.Run(tc.action, func(t *testing.T) {
			rg := newRig(t)
			id, _ := rg.inject(0)
			rg.op(yna.OpInProgress, id, sdpBody(""))
			if err := rg.action(id, ActionAnswer); !errors.Is(err, ErrWrongState) {
				t.Fatalf("outbound action on inbound call: %v", err)
			}
			if err := rg.action(id, tc.action); err != nil {
				t.Fatal(err)
			}
			rg.expectStatus(id, tc.status, tc.code, false)
			if ci := rg.info(id); ci.State != CallTerminated || ci.Outcome != tc.outcome {
				t.Fatalf("state %s outcome %s", ci.State, ci.Outcome)
			}
			if st, _ := rg.op(yna.OpConnected, id, sdpBody(testSDP(dirSendRecv))); st != 404 {
				t.Fatalf("connected after cancel: %d", st)
			}
		})
	}
	t.Run("ring timeout", func(t *testing.T) {
		rg := newRig(t)
		id, _ := rg.inject(20 * time.Millisecond)
		rg.expectStatus(id, yna.StatusSessionCancelled, 487, false)
		rg.waitState(id, CallTerminated)
		if ci := rg.info(id); ci.Outcome != OutcomeRingTimeout {
			t.Fatalf("outcome %s", ci.Outcome)
		}
	})
	t.Run("bad injections", func(t *testing.T) {
		rg := newRig(t)
		ctx := t.Context()
		if _, err := rg.cs.inject(ctx, InboundCall{Line: "14255550000", From: testPeer}); !errors.Is(err, ErrNoAccount) {
			t.Fatalf("unknown line: %v", err)
		}
		if _, err := rg.cs.inject(ctx, InboundCall{Line: "12", From: testPeer}); !errors.Is(err, ErrBadAction) {
			t.Fatalf("bad line: %v", err)
		}
		if _, err := rg.cs.inject(ctx, InboundCall{Line: testLine, From: "x"}); !errors.Is(err, ErrBadAction) {
			t.Fatalf("bad from: %v", err)
		}
	})
}

func TestFarEndFailure(t *testing.T) {
	rg := newRig(t)
	next := rg.cs.newFarEnd
	rg.cs.newFarEnd = func(ctx context.Context, m CodecMode) (farEnd, error) {
		fe, _ := next(ctx, m)
		fe.(*fakeFarEnd).failNext = errors.New("boom")
		return fe, nil
	}
	id := rg.start(testPeer)
	rg.expectStatus(id, yna.StatusTerminated, 488, false)
	rg.waitState(id, CallTerminated)
	if ci := rg.info(id); ci.Outcome != OutcomeMediaFailed || len(ci.EventsOf("media", "answer")) != 1 {
		t.Fatalf("info %+v", ci)
	}
	ctx := t.Context()
	if _, err := rg.cs.inject(ctx, InboundCall{Line: testLine, From: testPeer}); !errors.Is(err, ErrMedia) {
		t.Fatalf("inject with failing far end: %v", err)
	}
}

func TestRenegotiateAndWaitCall(t *testing.T) {
	rg := newRig(t)
	ctx := t.Context()
	done := make(chan string, 1)
	go func() {
		id, err := rg.cs.waitCall(ctx, func(ci CallInfo) bool { return ci.Peer == testPeer && ci.State == CallConnected })
		if err != nil {
			id = "error: " + err.Error()
		}
		done <- id
	}()
	id := rg.connectOutbound()
	select {
	case got := <-done:
		if got != id {
			t.Fatalf("waitCall = %q, want %s", got, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitCall did not return")
	}
	st, body := rg.op(yna.OpRenegotiate, id, sdpBody(testSDP(dirSendRecv)))
	if st != http.StatusOK {
		t.Fatalf("renegotiate: %d %s", st, body)
	}
	var res yna.SDPResult
	if err := json.Unmarshal(body, &res); err != nil || res.SDP == "" || res.Status != yna.StatusConnected {
		t.Fatalf("renegotiate result %s", body)
	}
	rg.noMore(id)
	fe := rg.lastFarEnd()
	fe.mu.Lock()
	ops := append([]string(nil), fe.ops...)
	fe.mu.Unlock()
	if ops[len(ops)-1] != "answerReoffer" {
		t.Fatalf("far end ops %v", ops)
	}
}

// BenchmarkOutboundCall measures a full outbound call over loopback HTTP with a fake far end:
// /start, the three notifications, DELETE /end.
func BenchmarkOutboundCall(b *testing.B) {
	rg := newRig(b)
	rg.cs.startNotifyDelay = 0
	for b.Loop() {
		id := rg.start(testPeer)
		for range 3 {
			rg.next()
		}
		rg.waitState(id, CallConnected)
		if st, _ := rg.op(yna.OpEnd, id, nil); st != http.StatusOK {
			b.Fatal("end")
		}
	}
}
