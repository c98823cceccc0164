package metrics

import (
	"time"

	"github.com/ynagw/ynagw/bridge"
)

// Call is the metrics handle of one call (bridge.CallMetrics). It is used by the call's
// goroutine only; Ended is idempotent.
type Call struct {
	m        *Metrics
	dir      string
	answered bool
	ended    bool
	oneWay   bool
	timedOut bool
	in       map[string]uint64 // packets received per leg reported by Media
}

var _ bridge.CallMetrics = (*Call)(nil)

// Setup implements bridge.CallMetrics: observes the setup time of an answered call.
func (c *Call) Setup(d time.Duration) { c.m.callSetup.WithLabelValues(c.dir).Observe(d.Seconds()) }

// Answered implements bridge.CallMetrics.
func (c *Call) Answered() { c.answered = true }

// Media implements bridge.CallMetrics: adds the packet counters of leg ("sip" or "net").
func (c *Call) Media(leg string, packetsIn, packetsOut uint64, lost int64) {
	l := legs.bound(leg)
	c.m.rtpPackets.WithLabelValues(l, "in").Add(float64(packetsIn))
	c.m.rtpPackets.WithLabelValues(l, "out").Add(float64(packetsOut))
	if lost > 0 { // negative loss (duplicates) is not "found" packets
		c.m.rtpLost.WithLabelValues(l).Add(float64(lost))
	}
	if c.in == nil {
		c.in = map[string]uint64{}
	}
	c.in[l] += packetsIn
}

// OneWay marks the call as one-way (counted once, at Ended). Ended also detects one-way
// media by itself from the Media reports: an answered call where one leg received packets
// and the other none.
func (c *Call) OneWay() { c.oneWay = true }

// MediaTimeout marks the call as ended by the SIP-side media timeout (counted once).
func (c *Call) MediaTimeout() {
	if !c.timedOut {
		c.timedOut = true
		c.m.mediaTimeouts.Inc()
	}
}

// Ended implements bridge.CallMetrics: counts the call and ends it in ynagw_calls_active.
func (c *Call) Ended(result string, _ time.Duration) {
	if c.ended {
		return
	}
	c.ended = true
	c.m.callsActive.WithLabelValues(c.dir).Dec()
	c.m.callsTotal.WithLabelValues(c.dir, results.bound(result)).Inc()
	sipIn, sipOK := c.in["sip"]
	netIn, netOK := c.in["net"]
	detected := c.answered && sipOK && netOK && (sipIn == 0) != (netIn == 0)
	if c.oneWay || detected {
		c.m.oneWay.Inc()
	}
}
