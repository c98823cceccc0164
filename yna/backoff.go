package yna

import (
	"math/rand/v2"
	"time"
)

// Backoff computes capped exponential delays with jitter between reconnection rounds of the
// notification channel. The zero value uses 1 s .. 60 s.
type Backoff struct {
	Min, Max time.Duration
	// Rand returns a float in [0,1); nil uses math/rand/v2. Tests inject a fixed source.
	Rand func() float64
}

// Default bounds of Backoff.
const (
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = 60 * time.Second
)

// Delay returns the pause before retry number attempt (0-based): the exponential step
// d = min(Max, Min·2^attempt), jittered uniformly into [d/2, d) ("equal jitter"), so that
// many gateways reconnecting at once spread out but never retry faster than Min/2.
func (b Backoff) Delay(attempt int) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi <= 0 {
		hi = DefaultBackoffMax
	}
	if hi < lo {
		hi = lo
	}
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	if d > hi || d <= 0 {
		d = hi
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	f := r()
	if f < 0 || f >= 1 {
		f = 0
	}
	half := d / 2
	return half + time.Duration(f*float64(d-half))
}
