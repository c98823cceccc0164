package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// TestHoldResumeFromPhone: sipp holds with a=sendonly (the gateway must answer
// recvonly/inactive, checked by the scenario), the YNA call goes to Hold with the far
// end recvonly and its media toward the phone stops; the resume restores sendrecv and
// media flows both ways again.
func TestHoldResumeFromPhone(t *testing.T) {
	e := newGwEnv(t, nil)
	run := startSipp(t, "uac_hold.xml", e.sipAddr(), sippOpts{auth: true,
		vars: map[string]string{"TONE": writeTonePCMA(t, 5), "TALK_MS": "1500", "HOLD_MS": "3000"}})
	id := e.simCall(ynasim.DirectionOutbound)
	e.waitState(id, ynasim.CallConnected)

	e.waitState(id, ynasim.CallHold)
	var ci ynasim.CallInfo
	eventually(t, 10*time.Second, "POST /hold recorded", func() bool { ci, _ = e.sim.Call(id); return hasREST(ci, "hold") })
	if !ci.HeldByClient {
		t.Errorf("sim: heldByClient=%v", ci.HeldByClient)
	}
	e.waitStats(id, 5*time.Second, "far end recvonly", func(s farend.Stats) bool { return s.Direction == "recvonly" || s.Direction == "inactive" })
	// The network → phone media stops while the phone holds. (Whether the held phone's
	// own sendonly stream reaches the network is TestPhoneHoldStreamReachesNetwork.)
	if d := e.observe(id, 600*time.Millisecond); d.PacketsSent > 2 {
		t.Errorf("far end sent %d packets in 600 ms while held by the phone", d.PacketsSent)
	}

	e.waitState(id, ynasim.CallConnected)
	eventually(t, 10*time.Second, "POST /resume recorded", func() bool { ci, _ = e.sim.Call(id); return hasREST(ci, "resume") })
	if ci.HeldByClient {
		t.Errorf("sim after resume: heldByClient=%v", ci.HeldByClient)
	}
	st := e.waitStats(id, 5*time.Second, "far end sendrecv after resume", func(s farend.Stats) bool { return s.Direction == "sendrecv" })
	e.waitStats(id, 5*time.Second, "far end sending again after resume", func(s farend.Stats) bool {
		return s.PacketsSent >= st.PacketsSent+25 && s.PacketsReceived >= st.PacketsReceived+25
	})
	run.mustPass(30 * time.Second)
	logs := run.logs()
	for _, want := range []string{"hold answer direction: a=", "resume answer direction: a=sendrecv"} {
		if !strings.Contains(logs, want) {
			t.Errorf("sipp log lacks %q:\n%s", want, logs)
		}
	}
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("outcome %s", ci.Outcome)
	}
}

// TestPhoneHoldStreamReachesNetwork: a phone (or PBX) holding with a=sendonly keeps
// sending (music on hold); the network answered recvonly, so that stream must reach the
// far end, and the far end must see one continuous RTP stream (no sequence gap counted
// as loss) across hold and resume.
func TestPhoneHoldStreamReachesNetwork(t *testing.T) {
	e := newGwEnv(t, nil)
	run := startSipp(t, "uac_hold.xml", e.sipAddr(), sippOpts{auth: true,
		vars: map[string]string{"TONE": writeTonePCMA(t, 5), "TALK_MS": "1500", "HOLD_MS": "3000"}})
	id := e.simCall(ynasim.DirectionOutbound)
	e.waitState(id, ynasim.CallHold)
	st := e.waitStats(id, 5*time.Second, "far end recvonly", func(s farend.Stats) bool { return s.Direction == "recvonly" })
	var still bool
	e.waitStats(id, 5*time.Second, "the held phone's stream at the far end", func(s farend.Stats) bool {
		ci, _ := e.sim.Call(id)
		still = ci.State == ynasim.CallHold
		return s.PacketsReceived >= st.PacketsReceived+25 || !still
	})
	if !still {
		t.Errorf("the far end received less than 25 packets from the phone during its sendonly hold")
	}
	e.waitState(id, ynasim.CallConnected)
	run.mustPass(30 * time.Second)
	ci := e.waitState(id, ynasim.CallTerminated)
	if fs, _ := ci.Media.(farend.Stats); fs.Lost != 0 {
		t.Errorf("far end counted %d lost packets across the phone's hold", fs.Lost)
	}
}

// observe returns how much the far end's counters grew over an observation window (a
// measurement of "media stopped", not synchronisation: nothing signals an absence).
func (e *gwEnv) observe(id string, d time.Duration) farend.Stats {
	before := e.stats(id)
	<-time.After(d)
	after := e.stats(id)
	return farend.Stats{PacketsSent: after.PacketsSent - before.PacketsSent, PacketsReceived: after.PacketsReceived - before.PacketsReceived}
}

// netHoldResume holds and resumes a connected call from the network and checks both legs:
// the phone got sendonly/inactive and answered recvonly (scenario), the far end is
// sendonly while held and stops receiving the phone's media, and it flows again after.
func netHoldResume(t *testing.T, e *gwEnv, id string) {
	t.Helper()
	e.action(id, ynasim.ActionHold)
	ci := e.waitState(id, ynasim.CallHold)
	eventually(t, 10*time.Second, "/acceptHold", func() bool {
		ci, _ = e.sim.Call(id)
		return hasREST(ci, "acceptHold") && ci.Pending == ""
	})
	if !ci.HeldByNetwork {
		t.Errorf("sim: heldByNetwork=%v", ci.HeldByNetwork)
	}
	st := e.waitStats(id, 5*time.Second, "far end sendonly", func(s farend.Stats) bool { return s.Direction == "sendonly" || s.Direction == "inactive" })
	// The phone answered recvonly: over the time the far end sends 25 packets (music on
	// hold), it must receive (almost) nothing from the phone.
	after := e.waitStats(id, 5*time.Second, "far end sending while it holds", func(s farend.Stats) bool { return s.PacketsSent >= st.PacketsSent+25 })
	if d := after.PacketsReceived - st.PacketsReceived; d > 2 {
		t.Errorf("far end received %d packets from the phone while holding it", d)
	}

	e.action(id, ynasim.ActionResume)
	eventually(t, 10*time.Second, "/acceptResume", func() bool {
		ci, _ = e.sim.Call(id)
		return hasREST(ci, "acceptResume") && ci.Pending == "" && ci.State == ynasim.CallConnected
	})
	st = e.waitStats(id, 5*time.Second, "far end sendrecv", func(s farend.Stats) bool { return s.Direction == "sendrecv" })
	e.waitStats(id, 5*time.Second, "media both ways after the resume", func(s farend.Stats) bool {
		return s.PacketsReceived >= st.PacketsReceived+25 && s.PacketsSent >= st.PacketsSent+25
	})
}

// TestHoldResumeFromNetwork: the network holds and resumes; the phone (sipp) gets
// re-INVITEs with sendonly/inactive then sendrecv; then the network hangs up and the
// phone gets a BYE.
func TestHoldResumeFromNetwork(t *testing.T) {
	e := newGwEnv(t, nil)
	run := startSipp(t, "uac_net_hold.xml", e.sipAddr(), sippOpts{auth: true, vars: map[string]string{"TONE": writeTonePCMA(t, 5)}})
	id := e.simCall(ynasim.DirectionOutbound)
	e.waitState(id, ynasim.CallConnected)
	e.waitStats(id, 10*time.Second, "media both ways", func(s farend.Stats) bool { return s.PacketsReceived >= 25 && s.PacketsSent >= 25 })
	netHoldResume(t, e, id)
	e.action(id, ynasim.ActionHangup)
	run.mustPass(20 * time.Second)
	logs := run.logs()
	for _, want := range []string{"hold offer direction: a=", "resume offer direction: a=sendrecv", "BYE from the network"} {
		if !strings.Contains(logs, want) {
			t.Errorf("sipp log lacks %q:\n%s", want, logs)
		}
	}
	e.waitState(id, ynasim.CallTerminated)
}

// TestChannelDropMidCall: the notification channel is dropped during a call; the call
// survives with media flowing, the channel reconnects, and later network signalling
// (hold, resume, hang-up) still reaches the phone.
func TestChannelDropMidCall(t *testing.T) {
	e := newGwEnv(t, nil)
	run := startSipp(t, "uac_net_hold.xml", e.sipAddr(), sippOpts{auth: true, vars: map[string]string{"TONE": writeTonePCMA(t, 5)}})
	id := e.simCall(ynasim.DirectionOutbound)
	e.waitState(id, ynasim.CallConnected)
	st := e.waitStats(id, 10*time.Second, "media both ways", func(s farend.Stats) bool { return s.PacketsReceived >= 25 && s.PacketsSent >= 25 })

	before, _ := e.sim.Channel(e2eAccount)
	if err := e.sim.ApplyAccountFault(e2eAccount, ynasim.AccountFault{DropSocket: true}); err != nil {
		t.Fatal(err)
	}
	// Media keeps flowing both ways across the drop.
	e.waitStats(id, 10*time.Second, "media after the drop", func(s farend.Stats) bool {
		return s.PacketsReceived >= st.PacketsReceived+50 && s.PacketsSent >= st.PacketsSent+50
	})
	if _, err := e.sim.WaitChannel(e.ctx(20*time.Second), e2eAccount, func(ci ynasim.ChannelInfo) bool {
		return ci.SocketsOpen > 0 && ci.SocketsOpened > before.SocketsOpened
	}); err != nil {
		t.Fatalf("channel did not recover: %v", err)
	}
	if ci, _ := e.sim.Call(id); ci.State != ynasim.CallConnected {
		t.Fatalf("call state %s after the drop", ci.State)
	}
	netHoldResume(t, e, id)
	e.action(id, ynasim.ActionHangup)
	run.mustPass(20 * time.Second)
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByNetwork {
		t.Errorf("outcome %s, want %s", ci.Outcome, ynasim.OutcomeEndedByNetwork)
	}
}
