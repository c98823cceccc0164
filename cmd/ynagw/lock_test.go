package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/ynagwproc"
)

// TestOneInstancePerStore: a second `ynagw run` on the store of a running one exits 1
// naming the PID and host holding the lock, instead of starting and opening a second
// notification channel of the line (issue 11: two channel sockets, only the newest got
// the inbound calls). The lock goes with the process: after the first exits — even
// killed with SIGKILL, leaving its lock file behind — the next one starts.
func TestOneInstancePerStore(t *testing.T) {
	bin := testBin(t)
	sim := ynagwproc.NewSim(t)
	cfg := ynagwproc.Install(t, t.TempDir(), sim.URL())
	first := ynagwproc.Run(t, bin, cfg)
	first.Started(30 * time.Second)

	second := ynagwproc.Run(t, bin, cfg)
	if _, exited := second.WaitLogOrExit("ynagw started", 30*time.Second); !exited {
		t.Fatal("a second ynagw on the same store started")
	}
	if code := second.Code(); code != 1 {
		t.Errorf("second instance exit %d, want 1", code)
	}
	host, _ := os.Hostname()
	out := second.Output()
	for _, want := range []string{fmt.Sprintf("pid %d", first.Cmd.Process.Pid), host, "ynagw.db"} {
		if !strings.Contains(out, want) {
			t.Errorf("second instance's message does not name %q:\n%s", want, out)
		}
	}

	// SIGKILL: no clean-up ran, the lock file stays, the kernel dropped the lock.
	first.Signal(syscall.SIGKILL)
	first.Wait(10 * time.Second)
	third := ynagwproc.Run(t, bin, cfg)
	third.Started(30 * time.Second)
	third.Signal(syscall.SIGTERM)
	if code := third.Wait(30 * time.Second); code != 0 {
		t.Errorf("third instance exit %d", code)
	}
}
