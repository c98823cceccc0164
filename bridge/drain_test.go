package bridge

import (
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
)

// TestDrain: while draining, a new INVITE gets 503 with Retry-After and a new invitation
// is ended at once (voicemail) without ringing the phone; the established call keeps its
// media and the notification channel stays open; after draining ends calls are taken again.
func TestDrain(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.registered("alice", "answer")
	oc := alice.call(e.ctx(30*time.Second), farNumber)
	if oc.code != 200 {
		t.Fatalf("final %d %s", oc.code, oc.reason)
	}
	id := e.simCall(ynasim.DirectionOutbound)
	e.waitState(id, ynasim.CallConnected)

	e.gw.SetDraining(true)
	if !e.gw.Draining() {
		t.Fatal("Draining() false after SetDraining(true)")
	}
	refused := alice.call(e.ctx(10*time.Second), farNumber)
	if refused.code != 503 || refused.retryAfter == "" {
		t.Errorf("INVITE while draining: %d %q Retry-After %q, want 503 with Retry-After", refused.code, refused.reason, refused.retryAfter)
	}

	in := e.inject(testLine)
	ci := e.waitState(in, ynasim.CallTerminated)
	if !e.restSeen(in, "end") || hasRESTEvent(ci, "inProgress") {
		t.Errorf("invitation while draining: events %+v, want DELETE /end at once", ci.Events)
	}
	if cdr := e.cdr(); cdr.YNACallID != in || cdr.Result != ResultUnavailable {
		t.Errorf("CDR of the invitation while draining %+v", cdr)
	}
	select {
	case inv := <-alice.incoming:
		t.Errorf("the phone rang while draining: %+v", inv)
	default:
	}

	// The established call continues: media reaches the far end, the channel is open.
	before := e.farEndStats(id).PacketsReceived
	eventually(t, 10*time.Second, "far end still receiving RTP", func() bool { return e.farEndStats(id).PacketsReceived >= before+25 })
	if ci, _ := e.sim.Call(id); ci.State != ynasim.CallConnected {
		t.Errorf("established call state %s while draining", ci.State)
	}
	if ch, err := e.sim.WaitChannel(e.ctx(5*time.Second), testAccount, func(ci ynasim.ChannelInfo) bool { return ci.SocketsOpen > 0 }); err != nil {
		t.Errorf("notification channel closed while draining: %v %+v", err, ch)
	}

	e.gw.SetDraining(false)
	if err := oc.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	e.waitState(id, ynasim.CallTerminated)
	again := alice.call(e.ctx(30*time.Second), farNumber)
	if again.code != 200 {
		t.Errorf("INVITE after draining: %d %s", again.code, again.reason)
	} else if err := again.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Error(err)
	}
}
