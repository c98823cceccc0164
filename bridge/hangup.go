package bridge

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoSuchCall is returned by Hangup for an id that names no call in progress.
var ErrNoSuchCall = errors.New("bridge: no such call")

// Hangup ends the call in progress with the given id (CallInfo.ID, or its SIP Call-ID or
// YNA call id) through the call's normal end path, as a gateway shutdown would: BYE (or
// the final response / CANCEL before the answer) toward the phone, DELETE /end toward
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
		if s := c.snap.Load(); s != nil && (s.ID == id || s.SIPCallID == id || s.YNACallID == id) {
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
	case target.results <- event{kind: evShutdown}:
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
