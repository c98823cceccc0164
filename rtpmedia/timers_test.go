package rtpmedia

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestPeriodicTimers: many timers share one goroutine, each runs at its own
// interval, stop ends a timer for good (also while it might be running), and
// the goroutine ends with the last timer.
func TestPeriodicTimers(t *testing.T) {
	s := &periodicTimers{}
	var fast, slow, stopped atomic.Int32
	tf := s.add(time.Millisecond, 5*time.Millisecond, func(time.Time) { fast.Add(1) })
	ts := s.add(time.Millisecond, 200*time.Millisecond, func(time.Time) { slow.Add(1) })
	tx := s.add(time.Millisecond, time.Millisecond, func(time.Time) { stopped.Add(1) })
	tx.stop()
	n := stopped.Load()
	deadline := time.Now().Add(testTimeout)
	for fast.Load() < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("fast timer ran %d times", fast.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if got := stopped.Load(); got != n {
		t.Errorf("a stopped timer ran again (%d → %d)", n, got)
	}
	// 20 fast runs take ≥ 95 ms: the slow one ran once or twice, not 20 times.
	if got := slow.Load(); got < 1 || got > 2 {
		t.Errorf("slow timer ran %d times while the fast one ran %d", got, fast.Load())
	}
	tf.stop()
	ts.stop()
	for {
		s.mu.Lock()
		running := s.running
		s.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("timer goroutine still running after the last stop")
		}
		time.Sleep(time.Millisecond)
	}
}
