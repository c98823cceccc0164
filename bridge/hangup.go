package bridge

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoSuchCall is returned by Hangup for an id that names no call in progress.
var ErrNoSuchCall = errors.New("bridge: no such call")

// Hangup ends the call in progress with the given id (CallInfo.ID, or its SIP Call-ID or
// YNA call id) through the call's normal end path (event evHangup): BYE (or the final
// response 480 / CANCEL before the answer) toward the phone, DELETE /end toward
// the network (retried in the background if it fails), and the CDR. It returns once
// both sides have been told (the CDR is written right after), or with ctx's error. Safe
// for concurrent use.
func (g *Gateway) Hangup(ctx context.Context, id string) error {
	if id == "" {
		return ErrNoSuchCall
	}
	var target *call
	g.mu.Lock()
	for c := range g.live {
		// Like Calls: a call whose end already told both sides is no longer there.
		if s := c.snap.Load(); s != nil && c.helperCtx.Err() == nil && (s.ID == id || s.SIPCallID == id || s.YNACallID == id) {
			target = c
			break
		}
	}
	g.mu.Unlock()
	if target == nil {
		return ErrNoSuchCall
	}
	// helperCtx is set before the call is published and cancelled by end once the SIP
	// side and DELETE /end are done.
	ended := target.helperCtx.Done()
	select {
	case target.results <- event{kind: evHangup}:
	case <-ended:
		return nil // it ended meanwhile
	case <-ctx.Done():
		return fmt.Errorf("bridge: hangup: %w", ctx.Err())
	}
	select {
	case <-ended:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bridge: hangup requested, call not ended yet: %w", ctx.Err())
	}
}

// reasonAdminHangup is the CDR end reason (and the BYE's Reason text) of a call ended
// by Hangup.
const reasonAdminHangup = "hung up by administrator"

// outHangup: an outbound call hung up before the answer; the phone gets 480 with the
// reason, the network DELETE /end.
func (c *call) outHangup(event) callState {
	return c.end(rejected(callErr(480, ResultCancelled, reasonAdminHangup, false, nil)))
}

// inHangup: an inbound call hung up before /connected: the phones get CANCEL (or the one
// that answered a BYE), the network DELETE /end.
func (c *call) inHangup(event) callState {
	return c.end(cause{result: ResultCancelled, reason: reasonAdminHangup,
		cancel: `SIP;cause=480;text="Hung up by administrator"`, bye: reasonAdminHangup})
}

// adminHangup: an answered call hung up: BYE toward the phone, DELETE /end.
func (c *call) adminHangup(event) callState {
	return c.end(cause{result: ResultAnswered, reason: reasonAdminHangup, bye: reasonAdminHangup})
}
