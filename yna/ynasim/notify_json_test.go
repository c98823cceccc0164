package ynasim

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna"
)

// Every notification ynasim sends, checked as raw JSON against the fact sheet: the §6.3
// envelope, the members of §8.1 / §8.2 the SDK reads (callObjectRef, status, numeric
// responseCode, sdp, offer with object mediaIndicator), the dispatch consequences of §8.3
// and the flows of §9 (Hold to the holder without offer, remote Hold/Resume with
// offer.mediaIndicator, no SDP after an established inbound call or a client resume, first
// outbound notification not Connected).

// wireNote is one notification as it came over the socket.
type wireNote struct {
	typ  string
	body map[string]any // the notification object
	raw  string
}

// rawNote reads the next notification frame, acks it and returns it undecoded.
func (rg *callSimRig) rawNote() wireNote {
	rg.t.Helper()
	for {
		f := readFrame(rg.t, rg.ws)
		if yna.IsPong([]byte(f)) {
			continue
		}
		var env struct {
			NsMsg map[string]json.RawMessage `json:"nsMsg"`
		}
		dec := json.NewDecoder(strings.NewReader(f))
		dec.UseNumber()
		if err := dec.Decode(&env); err != nil || env.NsMsg == nil {
			rg.t.Fatalf("frame is not an nsMsg envelope (§6.3): %v %s", err, f)
		}
		var msgID string
		if err := json.Unmarshal(env.NsMsg["msgId"], &msgID); err != nil {
			rg.t.Fatalf("msgId is not a string (§6.3): %s", f)
		}
		var content map[string]json.RawMessage
		if err := json.Unmarshal(env.NsMsg["content"], &content); err != nil || len(content) != 1 {
			rg.t.Fatalf("content must hold exactly one notification (§6.3): %s", f)
		}
		writeText(rg.t, rg.ws, string(yna.EncodeAck(json.RawMessage(env.NsMsg["msgId"]))))
		for typ, raw := range content {
			var body map[string]any
			d := json.NewDecoder(bytes.NewReader(raw))
			d.UseNumber()
			if err := d.Decode(&body); err != nil {
				rg.t.Fatalf("%s is not an object: %s", typ, raw)
			}
			return wireNote{typ: typ, body: body, raw: string(raw)}
		}
	}
}

// wantNote is what one notification must look like.
type wantNote struct {
	status string
	code   int    // responseCode; 0 = must be absent
	sdpDir string // direction of the SDP; "" = no sdp member
	offer  string // offer.mediaIndicator.direction; "" = no offer member
}

// statusEnum is the status enum of §8.2 (plus the SDK's VideoUpgrade/VideoDowngrade).
var statusEnum = map[string]bool{}

func init() {
	for _, s := range []string{"Initial", "InProgress", "Ringing", "Proceeding", "Connected", "Terminated", "Hold",
		"Resume", "SessionCancelled", "Declined", "Failed", "Waiting", "NoAnswer", "NotReachable", "Busy", "Forwarded",
		"UpgradeToMeetingInitiated", "UpgradeToMeetingInProgress", "UpgradeToMeetingSuccess", "UpgradeToMeetingFailed",
		"VideoUpgrade", "VideoDowngrade"} {
		statusEnum[s] = true
	}
}

var mediaDirections = map[string]string{"SendRecv": dirSendRecv, "SendOnly": dirSendOnly, "RecvOnly": dirRecvOnly, "Inactive": dirInactive}

// checkStatus checks one sessionStatusNotification against §8.2/§8.3 and want; lastSeq is the
// call's previous notificationReference.sequenceNumber.
func checkStatus(t *testing.T, n wireNote, id string, want wantNote, lastSeq *int64) {
	t.Helper()
	if n.typ != yna.TypeSessionStatus {
		t.Fatalf("type %s, want %s: %s", n.typ, yna.TypeSessionStatus, n.raw)
	}
	b := n.body
	ref, ok := b["callObjectRef"].(string)
	if !ok || ref[strings.LastIndex(ref, "/")+1:] != id || !strings.Contains(ref, "/sessions/") {
		t.Errorf("callObjectRef %v: must be a string whose last segment is the callId (§8.2, §14.6)", b["callObjectRef"])
	}
	st, _ := b["status"].(string)
	if !statusEnum[st] || st != want.status {
		t.Errorf("status %v, want %s", b["status"], want.status)
	}
	switch rc := b["responseCode"].(type) {
	case nil:
		if want.code != 0 {
			t.Errorf("%s: no responseCode, want %d (§14.6)", st, want.code)
		}
	case json.Number:
		if v, err := rc.Int64(); err != nil || int(v) != want.code {
			t.Errorf("%s: responseCode %v, want %d", st, rc, want.code)
		}
	default:
		t.Errorf("%s: responseCode %T %v is not a JSON number (§11)", st, rc, rc)
	}
	sdpText, hasSDP := b["sdp"].(string)
	switch {
	case want.sdpDir == "" && hasSDP:
		t.Errorf("%s/%d carries sdp; none expected (§8.3, §14.12)", st, want.code)
	case want.sdpDir != "" && !hasSDP:
		t.Errorf("%s/%d: no sdp, want a=%s", st, want.code, want.sdpDir)
	case hasSDP:
		if d, err := parseAudioSDP(sdpText); err != nil || d != want.sdpDir {
			t.Errorf("%s: sdp direction %s (%v), want %s", st, d, err, want.sdpDir)
		}
	}
	offer, hasOffer := b["offer"]
	switch {
	case want.offer == "" && hasOffer:
		t.Errorf("%s carries an offer member; the SDK would answer it (§8.3, §9.4): %s", st, n.raw)
	case want.offer != "":
		o, ok := offer.(map[string]any)
		if !ok {
			t.Fatalf("%s: offer %T must be an object (§8.2: the SDK dereferences offer.mediaIndicator)", st, offer)
		}
		mi, ok := o["mediaIndicator"].(map[string]any)
		if !ok {
			t.Fatalf("%s: offer.mediaIndicator %T must be an object (§8.2, §9.5)", st, o["mediaIndicator"])
		}
		dir, _ := mi["direction"].(string)
		if mi["type"] != "audio" || dir != want.offer {
			t.Errorf("%s: mediaIndicator %v, want {type:audio, direction:%s} (§9.5)", st, mi, want.offer)
		}
		if hasSDP && mediaDirections[dir] != "" {
			if d, _ := parseAudioSDP(sdpText); d != mediaDirections[dir] {
				t.Errorf("%s: mediaIndicator %s but sdp a=%s", st, dir, d)
			}
		}
	}
	nr, ok := b["notificationReference"].(map[string]any)
	if !ok {
		t.Errorf("%s: no notificationReference object (§8.2)", st)
		return
	}
	var seq int64
	for _, k := range []string{"epochTime", "notificationId", "sequenceNumber"} {
		num, ok := nr[k].(json.Number)
		v, err := num.Int64()
		if !ok || err != nil {
			t.Errorf("notificationReference.%s %v is not an integer (§8.2)", k, nr[k])
		}
		if k == "sequenceNumber" {
			seq = v
		}
		if k == "epochTime" && (v < time.Now().Add(-time.Hour).UnixMilli() || v > time.Now().Add(time.Hour).UnixMilli()) {
			t.Errorf("epochTime %d is not now in ms", v)
		}
	}
	if seq != *lastSeq+1 {
		t.Errorf("sequenceNumber %d after %d", seq, *lastSeq)
	}
	*lastSeq = seq
}

// TestNotificationJSON drives every notification ynasim sends and checks each as JSON.
func TestNotificationJSON(t *testing.T) {
	type step struct {
		do   func(rg *callSimRig, id string) // drives the call (nil: nothing)
		want []wantNote                      // the notifications that follow, in order
	}
	offerSR := testSDP(dirSendRecv)
	hold := func(rg *callSimRig, id string) {
		if _, err := rg.cl.Hold(rg.ctx(), rg.tok, id, testSDP(dirSendOnly)); err != nil {
			t.Fatal(err)
		}
	}
	resume := func(rg *callSimRig, id string) {
		if _, err := rg.cl.Resume(rg.ctx(), rg.tok, id, offerSR); err != nil {
			t.Fatal(err)
		}
	}
	action := func(a string) func(*callSimRig, string) {
		return func(rg *callSimRig, id string) {
			if err := rg.sim.CallAction(rg.ctx(), id, a); err != nil {
				t.Fatal(err)
			}
		}
	}
	accept := func(op string, dir string) func(*callSimRig, string) {
		return func(rg *callSimRig, id string) {
			var err error
			switch op {
			case "acceptHold":
				err = rg.cl.AcceptHold(rg.ctx(), rg.tok, id, testSDP(dir))
			case "acceptResume":
				err = rg.cl.AcceptResume(rg.ctx(), rg.tok, id, testSDP(dir))
			case "connected":
				s := testSDP(dir)
				_, err = rg.cl.Connected(rg.ctx(), rg.tok, id, &s)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	answered := []wantNote{{yna.StatusInProgress, 183, dirSendRecv, ""}, {yna.StatusRinging, 180, "", ""}, {yna.StatusConnected, 200, "", ""}}
	for _, tc := range []struct {
		name     string
		inbound  bool
		behave   Behaviour
		quirks   CallQuirks
		steps    []step
		wantDone bool // the call ends with the last step
	}{
		{name: "outbound answered, hung up by the network", steps: []step{{nil, answered},
			{action(ActionHangup), []wantNote{{yna.StatusTerminated, 200, "", ""}}}}, wantDone: true},
		{name: "outbound busy", behave: Behaviour{Kind: BehaviourBusy},
			steps: []step{{nil, []wantNote{{yna.StatusTerminated, 486, "", ""}}}}, wantDone: true},
		{name: "outbound declined", behave: Behaviour{Kind: BehaviourDecline, DelayMs: 1},
			steps: []step{{nil, []wantNote{answered[0], answered[1], {yna.StatusTerminated, 603, "", ""}}}}, wantDone: true},
		{name: "outbound not reachable", behave: Behaviour{Kind: BehaviourNotReachable},
			steps: []step{{nil, []wantNote{{yna.StatusTerminated, 480, "", ""}}}}, wantDone: true},
		{name: "outbound no answer", behave: Behaviour{Kind: BehaviourNoAnswer, DelayMs: 1},
			steps: []step{{nil, []wantNote{answered[0], answered[1], {yna.StatusTerminated, 480, "", ""}}}}, wantDone: true},
		{name: "client hold and resume", steps: []step{{nil, answered},
			{hold, []wantNote{{yna.StatusHold, 0, dirRecvOnly, ""}}}, // §9.4: to the holder, no offer
			{resume, []wantNote{{yna.StatusConnected, 200, "", ""}}}, // §9.4: no SDP after a resume
		}},
		{name: "remote hold and resume", steps: []step{{nil, answered},
			{action(ActionHold), []wantNote{{yna.StatusHold, 0, dirSendOnly, "SendOnly"}}}, // §9.5
			{accept("acceptHold", dirRecvOnly), nil},
			{action(ActionResume), []wantNote{{yna.StatusResume, 0, dirSendRecv, "SendRecv"}}},
			{accept("acceptResume", dirSendRecv), nil},
		}},
		{name: "remote hold while the client holds", steps: []step{{nil, answered},
			{hold, []wantNote{{yna.StatusHold, 0, dirRecvOnly, ""}}},
			{action(ActionHold), []wantNote{{yna.StatusHold, 0, dirInactive, "Inactive"}}},
			{accept("acceptHold", dirInactive), nil},
		}},
		{name: "network re-offer", steps: []step{{nil, answered},
			{action(ActionReoffer), []wantNote{{yna.StatusConnected, 200, dirSendRecv, ""}}}, // §9.6
			{accept("connected", dirSendRecv), nil},
		}},
		{name: "quirk holdOfferToHolder", quirks: CallQuirks{HoldOfferToHolder: true}, steps: []step{{nil, answered},
			{hold, []wantNote{{yna.StatusHold, 0, dirRecvOnly, "RecvOnly"}}}}},
		{name: "quirk connectedFirst", quirks: CallQuirks{ConnectedFirst: true},
			steps: []step{{nil, []wantNote{{yna.StatusConnected, 200, dirSendRecv, ""}}}}},
		{name: "inbound answered, hung up by the network", inbound: true, steps: []step{
			{accept("connected", dirSendRecv), nil},                                            // §9.2: no notification to the callee
			{action(ActionHangup), []wantNote{{yna.StatusTerminated, 200, "", ""}}}}, wantDone: true},
		{name: "inbound remote hold", inbound: true, steps: []step{
			{accept("connected", dirSendRecv), nil},
			{action(ActionHold), []wantNote{{yna.StatusHold, 0, dirSendOnly, "SendOnly"}}}}},
		{name: "inbound caller cancels", inbound: true,
			steps: []step{{action(ActionCancel), []wantNote{{yna.StatusSessionCancelled, 487, "", ""}}}}, wantDone: true},
		{name: "inbound answered on the mobile", inbound: true,
			steps: []step{{action(ActionAnswerOnMobile), []wantNote{{yna.StatusSessionCancelled, 200, "", ""}}}}, wantDone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newCallSimRig(t, true)
			rg.sim.SetCallQuirks(tc.quirks)
			ctx := rg.ctx()
			var id string
			if tc.inbound {
				var err error
				if id, err = rg.sim.InjectCall(ctx, simLine1, "+1 206 555 0123"); err != nil {
					t.Fatal(err)
				}
				checkInvitation(t, rg.rawNote(), id)
				if err := rg.cl.InProgress(ctx, rg.tok, id, nil); err != nil {
					t.Fatal(err)
				}
				if err := rg.cl.Ringing(ctx, rg.tok, id); err != nil {
					t.Fatal(err)
				}
			} else {
				const to = "14255550199"
				if tc.behave.Kind != "" {
					if err := rg.sim.SetNumberBehaviour(to, tc.behave); err != nil {
						t.Fatal(err)
					}
				}
				res, err := rg.cl.Start(ctx, rg.tok, yna.StartRequest{From: simLine1, To: to, SDP: offerSR})
				if err != nil {
					t.Fatal(err)
				}
				id = res.CallID
			}
			var seq int64
			first := true
			for _, s := range tc.steps {
				if s.do != nil {
					s.do(rg, id)
				}
				for _, w := range s.want {
					n := rg.rawNote()
					if first && !tc.inbound && tc.quirks == (CallQuirks{}) {
						if n.body["status"] == yna.StatusConnected {
							t.Errorf("first outbound notification is Connected (§8.3)")
						}
					}
					first = false
					checkStatus(t, n, id, w, &seq)
				}
			}
			if tc.wantDone {
				if err := rg.sim.WaitCallState(ctx, id, CallTerminated); err != nil {
					t.Fatal(err)
				}
			}
			// Nothing else was sent: every notify event of the call has been read above.
			read := 0
			for _, s := range tc.steps {
				read += len(s.want)
			}
			if tc.inbound {
				read++
			}
			// The notify event is logged after the frame went out, so the client can
			// read a frame before its event is in the log: wait for the events of
			// every frame read, then check there are no more.
			if _, err := rg.sim.WaitCall(ctx, func(c CallInfo) bool {
				return c.ID == id && len(c.EventsOf("notify", "")) >= read
			}); err != nil {
				t.Errorf("waiting for %d notify events: %v", read, err)
			}
			ci, _ := rg.sim.Call(id)
			if got := len(ci.EventsOf("notify", "")); got != read {
				t.Errorf("the call sent %d notifications, %d were checked: %+v", got, read, ci.EventsOf("notify", ""))
			}
		})
	}
}

// checkInvitation checks a sessionInvitationNotification against §8.1, §14.8.
func checkInvitation(t *testing.T, n wireNote, id string) {
	t.Helper()
	if n.typ != yna.TypeSessionInvitation {
		t.Fatalf("type %s, want %s", n.typ, yna.TypeSessionInvitation)
	}
	b := n.body
	str := func(k string) string {
		s, ok := b[k].(string)
		if !ok {
			t.Errorf("invitation %s %v is not a string", k, b[k])
		}
		return s
	}
	if ref := str("callObjectRef"); ref[strings.LastIndex(ref, "/")+1:] != id {
		t.Errorf("callObjectRef %s does not end in the callId (§8.1)", ref)
	}
	if o := str("originatorAddress"); o != "tel:+12065550123" {
		t.Errorf("originatorAddress %q, want tel:+12065550123 (§8.1, §14.8)", o)
	}
	if r := str("receiverAddress"); r != "tel:+"+simLine1 {
		t.Errorf("receiverAddress %q", r)
	}
	if d, err := parseAudioSDP(str("sdp")); err != nil || d != dirSendRecv {
		t.Errorf("invitation sdp: %s %v", d, err)
	}
	switch v := str("verificationStatus"); v {
	case "TN-Validation-Passed", "TN-Validation-Failed", "No-TN-Validation":
	default:
		t.Errorf("verificationStatus %q not in the §8.1 enum", v)
	}
	if str("serverCorrelator") == "" {
		t.Errorf("no serverCorrelator (§8.1)")
	}
	for k := range b {
		switch k {
		case "originatorAddress", "originatorName", "receiverAddress", "receiverName", "callObjectRef", "sdp",
			"verificationStatus", "serverCorrelator":
		default:
			t.Errorf("invitation member %q is not in §8.1", k)
		}
	}
}
