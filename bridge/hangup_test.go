package bridge

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
)

// TestHangupByYNACallID: Gateway.Hangup finds an established call by its YNA call id,
// ends it through the normal end path (the phone gets BYE, the network DELETE /end, a
// CDR) and returns only once DELETE /end is done; an unknown id is ErrNoSuchCall.
func TestHangupByYNACallID(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.gw.Hangup(context.Background(), "nope"); !errors.Is(err, ErrNoSuchCall) {
		t.Errorf("Hangup(unknown) = %v, want ErrNoSuchCall", err)
	}
	alice, _, id := establishedOutbound(t, e)
	sipID := e.gw.Calls()[0].SIPCallID
	if err := e.gw.Hangup(e.ctx(10*time.Second), id); err != nil {
		t.Fatalf("Hangup(%s): %v", id, err)
	}
	if !e.restSeen(id, "end") {
		t.Error("Hangup returned before DELETE /end")
	}
	if got := waitFor(t, alice.byes, 10*time.Second, "BYE at the phone"); got != sipID {
		t.Errorf("BYE for %q, want %q", got, sipID)
	}
	e.waitState(id, ynasim.CallTerminated)
	if c := e.cdr(); c.YNACallID != id || c.Result != ResultAnswered || c.EndedAt.IsZero() || c.EndReason != reasonAdminHangup {
		t.Errorf("CDR %+v, want result %s, end reason %q", c, ResultAnswered, reasonAdminHangup)
	}
	eventually(t, 5*time.Second, "the call gone from Calls", func() bool { return len(e.gw.Calls()) == 0 })
	if err := e.gw.Hangup(context.Background(), id); !errors.Is(err, ErrNoSuchCall) {
		t.Errorf("second Hangup = %v, want ErrNoSuchCall", err)
	}
}
