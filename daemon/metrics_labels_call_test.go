package daemon_test

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/daemon"
	"github.com/ynagw/ynagw/demo"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// Numbers of the calls below; none may show up in /metrics.
const (
	dialled = "2065550123"
	caller  = "12065550199"
)

// scrapeMetrics GETs /metrics from the daemon's admin listener over loopback.
func scrapeMetrics(t *testing.T, d *daemon.Daemon) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.AdminAddr()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// noNumbers fails if any line or peer number (national digits) appears in the scrape.
func noNumbers(t *testing.T, when, body string) {
	t.Helper()
	for _, n := range []string{daemon.LineForTest[1:], dialled, caller[1:]} {
		for _, l := range strings.Split(body, "\n") {
			if strings.Contains(l, n) {
				t.Errorf("%s: /metrics carries the number %s: %s", when, n, l)
			}
		}
	}
}

// phoneCalls registers the test phone, places an outbound call and answers an inbound
// one, calling during(phase) while each call is connected; both end with the phone's BYE.
func phoneCalls(t *testing.T, d *daemon.Daemon, sim *ynasim.Sim, during func(phase string)) {
	t.Helper()
	ctx := testenv.Ctx(t, 40*time.Second)
	gw, err := netip.ParseAddrPort(d.SIPAddr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	ph, err := demo.NewPhone("201", "pw", "ynagw.test", gw)
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	if err := ph.Register(ctx); err != nil {
		t.Fatal(err)
	}

	c, err := ph.Dial(ctx, dialled, nil)
	if err != nil || c.Code != 200 {
		t.Fatalf("outbound call: %v (code %d)", err, c.Code)
	}
	out := testenv.WaitCall(t, sim, ynasim.DirectionOutbound, 10*time.Second)
	testenv.WaitState(t, sim, out, ynasim.CallConnected)
	during("outbound call")
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.WaitState(t, sim, out, ynasim.CallTerminated)

	in, err := sim.InjectCall(ctx, daemon.LineForTest, caller)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case c = <-ph.Incoming():
	case <-ctx.Done():
		t.Fatal("the phone did not ring")
	}
	testenv.WaitState(t, sim, in, ynasim.CallConnected)
	during("inbound call")
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.WaitState(t, sim, in, ynasim.CallTerminated)
}

// TestMetricsWithoutMSISDN: during and after an outbound and an inbound call through
// the embedded simulator, nothing in /metrics carries the line's number (or a peer's);
// the line label is the line's name (here the default, by position).
func TestMetricsWithoutMSISDN(t *testing.T) {
	sim := daemon.SimForTest(t)
	opts := daemon.OptionsForTest(t, sim)
	opts.Admin = daemon.AdminOptions{Listen: "127.0.0.1:0"}
	d := daemon.StartForTest(t, opts)
	daemon.LinkForTest(t, d, sim)

	phoneCalls(t, d, sim, func(phase string) {
		body := scrapeMetrics(t, d)
		if !strings.Contains(body, `ynagw_calls_active{direction=`) {
			t.Errorf("%s: scrape lacks ynagw_calls_active", phase)
		}
		noNumbers(t, phase, body)
	})
	var body string
	testenv.Eventually(t, 10*time.Second, "both calls counted", func() bool {
		body = scrapeMetrics(t, d)
		return strings.Contains(body, `ynagw_calls_total{direction="inbound",result="answered"} 1`) &&
			strings.Contains(body, `ynagw_calls_total{direction="outbound",result="answered"} 1`)
	})
	noNumbers(t, "after the calls", body)
	for _, want := range []string{`ynagw_channel_up{line="line1"} 1`, `ynagw_token_expiry_timestamp_seconds{line="line1"}`,
		`ynagw_line_needs_relink{line="line1"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// TestMetricsLineLabelOptions: a configured name becomes the label; the number appears
// only when the operator sets LabelMSISDN (metrics.label_msisdn).
func TestMetricsLineLabelOptions(t *testing.T) {
	sim := daemon.SimForTest(t)
	tests := []struct {
		name    string
		metrics daemon.MetricsOptions
		label   string
	}{
		{"configured name", daemon.MetricsOptions{LineNames: map[string]string{daemon.LineForTest: "office"}}, "office"},
		{"label_msisdn", daemon.MetricsOptions{LabelMSISDN: true}, daemon.LineForTest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := daemon.OptionsForTest(t, sim)
			opts.Admin = daemon.AdminOptions{Listen: "127.0.0.1:0"}
			opts.Metrics = tt.metrics
			d := daemon.StartForTest(t, opts)
			daemon.LinkForTest(t, d, sim)
			var body string
			want := `ynagw_channel_up{line="` + tt.label + `"} 1`
			testenv.Eventually(t, 10*time.Second, want, func() bool {
				body = scrapeMetrics(t, d)
				return strings.Contains(body, want)
			})
			for _, m := range []string{"ynagw_token_expiry_timestamp_seconds", "ynagw_line_needs_relink"} {
				if !strings.Contains(body, m+`{line="`+tt.label+`"}`) {
					t.Errorf("scrape lacks %s{line=%q}", m, tt.label)
				}
			}
			if tt.label != daemon.LineForTest {
				noNumbers(t, tt.name, body)
			}
		})
	}
}
