package e2e

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// procCPU returns the user+system CPU time a process has used (/proc/pid/stat).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat(5)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
}

// procRSS returns a process's resident memory in MiB (/proc/pid/status VmRSS).
func procRSS(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// pgXacts returns the committed transactions of the cluster database so far.
func pgXacts(t *testing.T, dsn string) int64 {
	t.Helper()
	ctx := dpCtx(t, 10*time.Second)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int64
	if err := c.QueryRow(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestClusterMeasure (YNAGW_MEASURE=1 only; docs/scaling.md quotes it): one clustered
// ynagw process holding both lines; its idle CPU and PostgreSQL transactions per
// minute, then the process's CPU per concurrent call with N sipp calls (PCMA, real
// DTLS-SRTP toward the simulator's far ends, which run in the test process and are
// not counted).
func TestClusterMeasure(t *testing.T) {
	if os.Getenv("YNAGW_MEASURE") == "" {
		t.Skip("measurement for docs/scaling.md: set YNAGW_MEASURE=1")
	}
	n := 10
	if v, err := strconv.Atoi(os.Getenv("YNAGW_MEASURE_CALLS")); err == nil && v > 0 {
		n = v
	}
	c := newCFCluster(t)
	c.sim.SetFarEndConfig(farend.Config{AllowLoopback: true})
	node := c.start("node-m", "127.0.0.1:0")
	node.waitOwned(t, cfLine1, true, 15*time.Second)
	node.waitOwned(t, cfLine2, true, 15*time.Second)
	pid := node.p.cmd.Process.Pid

	const idle = 10 * time.Second
	cpu0, x0, t0 := procCPU(t, pid), pgXacts(t, c.dsn), time.Now()
	time.Sleep(idle) // measuring over a wall-clock window, not synchronising
	cpu1, x1, t1 := procCPU(t, pid), pgXacts(t, c.dsn), time.Now()
	el := t1.Sub(t0)
	t.Logf("idle node, 2 lines: CPU %.2f%% of one core; PostgreSQL %.0f transactions/min (incl. the 2 pgXacts reads); RSS %.0f MiB",
		100*float64(cpu1-cpu0)/float64(el), float64(x1-x0-1)/el.Minutes(), procRSS(t, pid))

	run := startSipp(t, "uac_load.xml", node.p.sip, sippOpts{auth: true,
		vars:  map[string]string{"TALK_MS": "20000"},
		extra: []string{"-m", strconv.Itoa(n), "-l", strconv.Itoa(n), "-r", strconv.Itoa(n)}})
	eventually(t, 30*time.Second, "all calls connected", func() bool {
		k := 0
		for _, ci := range c.sim.Calls() {
			if ci.State == ynasim.CallConnected {
				k++
			}
		}
		return k == n
	})
	const window = 4 * time.Second // inside the 7 s the pcap plays on every call
	cpu2, t2 := procCPU(t, pid), time.Now()
	time.Sleep(window) // measuring window
	cpu3, t3 := procCPU(t, pid), time.Now()
	perCall := float64(cpu3-cpu2) / float64(t3.Sub(t2)) / float64(n)
	t.Logf("%d concurrent calls: node CPU %.1f%% of one core, %.2f%% per call (≈ %d calls per core); RSS %.0f MiB",
		n, 100*float64(cpu3-cpu2)/float64(t3.Sub(t2)), 100*perCall, int(1/perCall), procRSS(t, pid))
	run.mustPass(90 * time.Second)
}
