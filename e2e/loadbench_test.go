package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/demo"
	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// TestLoadBenchmark (make bench-load) drives YNAGW_LOAD_CALLS calls through the built
// daemon (a `ynagw run` subprocess, default config: one ICE socket per call, SRTP fast
// path) and prints what a user sizing hardware needs: call set-up rate (16 in flight),
// relay CPU per relayed packet, calls per core at that load, RSS and goroutines per
// established call. Each call is a demo desk phone (plain RTP PCMU, 50 packets/s) to a
// ynasim far end (pion WebRTC, ICE + DTLS-SRTP, 50 packets/s). The load generator runs
// in this process on the same machine: read the relay figures, not the machine's load.
// Skipped unless YNAGW_LOAD_CALLS is set; YNAGW_LOAD_WINDOW (default 10s) is the
// measurement window.
//
//	YNAGW_LOAD_CALLS=200 go test -count=1 -run '^TestLoadBenchmark$' -v ./e2e/
func TestLoadBenchmark(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("YNAGW_LOAD_CALLS"))
	if n <= 0 {
		t.Skip("set YNAGW_LOAD_CALLS (e.g. 200) to run the load benchmark")
	}
	window := 10 * time.Second
	if d, err := time.ParseDuration(os.Getenv("YNAGW_LOAD_WINDOW")); err == nil && d > 0 {
		window = d
	}
	bin := buildYnagw(t, t.TempDir())
	e := newDPEnv(t, bin)
	p := e.start()
	if p.admin == "" {
		t.Fatal("no admin address logged")
	}
	pid := p.cmd.Process.Pid
	ph := p.phone("201", "pw-201")
	rss0, g0 := procRSSKiB(t, pid), goroutines(t, p.admin)

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*time.Second+2*time.Minute)
	defer cancel()
	calls := make([]*demo.Call, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	start := time.Now()
	for i := range calls {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := ph.Dial(ctx, dpFar, nil)
			if err == nil && c.Code != 200 {
				err = fmt.Errorf("answered %d %s", c.Code, c.Reason)
			}
			if err != nil {
				mu.Lock()
				failed = append(failed, err.Error())
				mu.Unlock()
				return
			}
			calls[i] = c
		}(i)
	}
	wg.Wait()
	setup := time.Since(start)
	if len(failed) > 0 {
		t.Fatalf("%d of %d calls failed, first: %s", len(failed), n, failed[0])
	}
	t.Cleanup(func() {
		hctx, hcancel := context.WithTimeout(context.Background(), time.Minute)
		defer hcancel()
		for _, c := range calls {
			_ = c.Hangup(hctx)
		}
	})
	for _, c := range calls {
		if err := c.WaitReceived(ctx, 10); err != nil {
			t.Fatalf("no media toward a phone: %v", err)
		}
	}
	var ids []string
	for _, ci := range e.sim.Calls() {
		if ci.Direction == ynasim.DirectionOutbound && ci.State == ynasim.CallConnected {
			ids = append(ids, ci.ID)
		}
	}
	if len(ids) != n {
		t.Fatalf("%d calls connected at the simulator, want %d", len(ids), n)
	}
	relayed := func() uint64 { // packets that came out of the relay, both directions
		var sum uint64
		for _, c := range calls {
			_, rx, _ := c.Counters()
			sum += rx
		}
		for _, id := range ids {
			ci, _ := e.sim.Call(id)
			st, _ := ci.Media.(farend.Stats)
			sum += st.PacketsReceived
		}
		return sum
	}
	time.Sleep(3 * time.Second) // warm-up: a timed part of the measurement, not synchronisation
	cpu0, pk0, t0 := loadProcCPU(t, pid), relayed(), time.Now()
	time.Sleep(window) // the measurement window
	cpu1, pk1, el := loadProcCPU(t, pid), relayed(), time.Since(t0)
	rss, g := procRSSKiB(t, pid), goroutines(t, p.admin)

	cores := (cpu1 - cpu0).Seconds() / el.Seconds()
	pkts := float64(pk1 - pk0)
	want := float64(n) * 2 * 50 * el.Seconds()
	t.Logf("bench-load: %d calls (%d CPUs on this machine, generator in the same process tree)", n, numCPU())
	t.Logf("  set-up           %.1f calls/s with 16 in flight", float64(n)/setup.Seconds())
	t.Logf("  relayed          %.0f pkt/s (%.2f %% of the %.0f sent)", pkts/el.Seconds(), 100*pkts/want, want/el.Seconds())
	t.Logf("  relay CPU        %.3f cores, %.1f µs per relayed packet", cores, 1e6*(cpu1-cpu0).Seconds()/pkts)
	t.Logf("  calls per core   %.0f (at this load, relay CPU only)", float64(n)/cores)
	t.Logf("  RSS per call     %.0f KiB (%.1f MiB total)", float64(rss-rss0)/float64(n), float64(rss)/1024)
	t.Logf("  goroutines/call  %.1f (%d total)", float64(g-g0)/float64(n), g)
	if pkts < 0.99*want {
		t.Errorf("relayed %.0f of %.0f packets: more than 1 %% lost or late", pkts, want)
	}
}

// loadProcCPU is the process's user+system CPU time (/proc/PID/stat, 100 ticks per second).
func loadProcCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// procRSSKiB is the process's resident set (VmRSS).
func procRSSKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			v, _ := strconv.Atoi(strings.Fields(l)[1])
			return v
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// goroutines reads go_goroutines from the daemon's /metrics.
func goroutines(t *testing.T, admin string) int {
	t.Helper()
	for _, l := range strings.Split(httpGet(t, "http://"+admin+"/metrics"), "\n") {
		if v, ok := strings.CutPrefix(l, "go_goroutines "); ok {
			g, _ := strconv.Atoi(strings.TrimSpace(v))
			return g
		}
	}
	t.Fatal("no go_goroutines in /metrics")
	return 0
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "\nprocessor") + 1
}
