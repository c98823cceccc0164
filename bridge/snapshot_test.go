package bridge

import (
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// TestCallsSnapshot: Calls() follows a call through connected, held and resumed (read
// concurrently by another goroutine, for the race detector), and ChannelState reports
// the line's channel.
func TestCallsSnapshot(t *testing.T) {
	e := newEnv(t, nil)
	eventually(t, 5*time.Second, "ChannelState connected", func() bool {
		st, ok := e.gw.ChannelState(testLine)
		return ok && st == yna.ChannelConnected
	})
	if _, ok := e.gw.ChannelState("12065550000"); ok {
		t.Error("ChannelState of an unknown line reported")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a concurrent reader
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = e.gw.Calls()
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	alice, oc, id := establishedOutbound(t, e)
	state := func() CallInfo {
		cs := e.gw.Calls()
		if len(cs) != 1 {
			t.Fatalf("Calls() = %+v, want one call", cs)
		}
		return cs[0]
	}
	ci := state()
	if ci.ID == "" || ci.Direction != DirectionOutbound || ci.Line != testLine || ci.YNACallID != id || ci.SIPCallID == "" ||
		ci.State != CallStateConnected || ci.Since.IsZero() || ci.SetupAt.After(ci.Since) {
		t.Errorf("connected call %+v", ci)
	}
	alice.reinvite(e.ctx(15*time.Second), oc, rtpmedia.SendOnly)
	e.waitState(id, ynasim.CallHold)
	eventually(t, 5*time.Second, "held state", func() bool { return state().State == CallStateHeld })
	alice.reinvite(e.ctx(15*time.Second), oc, rtpmedia.SendRecv)
	e.waitState(id, ynasim.CallConnected)
	eventually(t, 5*time.Second, "connected state after resume", func() bool { return state().State == CallStateConnected })
	if err := oc.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	cdr := e.cdr()
	if cdr.ID != ci.ID {
		t.Errorf("CDR id %q, snapshot id %q", cdr.ID, ci.ID)
	}
	eventually(t, 5*time.Second, "no calls after the hangup", func() bool { return len(e.gw.Calls()) == 0 })
}
