package bridge

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
)

const farNumber = "2065550123"

func TestOutboundAnsweredMediaBothWays(t *testing.T) {
	e := newEnv(t, nil)
	// Answer 300 ms after ringing, so the phone's client transaction surely reads the 183
	// before the 200 (sipgo may drop provisionals that race a final response).
	if err := e.sim.SetNumberBehaviour(farNumber, ynasim.Behaviour{Kind: ynasim.BehaviourAnswerAfter, DelayMs: 300}); err != nil {
		t.Fatal(err)
	}
	alice := e.phone("alice", "alicepw")
	oc := alice.call(e.ctx(30*time.Second), farNumber)
	if oc.code != 200 {
		t.Fatalf("final %d %s", oc.code, oc.reason)
	}
	if !slices.Contains(oc.provisional, 183) || !oc.early {
		t.Errorf("provisional %v early=%v, want a 183 with SDP", oc.provisional, oc.early)
	}
	// InProgress/183 → 183 with SDP, then Ringing/180 → 180. (The test phone's sipgo
	// handles each response on its own goroutine, so it may see them in either order.)
	if !slices.Contains(oc.provisional, 180) {
		t.Errorf("provisional %v, want a 180 after the 183", oc.provisional)
	}
	id := e.simCall(ynasim.DirectionOutbound)
	ci := e.waitState(id, ynasim.CallConnected)
	if ci.Peer != "1"+farNumber || ci.Line != testLine {
		t.Errorf("sim call %s → %s", ci.Line, ci.Peer)
	}
	waitFor(t, oc.media.gotRx, 15*time.Second, "RTP from the network at the phone")
	eventually(t, 10*time.Second, "far end receiving RTP", func() bool { return e.farEndStats(id).PacketsReceived > 0 })

	ctx := e.ctx(10 * time.Second)
	if err := oc.sess.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	ci = e.waitState(id, ynasim.CallTerminated)
	if ci.Outcome != ynasim.OutcomeEndedByClient || !e.restSeen(id, "end") {
		t.Errorf("outcome %s", ci.Outcome)
	}
	cdr := e.cdr()
	if cdr.Result != ResultAnswered || cdr.YNACallID != id || cdr.SIPCallID == "" || cdr.AnsweredAt.IsZero() || cdr.SIPMedia.PacketsIn == 0 {
		t.Errorf("CDR %+v", cdr)
	}
}

func TestOutboundFailuresMapToSIP(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.phone("alice", "alicepw")
	cases := []struct {
		number string
		b      ynasim.Behaviour
		code   int
		result string
		reason string // Reason header prefix (Q.850 cause)
	}{
		{"2065550101", ynasim.Behaviour{Kind: ynasim.BehaviourBusy}, 486, ResultBusy, "Q.850;cause=17;"},
		{"2065550102", ynasim.Behaviour{Kind: ynasim.BehaviourDecline, DelayMs: 50}, 603, ResultDeclined, "Q.850;cause=21;"},
		{"2065550103", ynasim.Behaviour{Kind: ynasim.BehaviourNoAnswer, DelayMs: 100}, 480, ResultNoAnswer, "Q.850;cause=18;"},
		{"2065550104", ynasim.Behaviour{Kind: ynasim.BehaviourNotReachable}, 480, ResultNoAnswer, "Q.850;cause=18;"},
	}
	for _, tc := range cases {
		t.Run(string(tc.b.Kind), func(t *testing.T) {
			if err := e.sim.SetNumberBehaviour(tc.number, tc.b); err != nil {
				t.Fatal(err)
			}
			oc := alice.call(e.ctx(30*time.Second), tc.number)
			if oc.code != tc.code {
				t.Fatalf("final %d (%s), want %d", oc.code, oc.reason, tc.code)
			}
			if !strings.HasPrefix(oc.reason, tc.reason) || !strings.Contains(oc.reason, `text="`) {
				t.Errorf("Reason header %q, want %s...", oc.reason, tc.reason)
			}
			if cdr := e.cdr(); cdr.Result != tc.result || cdr.SIPStatus != tc.code {
				t.Errorf("CDR result %s status %d", cdr.Result, cdr.SIPStatus)
			}
		})
	}
}

func TestOutboundCallerCancel(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.sim.SetNumberBehaviour(farNumber, ynasim.Behaviour{Kind: ynasim.BehaviourEarlyMediaOnly, DelayMs: 30000}); err != nil {
		t.Fatal(err)
	}
	alice := e.phone("alice", "alicepw")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	oc := alice.callHook(ctx, farNumber, func(code int) {
		if code == 183 {
			cancel() // the phone CANCELs
		}
	})
	if oc.code == 200 {
		t.Fatalf("call answered")
	}
	id, err := e.sim.WaitCall(e.ctx(5*time.Second), func(ci ynasim.CallInfo) bool { return ci.Direction == ynasim.DirectionOutbound })
	if err != nil {
		t.Fatal(err)
	}
	ci := e.waitState(id, ynasim.CallTerminated)
	if ci.Outcome != ynasim.OutcomeClientCancelled || !e.restSeen(id, "end") {
		t.Errorf("outcome %s, want %s via DELETE /end", ci.Outcome, ynasim.OutcomeClientCancelled)
	}
	if cdr := e.cdr(); cdr.Result != ResultCancelled {
		t.Errorf("CDR %+v", cdr)
	}
}

func TestOutboundRefused(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.phone("alice", "alicepw")
	oc := alice.call(e.ctx(10*time.Second), "911")
	if oc.code != 403 || !strings.Contains(oc.reason, "Emergency") {
		t.Errorf("911: %d %q", oc.code, oc.reason)
	}
	bob := e.phone("bob", "bobpw") // not allowed on any line
	oc = bob.call(e.ctx(10*time.Second), farNumber)
	if oc.code != 403 {
		t.Errorf("unknown caller: %d %q", oc.code, oc.reason)
	}
	if n := len(e.sim.Calls()); n != 0 {
		t.Errorf("%d calls reached the network", n)
	}
}

func TestOutboundLateOffer(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.phone("alice", "alicepw")
	oc := alice.callLate(e.ctx(30*time.Second), farNumber)
	if oc.code != 200 {
		t.Fatalf("final %d", oc.code)
	}
	id := e.simCall(ynasim.DirectionOutbound)
	e.waitState(id, ynasim.CallConnected)
	waitFor(t, oc.media.gotRx, 15*time.Second, "RTP at the phone")
	eventually(t, 10*time.Second, "far end receiving RTP", func() bool { return e.farEndStats(id).PacketsReceived > 0 })
	if err := oc.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	e.waitState(id, ynasim.CallTerminated)
}

// REST failures of /start become classified SIP responses, never a bare 500, and never
// 503 (which tells the phone that the gateway itself is overloaded): the network's 5xx is
// 502, a refused token 500 (relink), no answer in time 504.
func TestOutboundStartFailures(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Timers.RESTTimeout = time.Second })
	alice := e.phone("alice", "alicepw")
	if err := e.sim.SetEndpointFault(ynasim.EndpointFault{Endpoint: "start", Status: 503}); err != nil {
		t.Fatal(err)
	}
	if oc := alice.call(e.ctx(30*time.Second), farNumber); oc.code != 502 || !strings.Contains(oc.reason, "YNA") || oc.retryAfter != "" {
		t.Errorf("start 503: %d %q Retry-After %q, want 502 without Retry-After", oc.code, oc.reason, oc.retryAfter)
	}
	if cdr := e.cdr(); cdr.Result != ResultNetworkError || cdr.SIPStatus != 502 {
		t.Errorf("CDR %+v", cdr)
	}
	if err := e.sim.SetEndpointFault(ynasim.EndpointFault{Endpoint: "start", DelayMs: 3000}); err != nil {
		t.Fatal(err)
	}
	if oc := alice.call(e.ctx(30*time.Second), farNumber); oc.code != 504 {
		t.Errorf("start timeout: %d %q, want 504", oc.code, oc.reason)
	}
	if cdr := e.cdr(); cdr.Result != ResultNetworkError || cdr.SIPStatus != 504 {
		t.Errorf("CDR %+v", cdr)
	}
	if err := e.sim.ExpireTokens(testAccount); err != nil {
		t.Fatal(err)
	}
	oc := alice.call(e.ctx(30*time.Second), farNumber)
	if oc.code != 500 || !strings.Contains(oc.reason, "relink") {
		t.Errorf("expired token: %d %q", oc.code, oc.reason)
	}
	if cdr := e.cdr(); cdr.Result != ResultNetworkError {
		t.Errorf("CDR %+v", cdr)
	}
}
