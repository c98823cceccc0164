package sip

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAnswerAbandonedHangsUp: when the context of Answer ends before the ACK, the
// caller never gets the dialog; the server must end the call itself (BYE after the
// ACK) instead of leaving it up with nobody to hang it up.
func TestAnswerAbandonedHangsUp(t *testing.T) {
	s := newTestServer(t, trunkLoopback)
	giveUp := make(chan struct{})
	answerErr := make(chan error, 1)
	s.SetHandler(HandlerFunc(func(ctx context.Context, c *InboundCall) {
		actx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-giveUp:
				cancel()
			case <-actx.Done():
			}
		}()
		_, err := c.Answer(actx, appSDP(40002, SendRecv, 1))
		answerErr <- err
	}))
	u := newRawUA(t, s.Addr("udp"))
	u.send(u.req("INVITE", "abandon", "ft", "", 1, rawSDP("sendrecv")))
	res := u.expect(200)
	close(giveUp)
	select {
	case err := <-answerErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Answer = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Answer did not return")
	}
	tag, _ := res.To().Params.Get("tag")
	u.send(u.req("ACK", "abandon", "ft", tag, 1, ""))
	bye := u.expectRequest("BYE")
	if h := bye.GetHeader("Reason"); h == nil {
		t.Error("BYE without Reason")
	}
	u.reply(bye, 200, "")
}
