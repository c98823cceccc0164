package bridge

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
)

// fakeMetrics records the optional metrics hooks.
type fakeMetrics struct {
	NopMetrics
	mu            sync.Mutex
	branches      []string
	mediaTimeouts int
	oneWays       int
	forked        chan struct{} // a branch result arrived
}

func newFakeMetrics() *fakeMetrics { return &fakeMetrics{forked: make(chan struct{}, 16)} }

func (m *fakeMetrics) CallStarted(string, string) CallMetrics { return fakeCallMetrics{m} }

func (m *fakeMetrics) ForkBranch(result string) {
	m.mu.Lock()
	m.branches = append(m.branches, result)
	m.mu.Unlock()
	m.forked <- struct{}{}
}

func (m *fakeMetrics) counts() (branches []string, timeouts, oneWays int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.branches...), m.mediaTimeouts, m.oneWays
}

type fakeCallMetrics struct{ m *fakeMetrics }

func (fakeCallMetrics) Setup(time.Duration)                 {}
func (fakeCallMetrics) Answered()                           {}
func (fakeCallMetrics) Media(string, uint64, uint64, int64) {}
func (fakeCallMetrics) Ended(string, time.Duration)         {}
func (c fakeCallMetrics) MediaTimeout() {
	c.m.mu.Lock()
	c.m.mediaTimeouts++
	c.m.mu.Unlock()
}
func (c fakeCallMetrics) OneWay() {
	c.m.mu.Lock()
	c.m.oneWays++
	c.m.mu.Unlock()
}

func newMetricsEnv(t *testing.T, mod func(*Config)) (*env, *fakeMetrics) {
	fm := newFakeMetrics()
	return newEnvWith(t, mod, nil, func(_ *env, d *Deps) { d.Metrics = fm }), fm
}

func TestMetricsForkBranchAnswered(t *testing.T) {
	e, fm := newMetricsEnv(t, nil)
	alice := e.registered("alice", "answer")
	id := e.inject(testLine)
	waitFor(t, alice.incoming, 15*time.Second, "incoming INVITE at the phone")
	e.waitState(id, ynasim.CallConnected)
	waitFor(t, fm.forked, 10*time.Second, "fork branch result")
	e.action(id, ynasim.ActionHangup)
	e.cdr()
	if b, to, ow := fm.counts(); !slices.Equal(b, []string{"answered"}) || to != 0 || ow != 0 {
		t.Errorf("branches %v, media timeouts %d, one-way %d; want [answered] 0 0", b, to, ow)
	}
}

func TestMetricsMediaTimeout(t *testing.T) {
	e, fm := newMetricsEnv(t, func(c *Config) { c.Timers.MediaTimeout = time.Second })
	alice, oc, _ := establishedOutbound(t, e)
	oc.media.mute()
	waitFor(t, alice.byes, 15*time.Second, "BYE after the media timeout")
	if cdr := e.cdr(); !strings.Contains(cdr.EndReason, "timeout") {
		t.Errorf("end reason %q", cdr.EndReason)
	}
	if _, to, ow := fm.counts(); to != 1 || ow != 0 {
		t.Errorf("media timeouts %d, one-way %d; want 1 0", to, ow)
	}
}

func TestOneWay(t *testing.T) {
	for _, tc := range []struct {
		answered     bool
		sipIn, netIn uint64
		want         bool
	}{
		{true, 100, 100, false},
		{true, 100, 0, true},
		{true, 0, 100, true},
		{true, 10, 0, false}, // too short to judge
		{true, 0, 0, false},  // no media at all is not one-way
		{false, 100, 0, false},
	} {
		if got := oneWay(tc.answered, tc.sipIn, tc.netIn); got != tc.want {
			t.Errorf("oneWay(%v, %d, %d) = %v", tc.answered, tc.sipIn, tc.netIn, got)
		}
	}
}
