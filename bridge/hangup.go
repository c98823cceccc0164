package bridge

import (
	"errors"
	"time"
)

// ErrNoSuchCall is returned by Hangup for an id that names no call in progress.
var ErrNoSuchCall = errors.New("bridge: no such call")

// Hangup ends the call in progress with the given id (CallInfo.ID, or its SIP Call-ID or
// YNA call id) through the call's normal end path, as a gateway shutdown would: BYE (or
// the final response / CANCEL before the answer) toward the phone, DELETE /end toward
// the network, and the CDR. It returns once the call's goroutine has been told; the end
// itself is asynchronous (Calls stops listing it once it ended). Safe for concurrent use.
func (g *Gateway) Hangup(id string) error {
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
	t := time.NewTimer(g.cfg.Timers.DrainTimeout)
	defer t.Stop()
	select {
	case target.results <- event{kind: evShutdown}:
		return nil
	case <-t.C:
		return errors.New("bridge: hangup: the call did not take the request in time")
	}
}
