package metrics

import (
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/internal/testpeer"
	"github.com/ynagw/ynagw/yna"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCallLifecycle(t *testing.T) {
	m := New("1.2.3")
	c := m.CallStarted(bridge.DirectionOutbound, "14255550100")
	if got := testutil.ToFloat64(m.callsActive.WithLabelValues("outbound")); got != 1 {
		t.Fatalf("calls_active = %v, want 1", got)
	}
	c.Setup(1500 * time.Millisecond)
	c.Answered()
	c.Media("sip", 100, 90, 3)
	c.Media("net", 95, 100, -2)
	c.Ended(bridge.ResultAnswered, time.Minute)
	c.Ended(bridge.ResultAnswered, time.Minute) // idempotent
	checks := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"active", m.callsActive.WithLabelValues("outbound"), 0},
		{"total", m.callsTotal.WithLabelValues("outbound", "answered"), 1},
		{"sip in", m.rtpPackets.WithLabelValues("sip", "in"), 100},
		{"sip out", m.rtpPackets.WithLabelValues("sip", "out"), 90},
		{"net in", m.rtpPackets.WithLabelValues("net", "in"), 95},
		{"sip lost", m.rtpLost.WithLabelValues("sip"), 3},
		{"net lost (negative ignored)", m.rtpLost.WithLabelValues("net"), 0},
		{"oneway", m.oneWay, 0},
		{"media timeouts", m.mediaTimeouts, 0},
	}
	for _, ck := range checks {
		if got := testutil.ToFloat64(ck.c); got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, got, ck.want)
		}
	}
	if n := testutil.CollectAndCount(m.callSetup, NameCallSetup); n != 1 {
		t.Fatalf("setup histogram series = %d, want 1", n)
	}
	want := `
# HELP ynagw_call_setup_seconds ` + help(NameCallSetup) + `
# TYPE ynagw_call_setup_seconds histogram
ynagw_call_setup_seconds_bucket{direction="outbound",le="0.1"} 0
ynagw_call_setup_seconds_bucket{direction="outbound",le="0.25"} 0
ynagw_call_setup_seconds_bucket{direction="outbound",le="0.5"} 0
ynagw_call_setup_seconds_bucket{direction="outbound",le="1"} 0
ynagw_call_setup_seconds_bucket{direction="outbound",le="2"} 1
ynagw_call_setup_seconds_bucket{direction="outbound",le="3"} 1
ynagw_call_setup_seconds_bucket{direction="outbound",le="5"} 1
ynagw_call_setup_seconds_bucket{direction="outbound",le="7.5"} 1
ynagw_call_setup_seconds_bucket{direction="outbound",le="10"} 1
ynagw_call_setup_seconds_bucket{direction="outbound",le="15"} 1
ynagw_call_setup_seconds_bucket{direction="outbound",le="20"} 1
ynagw_call_setup_seconds_bucket{direction="outbound",le="30"} 1
ynagw_call_setup_seconds_bucket{direction="outbound",le="+Inf"} 1
ynagw_call_setup_seconds_sum{direction="outbound"} 1.5
ynagw_call_setup_seconds_count{direction="outbound"} 1
`
	if err := testutil.CollectAndCompare(m.callSetup, strings.NewReader(want), NameCallSetup); err != nil {
		t.Fatal(err)
	}
}

func TestOneWayAndMediaTimeout(t *testing.T) {
	tests := []struct {
		name             string
		answered         bool
		sipIn, netIn     uint64
		explicit, mtimer bool
		wantOneWay       float64
		wantTimeouts     float64
	}{
		{"both ways", true, 10, 10, false, false, 0, 0},
		{"phone sends nothing", true, 0, 10, false, false, 1, 0},
		{"network sends nothing", true, 10, 0, false, false, 1, 0},
		{"no media at all", true, 0, 0, false, false, 0, 0},
		{"unanswered one way", false, 0, 10, false, false, 0, 0},
		{"explicit", true, 10, 10, true, false, 1, 0},
		{"explicit and detected counted once", true, 0, 10, true, false, 1, 0},
		{"media timeout", true, 10, 10, false, true, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New("x")
			c := m.CallStarted(bridge.DirectionInbound, "14255550100").(*Call)
			if tt.answered {
				c.Answered()
			}
			if tt.explicit {
				c.OneWay()
			}
			if tt.mtimer {
				c.MediaTimeout()
				c.MediaTimeout()
			}
			c.Media("sip", tt.sipIn, 5, 0)
			c.Media("net", tt.netIn, 5, 0)
			c.Ended(bridge.ResultAnswered, time.Second)
			if got := testutil.ToFloat64(m.oneWay); got != tt.wantOneWay {
				t.Errorf("oneway = %v, want %v", got, tt.wantOneWay)
			}
			if got := testutil.ToFloat64(m.mediaTimeouts); got != tt.wantTimeouts {
				t.Errorf("media timeouts = %v, want %v", got, tt.wantTimeouts)
			}
		})
	}
}

func TestPlainMethods(t *testing.T) {
	m := New("x", byNumber)
	m.SIPRequest("invite")
	m.SIPRequest("INVITE")
	m.SIPRequest("FOO")
	m.SIPResponse(180)
	m.SIPResponse(486)
	m.SIPResponse(99)
	m.Registrations(3)
	m.ForkBranch("cancelled")
	m.ForkBranch("weird")
	m.ChannelUp("14255550100", true)
	m.ChannelReconnect("14255550100")
	at := time.Unix(1_800_000_000, 0)
	m.TokenExpiry("14255550100", at)
	m.LineNeedsRelink("14255550100", true)
	m.MediaTimeout()
	m.YNARequest(yna.OpStart, 201, 200*time.Millisecond, nil)
	m.YNARequest(yna.OpStart, 0, time.Second, errors.New("dial"))
	m.YNARequest(yna.OpNameToken, 418, time.Second, nil)
	m.YNARequest("bogus", 999, time.Second, nil)
	m.SetUp(false)
	checks := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"INVITE", m.sipRequests.WithLabelValues("INVITE"), 2},
		{"other method", m.sipRequests.WithLabelValues("other"), 1},
		{"1xx", m.sipResponses.WithLabelValues("1xx"), 1},
		{"4xx", m.sipResponses.WithLabelValues("4xx"), 1},
		{"other class", m.sipResponses.WithLabelValues("other"), 1},
		{"registrations", m.registrations, 3},
		{"branch cancelled", m.forkBranches.WithLabelValues("cancelled"), 1},
		{"branch other", m.forkBranches.WithLabelValues("other"), 1},
		{"channel up", m.channelUp.WithLabelValues("14255550100"), 1},
		{"reconnects", m.reconnects.WithLabelValues("14255550100"), 1},
		{"token expiry", m.tokenExpiry.WithLabelValues("14255550100"), 1_800_000_000},
		{"needs relink", m.needsRelink.WithLabelValues("14255550100"), 1},
		{"media timeouts", m.mediaTimeouts, 1},
		{"yna start 201", m.ynaRequests.WithLabelValues("start", "201"), 1},
		{"yna start error", m.ynaRequests.WithLabelValues("start", "error"), 1},
		{"yna token 4xx", m.ynaRequests.WithLabelValues("token", "4xx"), 1},
		{"yna other other", m.ynaRequests.WithLabelValues("other", "other"), 1},
		{"up", m.up, 0},
	}
	for _, ck := range checks {
		if got := testutil.ToFloat64(ck.c); got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, got, ck.want)
		}
	}
	if n := testutil.CollectAndCount(m.ynaSeconds); n != 3 {
		t.Errorf("yna histogram series = %d, want 3 (start, token, other)", n)
	}
	m.RemoveLine("14255550100")
	for _, c := range []prometheus.Collector{m.channelUp, m.reconnects, m.tokenExpiry, m.needsRelink} {
		if n := testutil.CollectAndCount(c); n != 0 {
			t.Errorf("after RemoveLine: %d series left", n)
		}
	}
}

func TestChannelState(t *testing.T) {
	m := New("x", byNumber)
	const line = "14255550100"
	steps := []struct {
		state      yna.ChannelState
		up, recons float64
	}{
		{yna.ChannelConnecting, 0, 0},
		{yna.ChannelConnected, 1, 0},
		{yna.ChannelRecovering, 0, 1},
		{yna.ChannelRecovering, 0, 1}, // still the same outage
		{yna.ChannelConnected, 1, 1},
		{yna.ChannelRecovering, 0, 2},
		{yna.ChannelFailed, 0, 2},
		{yna.ChannelClosed, 0, 2},
	}
	for i, s := range steps {
		m.ChannelState(line, s.state)
		if got := testutil.ToFloat64(m.channelUp.WithLabelValues(line)); got != s.up {
			t.Errorf("step %d (%v): up = %v, want %v", i, s.state, got, s.up)
		}
		if got := testutil.ToFloat64(m.reconnects.WithLabelValues(line)); got != s.recons {
			t.Errorf("step %d (%v): reconnects = %v, want %v", i, s.state, got, s.recons)
		}
	}
}

func TestLineNeedsRelink(t *testing.T) {
	m := New("x", byNumber)
	const a, b = "14255550100", "14255550101"
	steps := []struct {
		line   string
		needs  bool
		wantA  float64
		wantB  float64
		series int
	}{
		{a, false, 0, 0, 1},
		{b, false, 0, 0, 2},
		{a, true, 1, 0, 2}, // refresh refused: only that line
		{a, true, 1, 0, 2},
		{a, false, 0, 0, 2}, // relinked
		{b, true, 0, 1, 2},
	}
	for i, s := range steps {
		m.LineNeedsRelink(s.line, s.needs)
		if got := testutil.ToFloat64(m.needsRelink.WithLabelValues(a)); got != s.wantA {
			t.Errorf("step %d: %s = %v, want %v", i, a, got, s.wantA)
		}
		if i > 0 {
			if got := testutil.ToFloat64(m.needsRelink.WithLabelValues(b)); got != s.wantB {
				t.Errorf("step %d: %s = %v, want %v", i, b, got, s.wantB)
			}
		}
		if n := testutil.CollectAndCount(m.needsRelink, NameLineNeedsRelink); n != s.series {
			t.Errorf("step %d: %d series, want %d", i, n, s.series)
		}
	}
	want := `
# HELP ynagw_line_needs_relink ` + help(NameLineNeedsRelink) + `
# TYPE ynagw_line_needs_relink gauge
ynagw_line_needs_relink{line="14255550100"} 0
ynagw_line_needs_relink{line="14255550101"} 1
`
	if err := testutil.CollectAndCompare(m.needsRelink, strings.NewReader(want), NameLineNeedsRelink); err != nil {
		t.Fatal(err)
	}
	m.RemoveLine(b)
	if n := testutil.CollectAndCount(m.needsRelink, NameLineNeedsRelink); n != 1 {
		t.Errorf("after RemoveLine: %d series, want 1", n)
	}
	if !strings.Contains(MarkdownTable(), "| `ynagw_line_needs_relink` | gauge | `line` |") {
		t.Errorf("markdown table lacks the gauge:\n%s", MarkdownTable())
	}
}

// TestLabelsBounded feeds random garbage to every labelled method and checks the series
// count stays within the fixed sets.
func TestLabelsBounded(t *testing.T) {
	m := New("x", byNumber)
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, 1+rng.IntN(12))
		for i := range b {
			b[i] = byte('A' + rng.IntN(58))
		}
		return string(b)
	}
	for i := 0; i < 1000; i++ {
		m.SIPRequest(word())
		m.SIPResponse(rng.IntN(2000) - 500)
		m.ForkBranch(word())
		m.YNARequest(word(), rng.IntN(1200)-100, time.Millisecond, nil)
		c := m.CallStarted(word(), word())
		c.Media(word(), 1, 1, 1)
		c.Ended(word(), time.Second)
		m.ChannelState(strconv.Itoa(i), yna.ChannelState(rng.IntN(7)))
		m.TokenExpiry(strconv.Itoa(i), time.Now())
		m.LineNeedsRelink(strconv.Itoa(i), rng.IntN(2) == 0)
	}
	bounds := []struct {
		c   prometheus.Collector
		max int
	}{
		{m.sipRequests, len(sipMethods) + 1},
		{m.sipResponses, 7},
		{m.forkBranches, len(branchResults) + 1},
		// op × (codes + 5 classes + error + other)
		{m.ynaRequests, 1 * (len(httpCodes) + 5 + 2)},
		{m.ynaSeconds, 1},
		{m.callsActive, 3},
		{m.callsTotal, 3 * (len(results) + 1)},
		{m.rtpPackets, 3 * 2},
		{m.rtpLost, 3},
		{m.channelUp, MaxLines + 1},
		{m.reconnects, MaxLines + 1},
		{m.tokenExpiry, MaxLines + 1},
		{m.needsRelink, MaxLines + 1},
	}
	for i, b := range bounds {
		if n := testutil.CollectAndCount(b.c); n > b.max || n == 0 {
			t.Errorf("collector %d: %d series, want 1..%d", i, n, b.max)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.lines) > MaxLines || len(m.chStates) > MaxLines {
		t.Errorf("line maps grew to %d/%d", len(m.lines), len(m.chStates))
	}
}

func TestRegistryMatchesTable(t *testing.T) {
	m := New("v")
	exercise(m)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "ynagw_") {
			got = append(got, mf.GetName())
		}
	}
	want := Names()
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("registered %v\ntable %v", got, want)
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if !strings.Contains(MarkdownTable(), "| `ynagw_up` | gauge | – |") {
		t.Errorf("markdown table:\n%s", MarkdownTable())
	}
}

// exercise touches every metric so each has at least one series.
func exercise(m *Metrics) {
	c := m.CallStarted(bridge.DirectionOutbound, "14255550100").(*Call)
	c.Setup(time.Second)
	c.Answered()
	c.MediaTimeout()
	c.Media("sip", 0, 10, 0)
	c.Media("net", 10, 0, 1)
	c.Ended(bridge.ResultAnswered, time.Minute)
	m.ForkBranch("answered")
	m.YNARequest(yna.OpStart, 201, time.Second, nil)
	m.ChannelState("14255550100", yna.ChannelRecovering)
	m.SIPRequest("INVITE")
	m.SIPResponse(200)
	m.Registrations(2)
	m.TokenExpiry("14255550100", time.Now().Add(time.Hour))
	m.LineNeedsRelink("14255550100", false)
	m.LineOwned("14255550100", true)
	m.LeaseError()
}

// TestPromtoolCheck scrapes Handler over loopback HTTP and runs `promtool check metrics`.
func TestPromtoolCheck(t *testing.T) {
	promtool := testpeer.Require(t, "promtool")
	m := New("1.0.0")
	exercise(m)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	srv.Client().CloseIdleConnections()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %v %d", err, resp.StatusCode)
	}
	for _, n := range Names() {
		if !strings.Contains(string(body), "\n"+n) {
			t.Errorf("scrape lacks %s", n)
		}
	}
	path := filepath.Join(t.TempDir(), "metrics.txt")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = f
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
