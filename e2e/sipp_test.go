package e2e

import (
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/testpeer"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// sipp as a desk phone / PBX: scenarios live in testdata/sipp; "@KEY@" placeholders are
// replaced before the run (sipp itself cannot parameterise e.g. an expected status code).

var placeholderRE = regexp.MustCompile(`@[A-Z_]+@`)

type sippOpts struct {
	service string            // -s (dialled number); default e2eFarNumber
	vars    map[string]string // @KEY@ → value in the scenario
	extra   []string          // more sipp arguments (-m, -l, -r ...)
	auth    bool              // -au alice -ap alicepw
}

type sippRun struct {
	t    *testing.T
	dir  string
	name string
	proc *testpeer.Proc
}

// startSipp starts sipp against the gateway; it is killed and waited for in t.Cleanup.
func startSipp(t *testing.T, scenario string, target netip.AddrPort, o sippOpts) *sippRun {
	t.Helper()
	bin := testpeer.Require(t, "sipp")
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	for k, v := range o.vars {
		s = strings.ReplaceAll(s, "@"+k+"@", v)
	}
	if m := placeholderRE.FindString(s); m != "" {
		t.Fatalf("scenario %s: placeholder %s not replaced", scenario, m)
	}
	sf := filepath.Join(dir, scenario)
	if err := os.WriteFile(sf, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if o.service == "" {
		o.service = e2eFarNumber
	}
	args := []string{target.String(), "-sf", sf, "-s", o.service, "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(evenFreePort(t)), "-nostdin", "-timeout", "60s", "-timeout_error",
		"-trace_err", "-trace_logs", "-trace_screen"}
	if o.auth {
		args = append(args, "-au", "alice", "-ap", "alicepw")
	}
	if !containsArg(o.extra, "-m") {
		args = append(args, "-m", "1")
	}
	args = append(args, o.extra...)
	r := &sippRun{t: t, dir: dir, name: scenario}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	r.proc = testpeer.Start(t, cmd, r.dumpLogs)
	return r
}

// wait waits for sipp to exit and returns its error (nil: exit 0, every call passed).
func (r *sippRun) wait(d time.Duration) error {
	r.t.Helper()
	return r.proc.Wait(d)
}

// mustPass waits for sipp and fails the test unless it exited 0.
func (r *sippRun) mustPass(d time.Duration) {
	r.t.Helper()
	if err := r.wait(d); err != nil {
		r.t.Fatalf("sipp %s: %v", r.name, err)
	}
}

// dumpLogs logs sipp's trace files (after a failure).
func (r *sippRun) dumpLogs() {
	files, _ := filepath.Glob(filepath.Join(r.dir, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		r.t.Logf("--- %s:\n%s", filepath.Base(f), tail(string(b), 6000))
	}
}

// logs returns sipp's -trace_logs output (the scenario's <log> actions).
func (r *sippRun) logs() string {
	files, _ := filepath.Glob(filepath.Join(r.dir, "*_logs.log"))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

// writeTonePCMA writes seconds of a phoneToneHz sine as raw A-law (sipp rtp_stream
// sends the file's bytes as PT 8 payloads, 160 per 20 ms).
func writeTonePCMA(t *testing.T, seconds int) string {
	t.Helper()
	pcm := make([]int16, 8000*seconds)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*phoneToneHz*float64(i)/8000))
	}
	p := filepath.Join(t.TempDir(), "tone440.pcma")
	if err := os.WriteFile(p, farend.EncodeAlaw(make([]byte, len(pcm)), pcm), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func containsArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

// evenFreePort returns a free even port whose +1 and +2 (sipp's RTCP / echo ports) are free too.
func evenFreePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		p := freePort(t)
		if p%2 == 1 || p > 65000 {
			continue
		}
		return p
	}
	t.Fatal("no free even port")
	return 0
}
