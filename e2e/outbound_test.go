package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// within reports whether got is within frac of want.
func within(got, want, frac float64) bool {
	return got >= want*(1-frac) && got <= want*(1+frac)
}

// TestOutboundSippMediaBothWays: sipp (desk phone alice, digest) calls out through the
// gateway; its 440 Hz PCMA reaches the far end without loss, the far end sends its own
// tone back, and the phone's BYE ends the YNA call with DELETE /end.
func TestOutboundSippMediaBothWays(t *testing.T) {
	e := newGwEnv(t, nil)
	run := startSipp(t, "uac_call.xml", e.sipAddr(), sippOpts{auth: true,
		vars: map[string]string{"TONE": writeTonePCMA(t, 5), "TALK_MS": "4000"}})
	id := e.simCall(ynasim.DirectionOutbound)
	ci := e.waitState(id, ynasim.CallConnected)
	if ci.Peer != "1"+e2eFarNumber || ci.Line != e2eLine {
		t.Errorf("sim call %s → %s", ci.Line, ci.Peer)
	}
	st := e.waitStats(id, 15*time.Second, "100 packets from the phone at the far end", func(s farend.Stats) bool { return s.PacketsReceived >= 100 })
	if !strings.HasPrefix(st.Codec, "PCMA") {
		t.Errorf("far end codec %q, want PCMA end to end", st.Codec)
	}
	if st.Lost != 0 || st.OutOfOrder != 0 || st.Duplicates != 0 {
		t.Errorf("far end: lost %d, out of order %d, duplicates %d", st.Lost, st.OutOfOrder, st.Duplicates)
	}
	if !within(st.ToneHzDetected, phoneToneHz, 0.1) {
		t.Errorf("far end heard %.0f Hz, want the phone's %d Hz", st.ToneHzDetected, phoneToneHz)
	}
	if st.PacketsSent < 50 {
		t.Errorf("far end sent only %d packets", st.PacketsSent)
	}
	run.mustPass(30 * time.Second)
	ci = e.waitState(id, ynasim.CallTerminated)
	if ci.Outcome != ynasim.OutcomeEndedByClient || !hasREST(ci, "end") {
		t.Errorf("outcome %s, want %s via DELETE /end", ci.Outcome, ynasim.OutcomeEndedByClient)
	}
}

// TestOutboundEarlyMedia: the called party sends early media (183 + SDP) before it
// answers; the 183 reaches the phone with SDP and media flows both ways before the 200.
func TestOutboundEarlyMedia(t *testing.T) {
	e := newGwEnv(t, nil)
	const number = "2065550177"
	if err := e.sim.SetNumberBehaviour(number, ynasim.Behaviour{Kind: ynasim.BehaviourManual}); err != nil {
		t.Fatal(err)
	}
	run := startSipp(t, "uac_early.xml", e.sipAddr(), sippOpts{auth: true, service: number,
		vars: map[string]string{"TONE": writeTonePCMA(t, 5), "TALK_MS": "1000"}})
	id := e.simCall(ynasim.DirectionOutbound)
	e.action(id, ynasim.ActionProgress) // 183 + SDP
	st := e.waitStats(id, 15*time.Second, "early media from the phone", func(s farend.Stats) bool {
		return s.PacketsReceived >= 25 && s.PacketsSent >= 25
	})
	if ci, _ := e.sim.Call(id); ci.State != ynasim.CallInProgress {
		t.Fatalf("sim state %s while early media flows, want %s", ci.State, ynasim.CallInProgress)
	}
	if st.Lost != 0 {
		t.Errorf("early media lost %d", st.Lost)
	}
	e.action(id, ynasim.ActionAnswer)
	e.waitState(id, ynasim.CallConnected)
	run.mustPass(30 * time.Second)
	if !strings.Contains(run.logs(), "183 SDP: m=audio") {
		t.Errorf("sipp log lacks the 183 SDP check:\n%s", run.logs())
	}
	e.waitState(id, ynasim.CallTerminated)
}

// TestOutboundFailuresSipp: busy / decline / no answer / not reachable map to 486 / 603 /
// 480 / 480 with a Reason header (checked by the sipp scenario).
func TestOutboundFailuresSipp(t *testing.T) {
	e := newGwEnv(t, nil)
	cases := []struct {
		number string
		b      ynasim.Behaviour
		code   string
	}{
		{"2065550101", ynasim.Behaviour{Kind: ynasim.BehaviourBusy}, "486"},
		{"2065550102", ynasim.Behaviour{Kind: ynasim.BehaviourDecline, DelayMs: 50}, "603"},
		{"2065550103", ynasim.Behaviour{Kind: ynasim.BehaviourNoAnswer, DelayMs: 200}, "480"},
		{"2065550104", ynasim.Behaviour{Kind: ynasim.BehaviourNotReachable}, "480"},
	}
	for _, tc := range cases {
		t.Run(string(tc.b.Kind), func(t *testing.T) {
			if err := e.sim.SetNumberBehaviour(tc.number, tc.b); err != nil {
				t.Fatal(err)
			}
			run := startSipp(t, "uac_fail.xml", e.sipAddr(), sippOpts{auth: true, service: tc.number,
				vars: map[string]string{"CODE": tc.code}})
			run.mustPass(30 * time.Second)
			if l := run.logs(); !strings.Contains(l, "final "+tc.code+" reason: cause=") {
				t.Errorf("sipp log: %q", l)
			}
		})
	}
}

// TestOutboundDTMFFromPhone: RFC 4733 (sipp pcap, digit 1) and SIP INFO (digit 5, turned
// into RFC 4733 by the gateway) both reach the far end.
func TestOutboundDTMFFromPhone(t *testing.T) {
	e := newGwEnv(t, nil)
	run := startSipp(t, "uac_dtmf.xml", e.sipAddr(), sippOpts{auth: true})
	id := e.simCall(ynasim.DirectionOutbound)
	e.waitState(id, ynasim.CallConnected)
	st := e.waitStats(id, 15*time.Second, "digits 1 and 5 at the far end", func(s farend.Stats) bool { return len(s.Digits) >= 2 })
	if st.Digits != "15" {
		t.Errorf("far end digits %q, want 15", st.Digits)
	}
	run.mustPass(30 * time.Second)
	e.waitState(id, ynasim.CallTerminated)
}
