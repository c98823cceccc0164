package daemon

import (
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// Issue 9, failure 3: a DELETE /end the network did not take is kept in the store, and
// the next run retries it: the network call ends although its phone hung up before the
// restart.
func TestPendingEndRetriedAfterRestart(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	opts := testOptions(t, sim, t.TempDir(), testKey(t))
	d := startDaemon(t, opts)
	LinkForTest(t, d, sim)
	ctx := ctxT(t, 30*time.Second)

	// A network call whose DELETE /end failed before the daemon stopped.
	const far = "12065550123"
	if err := sim.SetNumberBehaviour(far, ynasim.Behaviour{Kind: ynasim.BehaviourManual}); err != nil {
		t.Fatal(err)
	}
	leg, err := testenv.NewEngine(t).NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	offer, err := leg.CreateOffer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := d.tokens.AccessToken(ctx, tLine)
	if err != nil {
		t.Fatal(err)
	}
	res, err := testenv.NewClient(t, sim).Start(ctx, tok, yna.StartRequest{From: tLine, To: far, SDP: offer})
	if err != nil {
		t.Fatal(err)
	}
	pe, ok := d.Store().(store.PendingEnds)
	if !ok {
		t.Fatal("the store keeps no pending ends")
	}
	if err := pe.AddPendingEnd(ctx, store.PendingEnd{YNACallID: res.CallID, Line: tLine, CDRID: "cdr-1"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ci, _ := sim.Call(res.CallID); ci.State == ynasim.CallTerminated {
		t.Fatal("the call ended before the restart")
	}

	d2 := startDaemon(t, opts)
	if err := sim.WaitCallState(ctx, res.CallID, ynasim.CallTerminated); err != nil {
		t.Fatalf("the pending DELETE /end was not retried: %v", err)
	}
	if ci, _ := sim.Call(res.CallID); ci.Outcome != ynasim.OutcomeClientCancelled {
		t.Errorf("outcome %s", ci.Outcome)
	}
	testenv.Eventually(t, 10*time.Second, "the pending end removed", func() bool {
		es, err := d2.Store().(store.PendingEnds).ListPendingEnds(ctx)
		return err == nil && len(es) == 0
	})
}
