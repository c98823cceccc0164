package main

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/ynagwproc"
)

// notifySocket is the service manager's end of the sd_notify protocol: a unixgram
// socket whose datagrams (one notification each, "KEY=value" lines) arrive on msgs.
type notifySocket struct {
	path string
	msgs chan string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	// sockaddr_un paths are short: not under the (long) t.TempDir().
	dir, err := shortTempDir(t)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &notifySocket{path: path, msgs: make(chan string, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			select {
			case s.msgs <- string(buf[:n]):
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.Close()
		<-done
	})
	return s
}

// wait returns the first notification (skipping others) that has the line want.
func (s *notifySocket) wait(t *testing.T, want string, d time.Duration) string {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case m := <-s.msgs:
			for _, l := range strings.Split(m, "\n") {
				if l == want {
					return m
				}
			}
		case <-deadline.C:
			t.Fatalf("no %s notification within %s", want, d)
			return ""
		}
	}
}

// TestSdNotify: run under a service manager's NOTIFY_SOCKET (Type=notify), the daemon
// sends READY=1 once started, WATCHDOG=1 pings when WATCHDOG_USEC is set,
// RELOADING=1 then READY=1 around a SIGHUP, and STOPPING=1 on SIGTERM (issue 11: the
// unit was Type=simple, systemd never knew when ynagw was up or stopping, and had no
// watchdog).
func TestSdNotify(t *testing.T) {
	bin := testBin(t)
	sim := ynagwproc.NewSim(t)
	cfg := ynagwproc.Install(t, t.TempDir(), sim.URL())
	ns := listenNotify(t)
	p := ynagwproc.Run(t, bin, cfg, "NOTIFY_SOCKET="+ns.path, "WATCHDOG_USEC=400000")

	ns.wait(t, "READY=1", 30*time.Second)
	// READY=1 means serving: the admin listener (started last) answers at once.
	admin := p.Started(10 * time.Second)
	if out, code := ynagwproc.RunOnce(t, bin, "health", "-addr", admin); code != 0 {
		t.Errorf("not ready after READY=1: %s", out)
	}
	// Pinged at half the interval: two pings within a few intervals.
	ns.wait(t, "WATCHDOG=1", 5*time.Second)
	ns.wait(t, "WATCHDOG=1", 5*time.Second)

	p.Signal(syscall.SIGHUP)
	ns.wait(t, "RELOADING=1", 10*time.Second)
	ns.wait(t, "READY=1", 10*time.Second)

	p.Signal(syscall.SIGTERM)
	ns.wait(t, "STOPPING=1", 10*time.Second)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestNoNotifySocket: without NOTIFY_SOCKET nothing is sent and nothing fails.
func TestNoNotifySocket(t *testing.T) {
	bin := testBin(t)
	sim := ynagwproc.NewSim(t)
	cfg := ynagwproc.Install(t, t.TempDir(), sim.URL())
	p := ynagwproc.Run(t, bin, cfg, "NOTIFY_SOCKET=", "WATCHDOG_USEC=400000")
	p.Started(30 * time.Second)
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	if ls := p.Logs("sd_notify"); len(ls) > 0 {
		t.Errorf("sd_notify complaints without a socket: %v", ls)
	}
}
