package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/testpeer"
)

// newTestServer starts a Server on 127.0.0.1 (UDP and TCP, ports picked by the OS).
func newTestServer(t *testing.T, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		Listen:    []ListenConfig{{Network: "udp", Addr: "127.0.0.1:0"}, {Network: "tcp", Addr: "127.0.0.1:0"}},
		Domain:    "ynagw",
		Users:     []User{{Username: "alice", Password: "alicepw"}, {Username: "bob", Password: "bobpw"}},
		Registrar: RegistrarConfig{MinExpires: 30 * time.Second, MaxExpires: 3600 * time.Second, DefaultExpires: 600 * time.Second},
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func trunkLoopback(c *Config) {
	c.Trunks = append(c.Trunks, Trunk{Name: "pbx", AllowFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
}

// freePort returns a currently unused loopback port (UDP and TCP both free).
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port
		_ = pc.Close()
		// media ports: sipp also uses p+2; keep below the top of the range
		if p%2 != 0 || p > 65000 {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return p
	}
	t.Fatal("no free port")
	return 0
}

type sippOpts struct {
	service  string
	tcp      bool
	noMsgLog bool
	extra    []string
}

// runSipp runs one sipp scenario against target and returns its error (exit status).
// On failure it logs sipp's output, error log and (tail of) message log.
func runSipp(t *testing.T, scenario string, target netip.AddrPort, o sippOpts) error {
	t.Helper()
	bin := testpeer.Require(t, "sipp")
	dir := t.TempDir()
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	if o.service == "" {
		o.service = "2000"
	}
	args := []string{target.String(), "-sf", sf, "-s", o.service, "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t)), "-nostdin", "-timeout", "40s", "-timeout_error",
		"-trace_err", "-trace_logs"}
	if !o.noMsgLog {
		args = append(args, "-trace_msg")
	}
	if o.tcp {
		args = append(args, "-t", "t1")
	}
	if !containsArg(o.extra, "-m") {
		args = append(args, "-m", "1")
	}
	args = append(args, o.extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	out, runErr := cmd.CombinedOutput()
	if runErr != nil {
		t.Logf("sipp %s failed: %v\nargs: %q\noutput:\n%s", scenario, runErr, args, tail(string(out), 4000))
		files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			t.Logf("--- %s:\n%s", filepath.Base(f), tail(string(b), 12000))
		}
	}
	return runErr
}

// sippLog returns the -trace_logs output of the last run in dir (for assertions).
func containsArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// rtpEcho is a plain UDP socket that echoes every packet back to its sender.
type rtpEcho struct {
	conn *net.UDPConn
	in   atomic.Int64
	out  atomic.Int64
	done chan struct{}
}

func newRTPEcho(t *testing.T) *rtpEcho {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("rtp socket: %v", err)
	}
	e := &rtpEcho{conn: c, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		buf := make([]byte, 2048)
		for {
			n, addr, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			e.in.Add(1)
			if _, err := c.WriteToUDP(buf[:n], addr); err == nil {
				e.out.Add(1)
			}
		}
	}()
	return e
}

func (e *rtpEcho) port() int { return e.conn.LocalAddr().(*net.UDPAddr).Port }
func (e *rtpEcho) close()    { _ = e.conn.Close(); <-e.done }

func appSDP(port int, dir Direction, version int) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=ynagw 1 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=%s\r\n", version, port, dir))
}

// callResult is what the test application saw of one call.
type callResult struct {
	callID    string
	authUser  string
	trunk     string
	answerErr error
	callErr   error
	offers    []string // "METHOD:offerdir->answerdir"
	dtmf      []rune
	bye       string
	byeSeen   bool
	acks      int
	term      error
	rtpIn     int64
	rtpOut    int64
}

// testApp answers calls like the bridge would: every offer is answered with the
// RFC 3264 direction computed from that offer (never a cached SDP).
type testApp struct {
	t       *testing.T
	results chan callResult
	mode    string // "" answer, "cancel" ring and wait for CANCEL, "reject" 486
	rtp     bool
	wg      sync.WaitGroup
}

func newTestApp(t *testing.T, mode string, rtp bool) *testApp {
	return &testApp{t: t, results: make(chan callResult, 200), mode: mode, rtp: rtp}
}

func (a *testApp) HandleInvite(ctx context.Context, c *InboundCall) {
	a.wg.Add(1)
	defer a.wg.Done()
	r := callResult{callID: c.CallID(), authUser: c.AuthUser(), trunk: c.Trunk()}
	defer func() { a.results <- r }()
	switch a.mode {
	case "cancel":
		_ = c.Progress(ctx, 180, nil)
		select {
		case <-c.Done():
			r.callErr = c.Err()
		case <-time.After(20 * time.Second):
			r.callErr = errors.New("no CANCEL")
		}
		return
	case "reject":
		r.callErr = c.Reject(486, "busy test")
		return
	}
	port, echo := 9, (*rtpEcho)(nil)
	if a.rtp {
		echo = newRTPEcho(a.t)
		port = echo.port()
		defer func() {
			echo.close()
			r.rtpIn, r.rtpOut = echo.in.Load(), echo.out.Load()
		}()
	}
	_ = c.Progress(ctx, 180, nil)
	dir := SendRecv
	if off := c.Offer(); off != nil {
		od, err := OfferDirection(off)
		if err != nil {
			r.answerErr = err
			_ = c.Reject(488, "bad sdp")
			return
		}
		dir = AnswerDirection(od)
	}
	version := 1
	d, err := c.Answer(ctx, appSDP(port, dir, version))
	if err != nil {
		r.answerErr = err
		return
	}
	for ev := range d.Events() {
		switch ev := ev.(type) {
		case *OfferEvent:
			version++
			od, err := OfferDirection(ev.SDP)
			if err != nil {
				_ = ev.Respond(488, nil)
				continue
			}
			ad := AnswerDirection(od)
			r.offers = append(r.offers, fmt.Sprintf("%s:%s->%s", ev.Method, od, ad))
			_ = ev.Respond(200, appSDP(port, ad, version))
		case *DTMFEvent:
			r.dtmf = append(r.dtmf, ev.Digit)
		case *ByeEvent:
			r.byeSeen, r.bye = true, ev.Reason
		case *AckEvent:
			r.acks++
		case *TerminatedEvent:
			r.term = ev.Err
		}
	}
}

func (a *testApp) next(t *testing.T, timeout time.Duration) callResult {
	t.Helper()
	select {
	case r := <-a.results:
		return r
	case <-time.After(timeout):
		t.Fatal("no call result")
	}
	return callResult{}
}

func (r callResult) String() string {
	return fmt.Sprintf("%+v", struct {
		ID, User, Trunk string
		AnsErr, CallErr error
		Offers          []string
		DTMF            string
		Bye             string
		Term            error
		RTP             [2]int64
	}{r.callID, r.authUser, r.trunk, r.answerErr, r.callErr, r.offers, string(r.dtmf), r.bye, r.term, [2]int64{r.rtpIn, r.rtpOut}})
}

var _ = strings.TrimSpace

// sippCall runs one sipp scenario against a fresh server configured by cfg, over
// network ("udp" or "tcp"), with a test app in mode (echoing RTP when rtp), and returns
// the app's first call.
func sippCall(t *testing.T, cfg func(*Config), scenario, network, mode string, rtp bool, o sippOpts) callResult {
	t.Helper()
	s := newTestServer(t, cfg)
	app := newTestApp(t, mode, rtp)
	s.SetHandler(app)
	o.tcp = network == "tcp"
	if err := runSipp(t, scenario, s.Addr(network), o); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	return app.next(t, 10*time.Second)
}

// forTransports runs f as a subtest over UDP and over TCP.
func forTransports(t *testing.T, f func(t *testing.T, network string)) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) { f(t, network) })
	}
}
