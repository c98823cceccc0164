package bridge

import (
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
)

const callerNumber1 = "12065550123"

func TestInboundAnsweredMediaBothWays(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.registered("alice", "answer")
	id := e.inject(testLine)
	in := waitFor(t, alice.incoming, 15*time.Second, "incoming INVITE at the phone")
	if in.from != "+"+callerNumber1 && in.from != callerNumber1 {
		t.Errorf("From user %q", in.from)
	}
	e.waitState(id, ynasim.CallConnected)
	// The sim logs a REST event just after the state change it causes.
	eventually(t, 5*time.Second, "/inProgress, /ringing and /connected in the sim's log", func() bool {
		ci, _ := e.sim.Call(id)
		return hasRESTEvent(ci, "inProgress") && hasRESTEvent(ci, "ringing") && hasRESTEvent(ci, "connected")
	})
	waitFor(t, in.media.gotRx, 15*time.Second, "RTP from the network at the phone")
	eventually(t, 10*time.Second, "far end receiving RTP", func() bool { return e.farEndStats(id).PacketsReceived > 0 })

	// The network hangs up: the phone gets a BYE.
	e.action(id, ynasim.ActionHangup)
	waitFor(t, alice.byes, 10*time.Second, "BYE at the phone")
	if cdr := e.cdr(); cdr.Direction != DirectionInbound || cdr.Result != ResultAnswered || cdr.Peer == "" {
		t.Errorf("CDR %+v", cdr)
	}
}

func TestInboundPhoneHangsUp(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.registered("alice", "answer")
	id := e.inject(testLine)
	in := waitFor(t, alice.incoming, 15*time.Second, "incoming INVITE")
	e.waitState(id, ynasim.CallConnected)
	if err := in.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	ci := e.waitState(id, ynasim.CallTerminated)
	if ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("outcome %s", ci.Outcome)
	}
}

func TestInboundDeclinedGoesToVoicemail(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.registered("alice", "busy")
	id := e.inject(testLine)
	waitFor(t, alice.invites, 10*time.Second, "INVITE at the phone")
	ci := e.waitState(id, ynasim.CallTerminated)
	if ci.Outcome != ynasim.OutcomeVoicemail || !e.restSeen(id, "end") {
		t.Errorf("outcome %s, want voicemail via DELETE /end", ci.Outcome)
	}
	if cdr := e.cdr(); cdr.Result != ResultBusy || cdr.SIPStatus != 486 {
		t.Errorf("CDR %+v", cdr)
	}
}

func TestInboundCancelledByNetwork(t *testing.T) {
	e := newEnv(t, nil)
	alice, id := e.ringingAtAlice()
	e.action(id, ynasim.ActionCancel)
	if r := waitFor(t, alice.cancels, 10*time.Second, "CANCEL at the phone"); !strings.Contains(r, "cause=487") {
		t.Errorf("CANCEL Reason %q", r)
	}
	if cdr := e.cdr(); cdr.Result != ResultCancelled {
		t.Errorf("CDR %+v", cdr)
	}
}

func TestInboundAnsweredOnMobile(t *testing.T) {
	e := newEnv(t, nil)
	alice, id := e.ringingAtAlice()
	e.action(id, ynasim.ActionAnswerOnMobile)
	if r := waitFor(t, alice.cancels, 10*time.Second, "CANCEL at the phone"); !strings.Contains(r, "cause=200") || !strings.Contains(r, "elsewhere") {
		t.Errorf("CANCEL Reason %q, want completed elsewhere", r)
	}
}

func TestInboundNoContactsEndsAtOnce(t *testing.T) {
	e := newEnv(t, nil)
	id := e.inject(testLine)
	ci := e.waitState(id, ynasim.CallTerminated)
	if ci.Outcome != ynasim.OutcomeVoicemail {
		t.Errorf("outcome %s", ci.Outcome)
	}
	if cdr := e.cdr(); cdr.Result != ResultUnavailable {
		t.Errorf("CDR %+v", cdr)
	}
}

func TestInboundRingTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Timers.RingTimeout = time.Second })
	alice := e.registered("alice", "ring")
	id := e.inject(testLine)
	waitFor(t, alice.cancels, 10*time.Second, "CANCEL at the phone after the ring timeout")
	ci := e.waitState(id, ynasim.CallTerminated)
	if ci.Outcome != ynasim.OutcomeVoicemail {
		t.Errorf("outcome %s", ci.Outcome)
	}
}
