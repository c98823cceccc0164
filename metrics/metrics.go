package metrics

import (
	"net/http"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/yna"
)

// MaxLines caps the distinct values of the line label; further lines are counted as
// "other" until RemoveLine frees a slot. Labels are configured line names (or numbers,
// see LineLabels), so the cap is a safety net.
const MaxLines = 256

// SetupBuckets are the call setup histogram buckets (seconds): phones ring for up to tens
// of seconds, the network answers in ~0.1–3 s.
var SetupBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30}

// RequestBuckets are the YNA request histogram buckets (seconds), up to the SDK's 60 s
// request timeout.
var RequestBuckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Metrics owns the registry and every ynagw_ collector. Safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	callsActive   *prometheus.GaugeVec
	callsTotal    *prometheus.CounterVec
	callSetup     *prometheus.HistogramVec
	forkBranches  *prometheus.CounterVec
	ynaRequests   *prometheus.CounterVec
	ynaSeconds    *prometheus.HistogramVec
	channelUp     *prometheus.GaugeVec
	reconnects    *prometheus.CounterVec
	sipRequests   *prometheus.CounterVec
	sipResponses  *prometheus.CounterVec
	registrations prometheus.Gauge
	rtpPackets    *prometheus.CounterVec
	rtpLost       *prometheus.CounterVec
	oneWay        prometheus.Counter
	mediaTimeouts prometheus.Counter
	tokenExpiry   *prometheus.GaugeVec
	needsRelink   *prometheus.GaugeVec
	up            prometheus.Gauge
	authFailures  *prometheus.CounterVec
	authBlocked   prometheus.Gauge
	storeErrors   *prometheus.CounterVec
	lineOwned     *prometheus.GaugeVec
	leaseErrors   prometheus.Counter

	labelMSISDN bool              // line label = the number (WithLineLabels)
	names       map[string]string // line number → label (WithLineLabels)

	mu       sync.Mutex
	lines    map[string]bool             // line label values in use (≤ MaxLines)
	chStates map[string]yna.ChannelState // last reported channel state per line
}

var _ bridge.Metrics = (*Metrics)(nil)

// New returns Metrics with a fresh registry holding the ynagw_ metrics plus the Go runtime
// and process collectors. ynagw_up starts at 1; ynagw_build_info carries version. Lines
// are labelled as WithLineLabels says (default: Other, never the number).
func New(version string, opts ...Option) *Metrics {
	if version == "" {
		version = "unknown"
	}
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		lines:    map[string]bool{},
		chStates: map[string]yna.ChannelState{},
	}
	for _, o := range opts {
		o(m)
	}
	gv := func(name string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help(name)}, labels)
	}
	cv := func(name string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help(name)}, labels)
	}
	hv := func(name string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help(name), Buckets: buckets}, labels)
	}
	m.callsActive = gv(NameCallsActive, "direction")
	m.callsTotal = cv(NameCallsTotal, "direction", "result")
	m.callSetup = hv(NameCallSetup, SetupBuckets, "direction")
	m.forkBranches = cv(NameForkBranches, "result")
	m.ynaRequests = cv(NameYNARequests, "op", "code")
	m.ynaSeconds = hv(NameYNARequestSeconds, RequestBuckets, "op")
	m.channelUp = gv(NameChannelUp, "line")
	m.reconnects = cv(NameChannelReconnects, "line")
	m.sipRequests = cv(NameSIPRequests, "method")
	m.sipResponses = cv(NameSIPResponses, "code_class")
	m.registrations = prometheus.NewGauge(prometheus.GaugeOpts{Name: NameRegistrations, Help: help(NameRegistrations)})
	m.rtpPackets = cv(NameRTPPackets, "leg", "dir")
	m.rtpLost = cv(NameRTPLost, "leg")
	m.oneWay = prometheus.NewCounter(prometheus.CounterOpts{Name: NameOneWayCalls, Help: help(NameOneWayCalls)})
	m.mediaTimeouts = prometheus.NewCounter(prometheus.CounterOpts{Name: NameMediaTimeouts, Help: help(NameMediaTimeouts)})
	m.tokenExpiry = gv(NameTokenExpiry, "line")
	m.needsRelink = gv(NameLineNeedsRelink, "line")
	m.up = prometheus.NewGauge(prometheus.GaugeOpts{Name: NameUp, Help: help(NameUp)})
	m.authFailures = cv(NameSIPAuthFailures, "reason")
	m.authBlocked = prometheus.NewGauge(prometheus.GaugeOpts{Name: NameSIPAuthBlocked, Help: help(NameSIPAuthBlocked)})
	m.storeErrors = cv(NameStoreErrors, "op")
	m.lineOwned = gv(NameLineOwned, "line")
	m.leaseErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: NameLeaseErrors, Help: help(NameLeaseErrors)})
	for op := range storeOps {
		m.storeErrors.WithLabelValues(op)
	}
	for r := range authReasons {
		m.authFailures.WithLabelValues(r)
	}
	build := gv(NameBuildInfo, "version", "goversion")
	build.WithLabelValues(version, runtime.Version()).Set(1)
	m.up.Set(1)

	// Series that exist from the start, so dashboards and rate() see zeros, not gaps.
	for d := range directions {
		m.callsActive.WithLabelValues(d)
	}
	for l := range legs {
		m.rtpPackets.WithLabelValues(l, "in")
		m.rtpPackets.WithLabelValues(l, "out")
		m.rtpLost.WithLabelValues(l)
	}
	// Every configured line has its ynagw_channel_up series (0 until its channel is up),
	// so a line that never comes up (never linked, or its channel never connects) shows.
	nums := make([]string, 0, len(m.names))
	for n := range m.names {
		nums = append(nums, n)
	}
	sort.Strings(nums) // the same lines get a slot under MaxLines on every start
	for _, n := range nums {
		m.channelUp.WithLabelValues(m.line(n)).Set(0)
	}

	m.reg.MustRegister(m.callsActive, m.callsTotal, m.callSetup, m.forkBranches, m.ynaRequests,
		m.ynaSeconds, m.channelUp, m.reconnects, m.sipRequests, m.sipResponses, m.registrations,
		m.rtpPackets, m.rtpLost, m.oneWay, m.mediaTimeouts, m.tokenExpiry, m.needsRelink, m.up, build,
		m.authFailures, m.authBlocked, m.storeErrors, m.lineOwned, m.leaseErrors,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry (to add collectors or gather in tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format (for /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// SetUp sets ynagw_up (false while draining on shutdown).
func (m *Metrics) SetUp(up bool) { m.up.Set(b2f(up)) }

// SIPRequest counts one received SIP request.
func (m *Metrics) SIPRequest(method string) { m.sipRequests.WithLabelValues(sipMethod(method)).Inc() }

// SIPResponse counts one SIP response by status class.
func (m *Metrics) SIPResponse(code int) { m.sipResponses.WithLabelValues(codeClass(code)).Inc() }

// Registrations sets the number of registered contacts.
func (m *Metrics) Registrations(n int) { m.registrations.Set(float64(n)) }

// ForkBranch counts one finished fork branch (sip.BranchResult.Result).
func (m *Metrics) ForkBranch(result string) {
	m.forkBranches.WithLabelValues(branchResults.bound(result)).Inc()
}

// ChannelUp sets whether the notification channel of line is connected.
func (m *Metrics) ChannelUp(line string, up bool) {
	m.channelUp.WithLabelValues(m.line(line)).Set(b2f(up))
}

// ChannelReconnect counts one loss of the notification channel of line.
func (m *Metrics) ChannelReconnect(line string) { m.reconnects.WithLabelValues(m.line(line)).Inc() }

// TokenExpiry records when the access token of line expires.
func (m *Metrics) TokenExpiry(line string, at time.Time) {
	m.tokenExpiry.WithLabelValues(m.line(line)).Set(float64(at.UnixNano()) / 1e9)
}

// LineNeedsRelink sets whether line needs a relink (its tokens could not be renewed).
func (m *Metrics) LineNeedsRelink(line string, needs bool) {
	m.needsRelink.WithLabelValues(m.line(line)).Set(b2f(needs))
}

// MediaTimeout counts one call ended by the SIP-side media timeout (also available on the
// per-call handle).
func (m *Metrics) MediaTimeout() { m.mediaTimeouts.Inc() }

// RemoveLine deletes every series of line, given by number like every method here (after
// the line was removed or unlinked), and frees its slot under MaxLines. A line labelled
// Other leaves the shared Other series alone. A configured line keeps its ynagw_channel_up
// series, at 0 (unlinked, it is again a line without tokens, like one never linked).
func (m *Metrics) RemoveLine(line string) {
	l := m.lineValue(line)
	m.mu.Lock()
	known := l != Other && m.lines[l] // Other is shared: its series stay
	delete(m.lines, l)
	delete(m.chStates, line)
	m.mu.Unlock()
	if !known {
		return
	}
	for _, v := range []*prometheus.MetricVec{m.channelUp.MetricVec, m.reconnects.MetricVec, m.tokenExpiry.MetricVec,
		m.needsRelink.MetricVec} {
		v.DeleteLabelValues(l)
	}
	if _, configured := m.names[line]; configured {
		// A configured line stays visible as one without tokens (YnagwLineNotLinked).
		m.channelUp.WithLabelValues(m.line(line)).Set(0)
	}
}

// YNARequest implements bridge.Metrics (and has the signature of yna.Config.Observe).
func (m *Metrics) YNARequest(op string, status int, d time.Duration, err error) {
	code := ynaCode(status)
	if status == 0 && err == nil {
		code = Other
	}
	op = ynaOps.bound(op)
	m.ynaRequests.WithLabelValues(op, code).Inc()
	m.ynaSeconds.WithLabelValues(op).Observe(d.Seconds())
}

// ChannelState implements bridge.Metrics: ynagw_channel_up follows ChannelConnected and
// every change into ChannelRecovering counts as a reconnect. ChannelClosed removes nothing
// (use RemoveLine) but sets the gauge to 0.
func (m *Metrics) ChannelState(line string, state yna.ChannelState) {
	l := m.line(line)
	m.mu.Lock()
	prev, seen := m.chStates[line]
	m.chStates[line] = state
	if len(m.chStates) > MaxLines {
		delete(m.chStates, line) // unbounded line names: do not remember them
	}
	m.mu.Unlock()
	m.channelUp.WithLabelValues(l).Set(b2f(state == yna.ChannelConnected))
	if state == yna.ChannelRecovering && (!seen || prev != yna.ChannelRecovering) {
		m.reconnects.WithLabelValues(l).Inc()
	}
}

// CallStarted implements bridge.Metrics.
func (m *Metrics) CallStarted(direction, line string) bridge.CallMetrics {
	d := directions.bound(direction)
	m.callsActive.WithLabelValues(d).Inc()
	return &Call{m: m, dir: d}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
