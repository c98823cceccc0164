package ynasim

import (
	"context"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna"
)

// TestBatchPublishedAtOnce: while a REST request is being handled (a batch), readers see
// the call as it was before it: never the request's state change without its "rest" event.
// Failed before: an e2e test woken at the state change (WaitCallState reads the state
// directly) took a snapshot with State Connected and no successful /connected event
// (TestInboundForkTwoPhones on a loaded machine).
func TestBatchPublishedAtOnce(t *testing.T) {
	cs := newCallStore(nil)
	defer cs.cancel()
	c := newCall(cs, &Account{ID: "acct"}, CallInfo{ID: "c1", Direction: DirectionInbound})
	c.setState(CallRinging)

	c.beginBatch()
	c.setState(CallConnected)
	if got := c.snapshot().State; got != CallRinging {
		t.Errorf("snapshot in a batch: state %s, want %s (unpublished)", got, CallRinging)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if err := c.waitState(ctx, CallConnected); err == nil {
		t.Error("waitState saw the batch's state before its event")
	}
	cancel()
	woke := make(chan CallInfo, 1)
	go func() {
		if c.waitState(context.Background(), CallConnected) == nil {
			woke <- c.snapshot()
		}
	}()
	c.logEvent(CallEvent{Kind: "rest", Name: yna.OpConnected, HTTPStatus: 200})
	c.endBatch()
	select {
	case ci := <-woke:
		if ci.State != CallConnected || len(ci.EventsOf("rest", yna.OpConnected)) != 1 {
			t.Errorf("after the batch: state %s, events %+v", ci.State, ci.Events)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitState not woken by endBatch")
	}
}
