package sip

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// TestOptionsReadiness: an out-of-dialog OPTIONS (a proxy's health probe) gets
// 200 while Config.Ready is nil and 503 with Retry-After while it reports an
// error (draining), then 200 again.
func TestOptionsReadiness(t *testing.T) {
	var draining atomic.Bool
	s := newTestServer(t, func(c *Config) {
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
