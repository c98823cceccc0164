package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// TestEmergencyCallRecorded (issue 11): a refused 911 call has no line (it is refused
// before routing); it still leaves a call record.
func TestEmergencyCallRecorded(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	st := openStore(t, filepath.Join(t.TempDir(), "db"), testKey(t))
	defer st.Close()
	s := newCDRSink(st, zap.NewNop())
	defer s.close()
	now := time.Now()
	c := bridge.CDR{Direction: bridge.DirectionOutbound, SIPUser: "201", Peer: "911", SetupAt: now, EndedAt: now,
		Result: bridge.ResultEmergency, SIPStatus: 403, EndReason: "Emergency calls not supported"}
	if err := s.Write(ctx, c); err != nil {
		t.Fatalf("911 call: %v", err)
	}
	cs, err := st.CDRs(ctx, store.CDRFilter{})
	if err != nil || len(cs) != 1 {
		t.Fatalf("CDRs %+v %v", cs, err)
	}
	if cs[0].Result != bridge.ResultEmergency || cs[0].To != "911" || cs[0].SIPCode != 403 || cs[0].Open() {
		t.Errorf("911 CDR %+v", cs[0])
	}
}

// fullTmpfs mounts a tiny tmpfs in a temp dir (unmounted in Cleanup); skips when it cannot.
func fullTmpfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s)", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !strings.Contains(err.Error(), "no space") {
				t.Fatalf("fill: %v", err)
			}
			return
		}
	}
}

// TestCDRWritesRetriedOnFullDisk (issue 11): with the store on a full file system the
// call records are accepted (calls go on), counted as store errors, reported by health,
// and land once there is space again.
func TestCDRWritesRetriedOnFullDisk(t *testing.T) {
	dir := fullTmpfs(t)
	ctx := ctxT(t, 30*time.Second)
	st := openStore(t, filepath.Join(dir, "ynagw.db"), testKey(t))
	defer st.Close()
	var errs atomic.Int64
	s := newCDRSink(st, zap.NewNop())
	s.onStoreError = func(op string) {
		if op == "cdr" {
			errs.Add(1)
		}
	}
	s.backoffMin, s.backoffMax = time.Millisecond, 20*time.Millisecond
	defer s.close()
	filler := filepath.Join(dir, "filler")
	fill(t, filler)

	const n = 20
	now := time.Now()
	for i := range n {
		c := bridge.CDR{ID: fmt.Sprintf("call-%d", i), Direction: bridge.DirectionOutbound, Line: tLine, SIPUser: "201",
			Peer: "12065550123", SetupAt: now, AnsweredAt: now, EndedAt: now.Add(time.Second), Result: bridge.ResultAnswered,
			EndReason: strings.Repeat("x", 2000)}
		if err := s.Open(ctx, c); err != nil {
			t.Fatalf("open %d on a full disk: %v", i, err)
		}
		if err := s.Write(ctx, c); err != nil {
			t.Fatalf("write %d on a full disk: %v", i, err)
		}
	}
	if errs.Load() == 0 {
		t.Fatal("no store error counted on a full file system")
	}
	herr := s.health()
	if herr == nil || !strings.Contains(herr.Error(), "call records") {
		t.Fatalf("health on a full disk: %v", herr)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.waitIdle(ctx); err != nil {
		t.Fatalf("queue never drained: %v (health %v)", err, s.health())
	}
	if err := s.health(); err != nil {
		t.Errorf("health after the queue drained: %v", err)
	}
	cs, err := st.CDRs(ctx, store.CDRFilter{})
	if err != nil || len(cs) != n {
		t.Fatalf("%d CDRs (%v), want %d", len(cs), err, n)
	}
	for _, c := range cs {
		if c.Open() || c.Result != bridge.ResultAnswered {
			t.Errorf("CDR %+v", c)
		}
	}
}

// TestCDRQueueBounded: past maxQueue the newest records are dropped, not memory grown.
func TestCDRQueueBounded(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	st := openStore(t, filepath.Join(t.TempDir(), "db"), testKey(t))
	s := newCDRSink(st, zap.NewNop())
	s.maxQueue = 3
	s.backoffMin, s.backoffMax = time.Hour, time.Hour // no retry during the test
	defer s.close()
	_ = st.Close() // every write fails now
	for i := range 5 {
		c := bridge.CDR{ID: fmt.Sprintf("c%d", i), Direction: bridge.DirectionOutbound, Line: tLine, EndedAt: time.Now()}
		if err := s.Write(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if q, dropped := s.queued(); q != 3 || dropped != 2 {
		t.Errorf("queued %d dropped %d, want 3 and 2", q, dropped)
	}
	if err := s.health(); err == nil || !errors.Is(err, errCDRsDropped) {
		t.Errorf("health: %v", err)
	}
}

// TestDaemonStoreFullReadyz (issue 11): a real daemon with its store on a full file
// system keeps taking call records, /readyz answers 503 saying why, /metrics counts
// ynagw_store_errors_total{op="cdr"}; with space again the records land and /readyz is 200.
func TestDaemonStoreFullReadyz(t *testing.T) {
	dir := fullTmpfs(t)
	sim := newSim(t, ynasim.Config{})
	opts := testOptions(t, sim, dir, testKey(t))
	opts.Admin = adminFromYAML(t, "listen: 127.0.0.1:0\nusername: admin\npassword: admin-pw\nmetrics_auth: required")
	d := startDaemon(t, opts)
	d.cdr.backoffMin, d.cdr.backoffMax = time.Millisecond, 20*time.Millisecond
	LinkForTest(t, d, sim) // no line linked is not ready either (TestReadyzNoLineLinked)
	testenv.Eventually(t, 10*time.Second, "/readyz 200 before", func() bool {
		code, _ := scrape(t, d.AdminAddr(), "/readyz", "none")
		return code == 200
	})
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	ctx := ctxT(t, 30*time.Second)
	now := time.Now()
	for i := range 10 {
		c := bridge.CDR{ID: fmt.Sprintf("full-%d", i), Direction: bridge.DirectionInbound, Line: tLine, SIPUser: "201",
			Peer: "12065550123", SetupAt: now, EndedAt: now, Result: bridge.ResultNoAnswer, EndReason: strings.Repeat("y", 2000)}
		if err := d.cdr.Write(ctx, c); err != nil {
			t.Fatalf("write on a full disk: %v", err)
		}
	}
	code, body := scrape(t, d.AdminAddr(), "/readyz", "none")
	if code != 503 || !strings.Contains(body, "call records waiting") || !strings.Contains(body, "full") {
		t.Errorf("readyz on a full disk: %d %q", code, body)
	}
	_, m := scrape(t, d.AdminAddr(), "/metrics", "basic")
	if !regexp.MustCompile(`(?m)^ynagw_store_errors_total\{op="cdr"\} [1-9]`).MatchString(m) {
		t.Errorf("metrics lack store errors:\n%s", grepLines(m, "ynagw_store_errors_total"))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := d.cdr.waitIdle(ctx); err != nil {
		t.Fatalf("queue never drained: %v", err)
	}
	if code, body := scrape(t, d.AdminAddr(), "/readyz", "none"); code != 200 {
		t.Errorf("readyz after: %d %s", code, body)
	}
	cs, err := d.store.CDRs(ctx, store.CDRFilter{})
	if err != nil || len(cs) != 10 {
		t.Errorf("%d CDRs (%v), want 10", len(cs), err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// For package daemon_test: the call records' retry queue.
func (d *Daemon) CDRFastRetryForTest() {
	d.cdr.backoffMin, d.cdr.backoffMax = time.Millisecond, 20*time.Millisecond
}

func (d *Daemon) CDRWaitIdleForTest(t *testing.T) error {
	return d.cdr.waitIdle(ctxT(t, 30*time.Second))
}

func (d *Daemon) CDRCountForTest(t *testing.T) int {
	cs, err := d.store.CDRs(ctxT(t, 10*time.Second), store.CDRFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// FullTmpfsForTest and FillForTest: see fullTmpfs and fill.
func FullTmpfsForTest(t *testing.T) string  { return fullTmpfs(t) }
func FillForTest(t *testing.T, path string) { fill(t, path) }
