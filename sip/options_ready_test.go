package sip

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestOptionsReadiness: an out-of-dialog OPTIONS (a proxy's health probe) gets
// 200 while Config.Ready is nil and 503 with Retry-After while it reports an
// error (draining), then 200 again.
func TestOptionsReadiness(t *testing.T) {
	var draining atomic.Bool
	s := newTestServer(t, func(c *Config) {
		c.readyTTL = -1 // every OPTIONS asks
		c.Ready = func(ctx context.Context) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if draining.Load() {
				return errors.New("draining")
			}
			return nil
		}
	})
	u := newRawUA(t, s.Addr("udp"))
	probe := func(callID string, want int) {
		t.Helper()
		u.send(u.req("OPTIONS", callID, "p", "", 1, ""))
		res := u.expect(want)
		if want == 503 && res.GetHeader("Retry-After") == nil {
			t.Errorf("503 to OPTIONS without Retry-After")
		}
		if res.GetHeader("Allow") == nil {
			t.Errorf("%d to OPTIONS without Allow", want)
		}
	}
	probe("ready-1", 200)
	draining.Store(true)
	probe("ready-2", 503)
	draining.Store(false)
	probe("ready-3", 200)
}

// TestOptionsReadinessCached: a burst of OPTIONS (unauthenticated, maybe a flood)
// costs one Ready call per readyTTL, and a changed readiness shows after it.
func TestOptionsReadinessCached(t *testing.T) {
	var calls atomic.Int32
	var draining atomic.Bool
	s := newTestServer(t, func(c *Config) {
		c.readyTTL = 300 * time.Millisecond
		c.Ready = func(context.Context) error {
			calls.Add(1)
			if draining.Load() {
				return errors.New("draining")
			}
			return nil
		}
	})
	u := newRawUA(t, s.Addr("udp"))
	for i := 0; i < 20; i++ {
		u.send(u.req("OPTIONS", fmt.Sprintf("burst-%d", i), "p", "", 1, ""))
		u.expect(200)
	}
	if n := calls.Load(); n < 1 || n > 3 {
		t.Errorf("20 OPTIONS in a burst called Ready %d times, want 1 (a few if the burst spans periods)", n)
	}
	draining.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond) // paces the probes, like a proxy's interval
	defer tick.Stop()
	for i := 0; ; i++ {
		u.send(u.req("OPTIONS", fmt.Sprintf("after-%d", i), "p", "", 1, ""))
		res := nextFinal(t, u)
		if res.StatusCode == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d 5 s after readiness changed", res.StatusCode)
		}
		<-tick.C
	}
}
