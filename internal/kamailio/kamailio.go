// Package kamailio is test support: it runs the repository's Kamailio
// configuration (configs/kamailio/kamailio.cfg) in the foreground on a
// loopback UDP port in front of the ynagw nodes a test names, and stops it on
// cleanup. Tests that need it skip (t.Skip, see Require) when kamailio, its dispatcher
// module or kamcmd is missing (in CI, with CI set, they fail instead, as
// testpeer.Require does). Only tests import it.
//
//	p := kamailio.Start(t, kamailio.Options{Nodes: []string{"127.0.0.1:5071", "127.0.0.1:5072"}})
//	phone.Register(p.Addr())                 // the phone talks to the proxy
//	p.WaitNode(t, "127.0.0.1:5071", false, 10*time.Second) // the dispatcher took it out
//	p.WaitLog(t, "to node sip:127.0.0.1:5072", 5*time.Second)
package kamailio

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the kamailio executable Start runs.
var Binary = "/usr/sbin/kamailio"

// ModuleDirs are searched, in order, for dispatcher.so (the first holding it is -L).
var ModuleDirs = []string{
	"/usr/lib/x86_64-linux-gnu/kamailio/modules",
	"/usr/lib/aarch64-linux-gnu/kamailio/modules",
	"/usr/lib/kamailio/modules",
	"/usr/local/lib64/kamailio/modules",
	"/usr/local/lib/kamailio/modules",
}

// Options says what Start runs.
type Options struct {
	// Nodes are the ynagw nodes' UDP SIP listeners ("host:port"), written to
	// the dispatcher list in this order (set 1).
	Nodes []string
	// PingInterval is the dispatcher's OPTIONS probing period (whole seconds,
	// at least 1 s); default 1 s.
	PingInterval time.Duration
	// FailoverTimeout is tm's fr_timer: how long a request to a node (and a
	// probe) waits for any reply before the next node is tried / the node
	// counts as down; default 1 s.
	FailoverTimeout time.Duration
	// Algorithm is the dispatcher algorithm (ds_select_dst); 0, the default,
	// hashes the Call-ID, 4 is round-robin.
	Algorithm int
	// Config is the kamailio.cfg to run; default the repository's
	// configs/kamailio/kamailio.cfg.
	Config string
	// Defines are extra -A defines ("NAME=value").
	Defines []string
}

// Proxy is a running kamailio.
type Proxy struct {
	addr    netip.AddrPort
	dir     string
	ctl     string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	log     *logBuf
	stop    sync.Once
}

// Available reports why Start would skip: no kamailio binary, no module
// directory with dispatcher.so and path.so, or no kamcmd.
func Available() (modDir string, err error) {
	if _, err := os.Stat(Binary); err != nil {
		return "", fmt.Errorf("kamailio: %w", err)
	}
	if _, err := exec.LookPath("kamcmd"); err != nil {
		if _, err2 := os.Stat("/usr/sbin/kamcmd"); err2 != nil {
			return "", fmt.Errorf("kamcmd: %w", err)
		}
	}
	for _, d := range ModuleDirs {
		if fileExists(filepath.Join(d, "dispatcher.so")) && fileExists(filepath.Join(d, "path.so")) {
			return d, nil
		}
	}
	return "", errors.New("kamailio: no module directory with dispatcher.so and path.so")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Require skips the test when Available fails (in CI, with CI set, it fails
// instead, as testpeer.Require does) and returns the module directory. Call it
// first in tests that start other parts before Start.
func Require(t testing.TB) (modDir string) {
	t.Helper()
	modDir, err := Available()
	if err != nil {
		if os.Getenv("CI") != "" { // a broken install never turns into a green run
			t.Fatalf("kamailio not usable (the test command installs it: make test-deps): %v", err)
		}
		t.Skipf("kamailio not usable here: %v", err)
	}
	return modDir
}

// ConfigPath is the repository's configs/kamailio/kamailio.cfg.
func ConfigPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "configs", "kamailio", "kamailio.cfg")
}

// Start writes a dispatcher list for o.Nodes, starts kamailio on a free
// 127.0.0.1 UDP port and returns once it answers an OPTIONS to itself. It
// skips the test when Available fails; it is stopped on cleanup (its log is
// printed when the test failed).
func Start(t testing.TB, o Options) *Proxy {
	t.Helper()
	modDir := Require(t)
	if len(o.Nodes) == 0 {
		t.Fatal("kamailio.Start: no nodes")
	}
	if o.PingInterval <= 0 {
		o.PingInterval = time.Second
	}
	if o.FailoverTimeout <= 0 {
		o.FailoverTimeout = time.Second
	}
	if o.Config == "" {
		o.Config = ConfigPath()
	}
	dir := t.TempDir()
	var list strings.Builder
	for _, n := range o.Nodes {
		if _, err := netip.ParseAddrPort(n); err != nil {
			t.Fatalf("kamailio.Start: node %q: %v", n, err)
		}
		fmt.Fprintf(&list, "1 sip:%s\n", n)
	}
	dsList := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(dsList, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ping := int(o.PingInterval.Round(time.Second) / time.Second)
	if ping < 1 {
		ping = 1
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port may be taken before kamailio binds it
		p := &Proxy{dir: dir, ctl: filepath.Join(dir, "ctl"), exited: make(chan struct{}), log: newLogBuf()}
		p.addr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), freeUDPPort(t))
		args := []string{"-f", o.Config, "-L", modDir, "-DD", "-E", "-m", "32", "-M", "4",
			"-Y", dir, "-w", dir, "-P", filepath.Join(dir, "kamailio.pid"),
			"-A", "LISTEN=udp:" + p.addr.String(),
			"-A", `DS_LIST="` + dsList + `"`,
			"-A", "DS_PING_INTERVAL=" + strconv.Itoa(ping),
			"-A", "FR_TIMER=" + strconv.Itoa(int(o.FailoverTimeout/time.Millisecond)),
			"-A", "DS_ALG=" + strconv.Itoa(o.Algorithm),
			"-A", `CTL_SOCKET="unix:` + p.ctl + `"`,
		}
		for _, d := range o.Defines {
			args = append(args, "-A", d)
		}
		p.cmd = exec.Command(Binary, args...)
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("kamailio: %v", err)
		}
		go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
		if err := p.waitReady(10 * time.Second); err != nil {
			lastErr = err
			p.Stop()
			if strings.Contains(p.Log(), "bind") {
				continue
			}
			break
		}
		t.Cleanup(func() {
			p.Stop()
			if t.Failed() {
				t.Logf("kamailio log:\n%s", tail(p.Log(), 200))
			}
		})
		return p
	}
	t.Fatalf("kamailio did not start: %v", lastErr)
	return nil
}

// Addr is the proxy's UDP address (phones and PBX send here).
func (p *Proxy) Addr() netip.AddrPort { return p.addr }

// URI is "sip:" + Addr.
func (p *Proxy) URI() string { return "sip:" + p.addr.String() }

// Log returns everything kamailio printed so far.
func (p *Proxy) Log() string { return p.log.String() }

// Stop ends kamailio (SIGTERM, after 5 s SIGKILL of its process group) and
// waits for it. Safe to call more than once.
func (p *Proxy) Stop() {
	p.stop.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
	})
}

// waitReady sends OPTIONS to the proxy itself until it answers 200.
func (p *Proxy) waitReady(timeout time.Duration) error {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case <-p.exited:
			return fmt.Errorf("kamailio exited: %v\n%s", p.waitErr, tail(p.Log(), 30))
		default:
		}
		msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-kamready-%d;rport\r\n"+
			"From: <sip:probe@127.0.0.1>;tag=kr%d\r\nTo: <sip:%s>\r\nCall-ID: kamready-%d@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"+
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", p.addr, c.LocalAddr(), i, i, p.addr, i)
		if _, err := c.WriteToUDPAddrPort([]byte(msg), p.addr); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200")) {
			return nil
		}
	}
	return fmt.Errorf("no 200 to OPTIONS from %s within %v\n%s", p.addr, timeout, tail(p.Log(), 30))
}

// Nodes returns the dispatcher's flags per node ("host:port"): "AP" active,
// "IP" inactive (both probing), read with kamcmd dispatcher.list.
func (p *Proxy) Nodes() (map[string]string, error) {
	out, err := exec.Command("kamcmd", "-s", "unix:"+p.ctl, "dispatcher.list").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("kamcmd dispatcher.list: %w: %s", err, out)
	}
	m := map[string]string{}
	uri := ""
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "URI: "); ok {
			uri = strings.TrimPrefix(v, "sip:")
		} else if v, ok := strings.CutPrefix(l, "FLAGS: "); ok && uri != "" {
			m[uri] = v
			uri = ""
		}
	}
	return m, nil
}

// WaitNode waits until the dispatcher counts node as active (flags starting
// with "A") or, with active false, as inactive or disabled.
func (p *Proxy) WaitNode(t testing.TB, node string, active bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		m, err := p.Nodes()
		if err == nil {
			last = m[node]
			if strings.HasPrefix(last, "A") == active && last != "" {
				return
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio: node %s not %s within %v (flags %q)", node, map[bool]string{true: "active", false: "inactive"}[active], timeout, last)
		}
		select {
		case <-tick.C:
		case <-p.exited:
			t.Fatalf("kamailio exited: %v", p.waitErr)
		}
	}
}

// WaitLog waits until kamailio's log contains s (the config logs "<method>
// <R-URI> (Call-ID <id>) to node <uri>" for each dispatched request).
func (p *Proxy) WaitLog(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	if !p.log.wait(s, timeout) {
		t.Fatalf("kamailio log has no %q within %v", s, timeout)
	}
}

func freeUDPPort(t testing.TB) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

func tail(s string, n int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// logBuf collects output and wakes waiters on every write.
type logBuf struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newLogBuf() *logBuf { return &logBuf{changed: make(chan struct{})} }

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) wait(s string, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		found, ch := strings.Contains(l.b.String(), s), l.changed
		l.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}
