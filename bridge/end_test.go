package bridge

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
)

func TestDTMFInfoReachesNetwork(t *testing.T) {
	e := newEnv(t, nil)
	alice, oc, id := establishedOutbound(t, e)
	alice.info(e.ctx(10*time.Second), oc, "5")
	alice.info(e.ctx(10*time.Second), oc, "#")
	deadline := time.Now().Add(10 * time.Second)
	eventually(t, 12*time.Second, "digits at the far end", func() bool {
		st := e.farEndStats(id)
		if time.Now().After(deadline) {
			t.Fatalf("far end digits %q (dtmf packets %d)", st.Digits, st.DTMFPacketsRecv)
		}
		return strings.Contains(st.Digits, "5#")
	})
}

func TestSIPMediaTimeoutEndsBothSides(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Timers.MediaTimeout = time.Second })
	alice, oc, id := establishedOutbound(t, e)
	oc.media.mute() // the phone stops sending RTP
	waitFor(t, alice.byes, 15*time.Second, "BYE after the media timeout")
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("outcome %s", ci.Outcome)
	}
	if cdr := e.cdr(); !strings.Contains(cdr.EndReason, "timeout") {
		t.Errorf("end reason %q", cdr.EndReason)
	}
}

func TestCloseEndsCallsProperly(t *testing.T) {
	e := newEnv(t, nil)
	alice, _, id := establishedOutbound(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := e.gw.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, alice.byes, 5*time.Second, "BYE at the phone on Close")
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("outcome %s", ci.Outcome)
	}
	if n := e.gw.ActiveCalls(); n != 0 {
		t.Errorf("%d calls after Close", n)
	}
}

func TestCloseWhileRingingCancelsFork(t *testing.T) {
	e := newEnv(t, nil)
	alice, id := e.ringingAtAlice()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := e.gw.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, alice.cancels, 5*time.Second, "CANCEL at the phone on Close")
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeVoicemail {
		t.Errorf("outcome %s", ci.Outcome)
	}
}

// When the network media leg fails, both sides are ended: BYE to the phone, DELETE /end.
func TestNetworkMediaFailureEndsBothSides(t *testing.T) {
	legs := make(chan NetLeg, 4)
	e := newEnvMedia(t, nil, func(m MediaFactory) MediaFactory { return tapMedia{inner: m, legs: legs} })
	alice, _, id := establishedOutbound(t, e)
	leg := waitFor(t, legs, time.Second, "the call's network leg")
	_ = leg.Close() // the WebRTC transport dies under the call
	waitFor(t, alice.byes, 10*time.Second, "BYE after the network media failure")
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("outcome %s", ci.Outcome)
	}
	if cdr := e.cdr(); !strings.Contains(cdr.EndReason, "media") {
		t.Errorf("end reason %q", cdr.EndReason)
	}
}
