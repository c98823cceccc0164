package bridge

import (
	"testing"
	"time"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// establishedOutbound sets up an answered outbound call and returns the phone's call and
// the sim's call id.
func establishedOutbound(t *testing.T, e *env) (*phone, *outCall, string) {
	t.Helper()
	alice := e.phone("alice", "alicepw")
	oc := alice.call(e.ctx(30*time.Second), farNumber)
	if oc.code != 200 {
		t.Fatalf("final %d %s", oc.code, oc.reason)
	}
	id := e.simCall(ynasim.DirectionOutbound)
	e.waitState(id, ynasim.CallConnected)
	waitFor(t, oc.media.gotRx, 15*time.Second, "RTP at the phone")
	return alice, oc, id
}

func TestHoldResumeFromPhone(t *testing.T) {
	e := newEnv(t, nil)
	alice, oc, id := establishedOutbound(t, e)

	if got := alice.reinvite(e.ctx(15*time.Second), oc, rtpmedia.SendOnly); got != rtpmedia.RecvOnly {
		t.Errorf("hold answered %v, want recvonly", got)
	}
	ci := e.waitState(id, ynasim.CallHold)
	if !ci.HeldByClient || !e.restSeen(id, "hold") {
		t.Errorf("sim: heldByClient=%v events %+v", ci.HeldByClient, ci.Events)
	}
	// sendonly hold: the phone's media (music on hold) still reaches the network.
	held := e.farEndStats(id).PacketsReceived
	eventually(t, 10*time.Second, "far end receiving the held phone's RTP", func() bool { return e.farEndStats(id).PacketsReceived > held+5 })
	if got := alice.reinvite(e.ctx(15*time.Second), oc, rtpmedia.SendRecv); got != rtpmedia.SendRecv {
		t.Errorf("resume answered %v, want sendrecv", got)
	}
	ci = e.waitState(id, ynasim.CallConnected)
	if ci.HeldByClient || !e.restSeen(id, "resume") {
		t.Errorf("sim: heldByClient=%v after resume", ci.HeldByClient)
	}
	// Media flows again after the resume.
	before := e.farEndStats(id).PacketsReceived
	eventually(t, 10*time.Second, "far end receiving RTP after resume", func() bool { return e.farEndStats(id).PacketsReceived > before+5 })
	if err := oc.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	e.waitState(id, ynasim.CallTerminated)
}

func TestHoldResumeFromNetwork(t *testing.T) {
	e := newEnv(t, nil)
	alice, _, id := establishedOutbound(t, e)

	if err := e.sim.CallAction(e.ctx(15*time.Second), id, ynasim.ActionHold); err != nil {
		t.Fatal(err)
	}
	if d := waitFor(t, alice.reinvites, 15*time.Second, "re-INVITE (hold) at the phone"); d != rtpmedia.SendOnly {
		t.Errorf("hold re-INVITE direction %v, want sendonly", d)
	}
	ci := e.waitState(id, ynasim.CallHold)
	if !ci.HeldByNetwork || !e.restSeen(id, "acceptHold") {
		t.Errorf("sim: heldByNetwork=%v events %+v", ci.HeldByNetwork, ci.Events)
	}
	if err := e.sim.CallAction(e.ctx(15*time.Second), id, ynasim.ActionResume); err != nil {
		t.Fatal(err)
	}
	if d := waitFor(t, alice.reinvites, 15*time.Second, "re-INVITE (resume) at the phone"); d != rtpmedia.SendRecv {
		t.Errorf("resume re-INVITE direction %v, want sendrecv", d)
	}
	ci = e.waitState(id, ynasim.CallConnected)
	if ci.HeldByNetwork || !e.restSeen(id, "acceptResume") {
		t.Errorf("sim: heldByNetwork=%v after resume", ci.HeldByNetwork)
	}
	// A mid-call network re-offer is answered with POST /connected.
	if err := e.sim.CallAction(e.ctx(15*time.Second), id, ynasim.ActionReoffer); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "POST /connected answering the re-offer", func() bool {
		ci, _ := e.sim.Call(id)
		return hasRESTEvent(ci, "connected") && ci.Pending == ""
	})
	e.action(id, ynasim.ActionHangup)
	waitFor(t, alice.byes, 10*time.Second, "BYE at the phone")
}

// A dropped notification channel must not end an established call, and signalling works
// again after the channel recovered.
func TestChannelDropKeepsCalls(t *testing.T) {
	e := newEnv(t, nil)
	alice, oc, id := establishedOutbound(t, e)
	before, _ := e.sim.Channel(testAccount)
	if err := e.sim.ApplyAccountFault(testAccount, ynasim.AccountFault{DropSocket: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.WaitChannel(e.ctx(20*time.Second), testAccount, func(ci ynasim.ChannelInfo) bool {
		return ci.SocketsOpen > 0 && ci.SocketsOpened > before.SocketsOpened
	}); err != nil {
		t.Fatalf("channel did not recover: %v", err)
	}
	if ci, _ := e.sim.Call(id); ci.State != ynasim.CallConnected {
		t.Fatalf("call state %s after the drop", ci.State)
	}
	// Network-side signalling after recovery: a hold reaches the phone.
	if err := e.sim.CallAction(e.ctx(15*time.Second), id, ynasim.ActionHold); err != nil {
		t.Fatal(err)
	}
	waitFor(t, alice.reinvites, 15*time.Second, "re-INVITE after channel recovery")
	e.waitState(id, ynasim.CallHold)
	if err := oc.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("outcome %s", ci.Outcome)
	}
}
