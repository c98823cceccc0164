package daemon

import (
	"sync"

	"github.com/ynagw/ynagw/metrics"
	"github.com/ynagw/ynagw/yna"
)

// metricsTap is the gateway's bridge.Metrics: the Prometheus owner, plus the last
// notification channel state of each line for the admin page and readiness (bridge has
// no accessor for it).
type metricsTap struct {
	*metrics.Metrics

	mu     sync.Mutex
	states map[string]yna.ChannelState
}

func newMetricsTap(m *metrics.Metrics) *metricsTap {
	return &metricsTap{Metrics: m, states: map[string]yna.ChannelState{}}
}

// ChannelState implements bridge.Metrics.
func (t *metricsTap) ChannelState(line string, s yna.ChannelState) {
	t.mu.Lock()
	t.states[line] = s
	t.mu.Unlock()
	t.Metrics.ChannelState(line, s)
}

// state returns the line's last channel state.
func (t *metricsTap) state(line string) (yna.ChannelState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.states[line]
	return s, ok
}

// forget drops a removed line.
func (t *metricsTap) forget(line string) {
	t.mu.Lock()
	delete(t.states, line)
	t.mu.Unlock()
}
