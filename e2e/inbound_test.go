package e2e

import (
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// TestInboundForkTwoPhones: an inbound call rings two baresip phones registered with
// digest (alice: manual answer, bob: auto answer); bob answers, alice's branch is
// cancelled. Audio both ways is checked by content: the far end hears bob's 440 Hz,
// bob's recording holds the far end's 1000 Hz. The far end's RFC 4733 DTMF reaches bob,
// and the network's hang-up gives bob a BYE.
func TestInboundForkTwoPhones(t *testing.T) {
	e := newGwEnv(t, nil)
	alice := startBaresip(t, e, "alice", "alicepw", "manual")
	bob := startBaresip(t, e, "bob", "bobpw", "auto")

	id, err := e.sim.InjectCall(e.ctx(10*time.Second), e2eLine, e2eCaller)
	if err != nil {
		t.Fatal(err)
	}
	alice.waitEvent("CALL_INCOMING", 10*time.Second)
	bob.waitEvent("CALL_ESTABLISHED", 15*time.Second)
	ci := e.waitState(id, ynasim.CallConnected)
	for _, op := range []string{"inProgress", "ringing", "connected"} {
		if !hasREST(ci, op) {
			t.Errorf("no successful /%s", op)
		}
	}
	alice.waitCancelled()

	st := e.waitStats(id, 15*time.Second, "2 s of bob's audio at the far end", func(s farend.Stats) bool {
		return s.PacketsReceived >= 100 && s.PacketsSent >= 100
	})
	if !within(st.ToneHzDetected, phoneToneHz, 0.1) {
		t.Errorf("far end heard %.0f Hz, want bob's %d Hz", st.ToneHzDetected, phoneToneHz)
	}
	if st.Lost > 2 {
		t.Errorf("far end lost %d packets", st.Lost)
	}

	// Far end → phone DTMF (RFC 4733 through the gateway).
	e.action(id, ynasim.ActionDTMF, "7")
	eventually(t, 10*time.Second, "bob logs the received DTMF 7", func() bool { return bob.logContains("received event: '7'") })

	// The answering phone holds and resumes (re-INVITE sendonly / sendrecv from baresip).
	bob.command("hold", "")
	ci = e.waitState(id, ynasim.CallHold)
	eventually(t, 10*time.Second, "POST /hold recorded", func() bool { ci, _ = e.sim.Call(id); return hasREST(ci, "hold") && ci.HeldByClient })
	e.waitStats(id, 5*time.Second, "far end recvonly while bob holds", func(s farend.Stats) bool { return s.Direction == "recvonly" || s.Direction == "inactive" })
	bob.command("resume", "")
	e.waitState(id, ynasim.CallConnected)
	st = e.waitStats(id, 5*time.Second, "far end sendrecv after bob resumed", func(s farend.Stats) bool { return s.Direction == "sendrecv" })
	e.waitStats(id, 5*time.Second, "media both ways after bob resumed", func(s farend.Stats) bool {
		return s.PacketsReceived >= st.PacketsReceived+25 && s.PacketsSent >= st.PacketsSent+25
	})

	e.action(id, ynasim.ActionHangup)
	bob.waitEvent("CALL_CLOSED", 10*time.Second) // BYE from the gateway
	hz := bob.heardToneHz()
	t.Logf("far end heard %.0f Hz, bob heard %.0f Hz", st.ToneHzDetected, hz)
	if !within(hz, farToneHz, 0.2) {
		t.Errorf("bob heard %.0f Hz, want the far end's %d Hz", hz, farToneHz)
	}
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByNetwork {
		t.Errorf("outcome %s", ci.Outcome)
	}
}

// TestInboundOutcomesBaresip drives one phone (manual answer) through the other inbound
// endings: the phone declines (→ voicemail), the caller hangs up while it rings, the call
// is answered on the mobile, and an answered call hung up by the phone (BYE → /end).
func TestInboundOutcomesBaresip(t *testing.T) {
	e := newGwEnv(t, nil)
	alice := startBaresip(t, e, "alice", "alicepw", "manual")
	inject := func() string {
		t.Helper()
		id, err := e.sim.InjectCall(e.ctx(10*time.Second), e2eLine, e2eCaller)
		if err != nil {
			t.Fatal(err)
		}
		alice.waitEvent("CALL_INCOMING", 10*time.Second)
		return id
	}

	t.Run("declined", func(t *testing.T) {
		id := inject()
		alice.command("hangup", "") // rejects the incoming call
		alice.waitEvent("CALL_CLOSED", 10*time.Second)
		if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeVoicemail || !hasREST(ci, "end") {
			t.Errorf("outcome %s, want %s via DELETE /end", ci.Outcome, ynasim.OutcomeVoicemail)
		}
	})
	for _, tc := range []struct{ action, outcome string }{
		{ynasim.ActionCancel, ynasim.OutcomeCancelled},
		{ynasim.ActionAnswerOnMobile, ynasim.OutcomeAnsweredOnMobile},
	} {
		t.Run(tc.action, func(t *testing.T) {
			id := inject()
			e.waitState(id, ynasim.CallRinging)
			e.action(id, tc.action)
			alice.waitCancelled()
			if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != tc.outcome {
				t.Errorf("outcome %s, want %s", ci.Outcome, tc.outcome)
			}
		})
	}
	t.Run("phoneHangsUp", func(t *testing.T) {
		id := inject()
		alice.command("accept", "")
		alice.waitEvent("CALL_ESTABLISHED", 10*time.Second)
		e.waitState(id, ynasim.CallConnected)
		e.waitStats(id, 10*time.Second, "media both ways", func(s farend.Stats) bool { return s.PacketsReceived >= 25 && s.PacketsSent >= 25 })
		alice.command("hangup", "")
		alice.waitEvent("CALL_CLOSED", 10*time.Second)
		if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByClient || !hasREST(ci, "end") {
			t.Errorf("outcome %s, want %s via DELETE /end", ci.Outcome, ynasim.OutcomeEndedByClient)
		}
	})
}

// TestOutboundBaresipAudioContent: a baresip phone calls out; the far end hears the
// phone's 440 Hz and the phone's recording holds the far end's 1000 Hz.
func TestOutboundBaresipAudioContent(t *testing.T) {
	e := newGwEnv(t, nil)
	bob := startBaresip(t, e, "bob", "bobpw", "manual")
	bob.command("dial", "sip:"+e2eFarNumber+"@"+e.sipAddr().String())
	bob.waitEvent("CALL_ESTABLISHED", 15*time.Second)
	id := e.simCall(ynasim.DirectionOutbound)
	e.waitState(id, ynasim.CallConnected)
	st := e.waitStats(id, 15*time.Second, "2 s of audio both ways", func(s farend.Stats) bool {
		return s.PacketsReceived >= 100 && s.PacketsSent >= 100
	})
	if !within(st.ToneHzDetected, phoneToneHz, 0.1) {
		t.Errorf("far end heard %.0f Hz, want the phone's %d Hz", st.ToneHzDetected, phoneToneHz)
	}
	bob.command("hangup", "")
	bob.waitEvent("CALL_CLOSED", 10*time.Second)
	if hz := bob.heardToneHz(); !within(hz, farToneHz, 0.2) {
		t.Errorf("phone heard %.0f Hz, want the far end's %d Hz", hz, farToneHz)
	}
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("outcome %s", ci.Outcome)
	}
}

// TestOutboundEarlyMediaToPhone: the far end's early media (183 + SDP, before any answer)
// reaches a baresip phone: its RTP is established before the call is.
func TestOutboundEarlyMediaToPhone(t *testing.T) {
	e := newGwEnv(t, nil)
	const number = "2065550177"
	if err := e.sim.SetNumberBehaviour(number, ynasim.Behaviour{Kind: ynasim.BehaviourManual}); err != nil {
		t.Fatal(err)
	}
	bob := startBaresip(t, e, "bob", "bobpw", "manual")
	bob.command("dial", "sip:"+number+"@"+e.sipAddr().String())
	id := e.simCall(ynasim.DirectionOutbound)
	e.action(id, ynasim.ActionProgress)
	bob.waitEvent("CALL_RTPESTAB", 10*time.Second) // far-end RTP arrived at the phone
	if ci, _ := e.sim.Call(id); ci.State != ynasim.CallInProgress {
		t.Fatalf("sim state %s, want %s while only early media flows", ci.State, ynasim.CallInProgress)
	}
	e.action(id, ynasim.ActionAnswer)
	bob.waitEvent("CALL_ESTABLISHED", 10*time.Second)
	bob.command("hangup", "")
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("outcome %s", ci.Outcome)
	}
}
