package rtpmedia

import (
	"sync"
	"time"
)

// periodicTimers runs the periodic work of all legs (RTCP reports) from one
// goroutine instead of a goroutine and a ticker per leg. Work due within
// coalesceWindow of the earliest runs in the same wake-up. The goroutine
// starts with the first timer and ends when the last one stops.
type periodicTimers struct {
	mu      sync.Mutex
	items   map[*periodicTimer]struct{}
	wake    chan struct{} // an earlier timer was added
	running bool

	runMu sync.Mutex // held while timer functions run (stop waits on it)
}

// periodicTimer is one registration; stop ends it.
type periodicTimer struct {
	owner *periodicTimers
	at    time.Time
	every time.Duration
	fn    func(now time.Time)
}

// coalesceWindow: timers due this close together run in one wake-up (at most
// about 1/coalesceWindow wake-ups per second, each a walk over all timers).
const coalesceWindow = 50 * time.Millisecond

// reportTimers is the process-wide instance the legs use.
var reportTimers = &periodicTimers{}

// add runs fn every interval, first after first. fn runs on the timers'
// goroutine and must not block for long.
func (s *periodicTimers) add(first, every time.Duration, fn func(now time.Time)) *periodicTimer {
	t := &periodicTimer{owner: s, at: time.Now().Add(first), every: every, fn: fn}
	s.mu.Lock()
	if s.items == nil {
		s.items = map[*periodicTimer]struct{}{}
		s.wake = make(chan struct{}, 1)
	}
	s.items[t] = struct{}{}
	if !s.running {
		s.running = true
		go s.loop()
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return t
}

// stop removes t and waits until a run of its function in progress ended;
// afterwards fn is not called again. Idempotent; must not be called from fn.
func (t *periodicTimer) stop() {
	s := t.owner
	s.mu.Lock()
	delete(s.items, t)
	last := len(s.items) == 0 && s.running
	s.mu.Unlock()
	if last {
		select { // the goroutine ends now, not at the next due time
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.runMu.Lock()
	//nolint:staticcheck // an empty critical section: wait for a run in progress
	s.runMu.Unlock()
}

func (s *periodicTimers) loop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []*periodicTimer
	for {
		s.mu.Lock()
		if len(s.items) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		now := time.Now()
		var next time.Time
		due = due[:0]
		for t := range s.items {
			if !t.at.After(now.Add(coalesceWindow)) {
				due = append(due, t)
				t.at = t.at.Add(t.every)
				if t.at.Before(now) {
					t.at = now.Add(t.every)
				}
			}
			if next.IsZero() || t.at.Before(next) {
				next = t.at
			}
		}
		s.runMu.Lock()
		s.mu.Unlock()
		for _, t := range due {
			s.mu.Lock()
			_, live := s.items[t]
			s.mu.Unlock()
			if live {
				t.fn(now)
			}
		}
		s.runMu.Unlock()
		clear(due)
		timer.Reset(time.Until(next))
		select {
		case <-timer.C:
		case <-s.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
	}
}
