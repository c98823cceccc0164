package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestEarlyCancelEndsCall: a CANCEL sent as soon as the 100 Trying arrives (possibly
// before the call has hooked the transaction's cancel notification) still ends the
// call at once with ErrCanceled; it must not ring on until the transaction times out.
func TestEarlyCancelEndsCall(t *testing.T) {
	s := newTestServer(t, trunkLoopback)
	ended := make(chan error, 64)
	s.SetHandler(HandlerFunc(func(ctx context.Context, c *InboundCall) {
		select {
		case <-c.Done():
			ended <- c.Err()
		case <-time.After(4 * time.Second): // Timer I/H would end it only much later
			ended <- errors.New("call still ringing 4s after CANCEL")
			_ = c.Reject(500, "test gave up")
		}
	}))
	u := newRawUA(t, s.Addr("udp"))
	const n = 20
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("early-cancel-%d", i)
		inv := u.req("INVITE", id, "ft", "", 1, rawSDP("sendrecv"))
		u.send(inv)
		waitTrying(t, u, id) // a UAC may CANCEL only after a provisional response
		// CANCEL: same Request-URI, Via branch, From, To, Call-ID, CSeq number
		branch := inv[strings.Index(inv, "branch=")+7:]
		branch = branch[:strings.IndexAny(branch, ";\r")]
		c := u.req("CANCEL", id, "ft", "", 1, "")
		cb := c[strings.Index(c, "branch=")+7:]
		cb = cb[:strings.IndexAny(cb, ";\r")]
		u.send(strings.Replace(c, cb, branch, 1))
	}
	for i := 0; i < n; i++ {
		select {
		case err := <-ended:
			if !errors.Is(err, ErrCanceled) {
				t.Errorf("call %d ended with %v, want ErrCanceled", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d calls ended", i, n)
		}
	}
}

// waitTrying skips other messages until the 100 Trying of callID.
func waitTrying(t *testing.T, u *rawUA, callID string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if res, ok := u.recv(time.Until(deadline)).(*sip.Response); ok && res.StatusCode == 100 && res.CallID().Value() == callID {
			return
		}
	}
	t.Fatalf("no 100 Trying for %s", callID)
}
