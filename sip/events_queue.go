package sip

import (
	"context"
	"sync"
	"time"
)

// eventQueue is an unbounded FIFO in front of the Events channel, so that SIP
// handlers never block on a slow consumer. One pump goroutine (owned by the
// Server) feeds out and closes it after the final TerminatedEvent.
type eventQueue struct {
	mu     sync.Mutex
	q      []Event
	final  bool // TerminatedEvent queued; nothing more accepted
	signal chan struct{}
	out    chan Event
}

func newEventQueue() *eventQueue {
	return &eventQueue{signal: make(chan struct{}, 1), out: make(chan Event)}
}

// push queues ev; it returns false after the final event.
func (e *eventQueue) push(ev Event) bool {
	e.mu.Lock()
	if e.final {
		e.mu.Unlock()
		return false
	}
	e.q = append(e.q, ev)
	if _, ok := ev.(*TerminatedEvent); ok {
		e.final = true
	}
	e.mu.Unlock()
	select {
	case e.signal <- struct{}{}:
	default:
	}
	return true
}

// abandonAfter bounds how long undelivered events of an ended dialog are kept:
// a consumer that never reads must not pin the pump goroutine forever.
const abandonAfter = 30 * time.Second

// run delivers events until the final one was delivered or ctx ends; it closes out.
func (e *eventQueue) run(ctx context.Context) {
	defer close(e.out)
	var abandon <-chan time.Time
	for {
		e.mu.Lock()
		var ev Event
		if len(e.q) > 0 {
			ev = e.q[0]
			e.q[0] = nil
			e.q = e.q[1:]
		}
		final := e.final
		e.mu.Unlock()
		if final && abandon == nil {
			t := time.NewTimer(abandonAfter)
			defer t.Stop()
			abandon = t.C
		}
		if ev == nil {
			select {
			case <-e.signal:
				continue
			case <-ctx.Done():
				return
			case <-abandon:
				return
			}
		}
		select {
		case e.out <- ev:
			if _, ok := ev.(*TerminatedEvent); ok {
				return
			}
		case <-ctx.Done():
			return
		case <-abandon:
			return
		}
	}
}
