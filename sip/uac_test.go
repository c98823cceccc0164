package sip

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/ynagw/ynagw/internal/testpeer"
)

// ---- baresip desk phones -------------------------------------------------------

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type baresipPhone struct {
	name    string
	sipPort int
	cmd     *exec.Cmd
	out     *syncBuffer
	exited  chan struct{}
	ctrl    net.Conn
	events  chan map[string]any // ctrl_tcp events and responses; closed on EOF
	readEnd chan struct{}
}

// startBaresip runs a headless baresip (config from testdata/baresip) that
// registers user/password at registrar, and connects to its ctrl_tcp port.
// baresip cannot bind port 0, so its ports are picked free beforehand; if
// another process took one in between (the machine is shared), baresip exits
// with "Address already in use" and is started again on fresh ports.
func startBaresip(t *testing.T, name, user, password string, registrar netip.AddrPort, rtpBase int) *baresipPhone {
	t.Helper()
	const attempts = 3
	for i := 1; ; i++ {
		p, out := tryStartBaresip(t, name, user, password, registrar, rtpBase)
		if p != nil {
			return p
		}
		if i == attempts || !strings.Contains(out, "Address already in use") {
			t.Fatalf("baresip %s exited (attempt %d):\n%s", name, i, out)
		}
		t.Logf("baresip %s: a port was taken meanwhile, retrying", name)
	}
}

// tryStartBaresip starts baresip once; nil and its output when it exited
// before its ctrl_tcp port was reachable.
func tryStartBaresip(t *testing.T, name, user, password string, registrar netip.AddrPort, rtpBase int) (*baresipPhone, string) {
	t.Helper()
	bin := testpeer.Require(t, "baresip")
	dir := t.TempDir()
	sipPort := freeBaresipSIPPort(t)
	ctrlPort := freeUDPTCPPort(t)
	for ctrlPort == sipPort+1 {
		ctrlPort = freeUDPTCPPort(t)
	}
	fill := func(tmpl string, kv ...string) []byte {
		src, err := os.ReadFile(filepath.Join("testdata", "baresip", tmpl))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(strings.NewReplacer(kv...).Replace(string(src)))
	}
	cfg := fill("config.tmpl",
		"{{SIP_ADDR}}", "127.0.0.1:"+strconv.Itoa(sipPort),
		"{{CTRL_ADDR}}", "127.0.0.1:"+strconv.Itoa(ctrlPort),
		"{{RTP_PORTS}}", fmt.Sprintf("%d-%d", rtpBase, rtpBase+19))
	acc := fill("accounts.tmpl", "{{USER}}", user, "{{PASSWORD}}", password, "{{REGISTRAR}}", registrar.String())
	for f, data := range map[string][]byte{"config": cfg, "accounts": acc, "contacts": nil} {
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &baresipPhone{name: name, sipPort: sipPort, out: &syncBuffer{}, exited: make(chan struct{}),
		events: make(chan map[string]any, 64), readEnd: make(chan struct{})}
	p.cmd = exec.Command(bin, "-f", dir)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Stdin = nil
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.exited)
		_ = p.cmd.Wait()
	}()
	stop := func() {
		if p.ctrl != nil {
			_ = p.ctrl.Close()
			<-p.readEnd
		}
		_ = p.cmd.Process.Kill()
		<-p.exited
	}

	// ctrl_tcp has no readiness signal: retry connecting until a deadline.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for p.ctrl == nil {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(ctrlPort), time.Second)
		if err == nil {
			p.ctrl = c
			break
		}
		select {
		case <-tick.C:
		case <-p.exited:
			return nil, p.out.String()
		case <-deadline:
			stop()
			t.Fatalf("baresip %s ctrl_tcp not reachable: %v\n%s", name, err, p.out.String())
		}
	}
	go p.readLoop()
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("baresip %s output:\n%s", name, lastLines(p.out.String(), 60))
		}
	})
	return p, ""
}

// freeBaresipSIPPort is a port free for UDP and TCP whose next port is free
// for TCP too: baresip listens on sip_listen over UDP and TCP and on port+1 for TLS.
func freeBaresipSIPPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		p := freeUDPTCPPort(t)
		ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p+1))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return p
	}
	t.Fatal("no free port pair")
	return 0
}

// readLoop parses ctrl_tcp netstrings ("LEN:{json},") into p.events.
func (p *baresipPhone) readLoop() {
	defer close(p.readEnd)
	defer close(p.events)
	r := bufio.NewReader(p.ctrl)
	for {
		lenStr, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(lenStr, ":")))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		buf := make([]byte, n+1) // payload + ','
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(buf[:n], &m) != nil {
			continue
		}
		select {
		case p.events <- m:
		default: // a test that stopped reading must not block the reader
		}
	}
}

func (p *baresipPhone) command(t *testing.T, cmd, params string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": cmd})
	if _, err := fmt.Fprintf(p.ctrl, "%d:%s,", len(body), body); err != nil {
		t.Fatalf("baresip %s ctrl: %v", p.name, err)
	}
}

// waitEvent returns the first ctrl_tcp event of this type.
func (p *baresipPhone) waitEvent(t *testing.T, typ string, d time.Duration) map[string]any {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-p.events:
			if !ok {
				t.Fatalf("baresip %s: ctrl closed while waiting for %s", p.name, typ)
			}
			if m["type"] == typ {
				return m
			}
		case <-deadline:
			t.Fatalf("baresip %s: no %s event within %v\n%s", p.name, typ, d, lastLines(p.out.String(), 40))
		}
	}
}

// freeUDPTCPPort returns a loopback port free for both UDP and TCP.
func freeUDPTCPPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		p := freeUDPPort(t)
		ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return p
	}
	t.Fatal("no free port")
	return 0
}

func newForkServer(t *testing.T) *Server {
	t.Helper()
	s, err := NewServer(Config{
		Listen: []ListenConfig{{Network: "udp", Addr: "127.0.0.1:0"}, {Network: "tcp", Addr: "127.0.0.1:0"}},
		Domain: "ynagw",
		Users:  []User{{Username: "alice", Password: "alicepw"}},
		// baresip 1.0 (libre) answers every WWW-Authenticate it gets and fails
		// with ENOSYS on the SHA-256 one, so offer MD5 only.
		DigestAlgorithms: []string{"MD5"},
		Registrar:        RegistrarConfig{MinExpires: 30 * time.Second, MaxExpires: time.Hour, DefaultExpires: 600 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// Start returns only once sipgo serves the UDP listener: INVITEs leave from it.
	if c, _ := s.ua.TransportLayer().GetConnection("udp", s.Addr("udp").String()); c == nil {
		t.Fatal("server UDP listener not in sipgo's pool after Start")
	}
	return s
}

// waitContacts polls the registrar until aor has n bindings (REGISTER has no
// event to wait on): a ticker plus a deadline.
func waitContacts(t *testing.T, s *Server, aor string, n int, d time.Duration) []Contact {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	for {
		if cs := s.Contacts(aor); len(cs) >= n {
			return cs
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s has %d contacts after %v, want %d", aor, len(s.Contacts(aor)), d, n)
		}
	}
}

// ---- tests -------------------------------------------------------------------------

// Two baresip desk phones register as alice with digest; Dial rings both; one
// answers (ctrl_tcp "accept"), the other must see the call closed by our
// CANCEL; then we hang up the winner.
func TestDialBaresipFork(t *testing.T) {
	srv := newForkServer(t)
	reg := srv.Addr("udp")
	a := startBaresip(t, "a", "alice", "alicepw", reg, 10300)
	b := startBaresip(t, "b", "alice", "alicepw", reg, 10340)

	contacts := waitContacts(t, srv, "alice", 2, 15*time.Second)
	var targets []Target
	for _, c := range contacts {
		label := ""
		switch {
		case strings.Contains(c.URI, ":"+strconv.Itoa(a.sipPort)):
			label = "a"
		case strings.Contains(c.URI, ":"+strconv.Itoa(b.sipPort)):
			label = "b"
		default:
			t.Fatalf("contact %+v belongs to neither phone", c)
		}
		targets = append(targets, Target{URI: c.URI, Destination: c.Source.String(), Label: label})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := srv.Dial(ctx, DialRequest{
		From:    "<sip:+15551230000@ynagw>",
		To:      "<sip:alice@ynagw>",
		Targets: targets,
		Offer:   []byte(testOffer),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		o.Cancel("test cleanup")
		<-o.Done()
	})

	a.waitEvent(t, "CALL_INCOMING", 10*time.Second)
	b.waitEvent(t, "CALL_INCOMING", 10*time.Second)
	a.command(t, "accept", "")

	progress, final := finalEvent(t, o, 10*time.Second)
	ans, ok := final.(*AnsweredEvent)
	if !ok || ans.Branch != "a" || ans.Dialog == nil {
		t.Fatalf("final %#v, want answer from phone a", final)
	}
	if len(progress) != 1 || progress[0].Code != 180 {
		t.Errorf("progress %+v, want one aggregated 180", progress)
	}
	if !bytes.Contains(ans.SDP, []byte("m=audio")) {
		t.Errorf("answer SDP %q", ans.SDP)
	}

	closed := b.waitEvent(t, "CALL_CLOSED", 10*time.Second) // our CANCEL reached phone b
	t.Logf("phone b closed: %v", closed["param"])
	a.waitEvent(t, "CALL_ESTABLISHED", 10*time.Second)

	d := ans.Dialog
	go func() { // nobody else reads the dialog's events in this test
		for range d.Events() {
		}
	}()
	hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer hcancel()
	if err := d.Hangup(hctx, "test done"); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	a.waitEvent(t, "CALL_CLOSED", 10*time.Second)
	select {
	case <-d.Done():
	case <-time.After(10 * time.Second):
		t.Error("dialog not done after hangup")
	}

	waitDone(t, o, 15*time.Second)
	res := resultsByLabel(o)
	if r := res["a"]; r.Result != ResultAnswered || r.Code != 200 {
		t.Errorf("phone a: %d/%q, want 200/answered", r.Code, r.Result)
	}
	if r := res["b"]; r.Result != ResultCancelled || r.Code != 487 {
		t.Errorf("phone b: %d/%q, want 487/cancelled", r.Code, r.Result)
	}
}

// Dial on a server that is not running fails cleanly.
func TestDialServerNotStarted(t *testing.T) {
	s, err := NewServer(Config{Listen: []ListenConfig{{Network: "udp", Addr: "127.0.0.1:0"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Dial(context.Background(), DialRequest{From: "sip:a@b", Targets: []Target{{URI: "sip:x@127.0.0.1"}}})
	if StatusOf(err) != 503 {
		t.Fatalf("Dial on stopped server: %v", err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestBuildInvite(t *testing.T) {
	var ruri sipmsg.Uri
	if err := sipmsg.ParseUri("sip:bob@127.0.0.1:5080;transport=tcp", &ruri); err != nil {
		t.Fatal(err)
	}
	req := &DialRequest{
		From: `"Caller" <sip:+15551230000@ynagw>`,
		To:   "sip:bob@ynagw",
		Headers: map[string]string{
			"X-Test":     "1",
			"Call-ID":    "evil",   // reserved: ignored
			"X-Bad\r\nA": "x",      // injection in name: ignored
			"X-Inject":   "a\r\nB", // injection in value: ignored
		},
		Offer: []byte("v=0\r\n"),
	}
	inv, err := buildInvite(req, Target{URI: ruri.String()}, ruri)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Transport() != "TCP" {
		t.Errorf("transport %q", inv.Transport())
	}
	if tag, _ := inv.From().Params.Get("tag"); tag == "" || inv.From().DisplayName != "Caller" || inv.From().Address.User != "+15551230000" {
		t.Errorf("From %q", inv.From().Value())
	}
	if _, has := inv.To().Params.Get("tag"); has || inv.To().Address.User != "bob" {
		t.Errorf("To %q", inv.To().Value())
	}
	if inv.CallID().Value() == "evil" || inv.GetHeader("X-Test") == nil || inv.GetHeader("X-Inject") != nil {
		t.Errorf("headers:\n%s", inv.String())
	}
	if strings.Contains(inv.String(), "X-Bad") {
		t.Errorf("injected header name:\n%s", inv.String())
	}
	if ct := inv.ContentType(); ct == nil || ct.Value() != "application/sdp" || string(inv.Body()) != "v=0\r\n" {
		t.Errorf("body/content-type:\n%s", inv.String())
	}

	c := buildCancel(inv, ReasonCompletedElsewhere)
	if c.Method != sipmsg.CANCEL || c.CSeq().MethodName != sipmsg.CANCEL || c.CSeq().SeqNo != inv.CSeq().SeqNo {
		t.Errorf("CANCEL CSeq %v", c.CSeq())
	}
	if c.Recipient.String() != inv.Recipient.String() || c.CallID().Value() != inv.CallID().Value() {
		t.Errorf("CANCEL R-URI/Call-ID:\n%s", c.String())
	}
	if h := c.GetHeader("Reason"); h == nil || h.Value() != ReasonCompletedElsewhere {
		t.Errorf("CANCEL Reason:\n%s", c.String())
	}
}

// Closing the Server while a fork rings ends the fork (503), the ringing
// phone gets a CANCEL with Reason cause=503 (sipp checks it and exits 0) and
// Close does not hang on the ringing branch.
func TestDialServerClose(t *testing.T) {
	ringer := startSippUASWith(t, "fork_uas_noanswer.xml", map[string]string{"cause=408;": "cause=503;"})
	srv := newForkServer(t)
	o, err := srv.Dial(context.Background(), DialRequest{
		From: "<sip:+15551230000@ynagw>", To: "<sip:hal@ynagw>", Offer: []byte(testOffer),
		Targets: []Target{{URI: ringer.uri("hal"), Label: "ringer"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := <-o.Events(); !ok {
		t.Fatal("events closed")
	} else if p, isProg := ev.(*ProgressEvent); !isProg || p.Code != 180 {
		t.Fatalf("first event %#v, want 180", ev)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = srv.Close()
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Server.Close hangs with a ringing fork")
	}
	_, final := finalEvent(t, o, 5*time.Second)
	if !isFailed(final, 503) {
		t.Fatalf("final %#v, want 503", final)
	}
	if f := final.(*FailedEvent); !errors.Is(f.Err, ErrClosed) {
		t.Errorf("final error %v, want ErrClosed", f.Err)
	}
	waitDone(t, o, 5*time.Second)
	ringer.requireOK(t) // got CANCEL with cause=503 before the transports closed
	if _, err := srv.Dial(context.Background(), DialRequest{From: "sip:a@b", Targets: []Target{{URI: "sip:x@127.0.0.1"}}}); StatusOf(err) != 503 {
		t.Fatalf("Dial after Close: %v", err)
	}
}

// cancelForks (for Server.Close) CANCELs ringing forks politely with
// Reason cause=503 before the transports go away.
func TestCancelForks(t *testing.T) {
	ringer := startSippUASWith(t, "fork_uas_noanswer.xml", map[string]string{"cause=408;": "cause=503;"})
	srv := newForkServer(t)
	o, err := srv.Dial(context.Background(), DialRequest{
		From: "<sip:+15551230000@ynagw>", To: "<sip:ian@ynagw>", Offer: []byte(testOffer),
		Targets: []Target{{URI: ringer.uri("ian")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := <-o.Events(); !ok {
		t.Fatal("events closed")
	} else if p, isProg := ev.(*ProgressEvent); !isProg || p.Code != 180 {
		t.Fatalf("first event %#v, want 180", ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.cancelForks(ctx)
	select {
	case <-o.Done():
	default:
		t.Fatal("cancelForks returned before the fork was done")
	}
	_, final := finalEvent(t, o, time.Second)
	if f, ok := final.(*FailedEvent); !ok || f.Code != 503 || !errors.Is(f.Err, ErrClosed) {
		t.Fatalf("final %#v, want 503 ErrClosed", final)
	}
	ringer.requireOK(t) // got CANCEL with cause=503
	forks.mu.Lock()
	n := len(forks.m[srv])
	forks.mu.Unlock()
	if n != 0 {
		t.Errorf("%d forks still registered after Done", n)
	}
}

// One fork over two transports: a TCP target answers, a UDP target that
// rings gets CANCEL with "Call completed elsewhere"; then we hang up over TCP.
func TestDialMixedTransports(t *testing.T) {
	tcp := startSippUAS(t, "fork_uas_answer.xml", "-t", "t1", "-d", "300")
	udp := startSippUAS(t, "fork_uas_slow.xml")
	srv := newForkServer(t)
	o, err := srv.Dial(context.Background(), DialRequest{
		From: "<sip:+15551230000@ynagw>", To: "<sip:joe@ynagw>", Offer: []byte(testOffer),
		Targets: []Target{{URI: tcp.uri("joe"), Label: "tcp"}, {URI: udp.uri("joe"), Label: "udp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, final := finalEvent(t, o, 10*time.Second)
	ans, ok := final.(*AnsweredEvent)
	if !ok || ans.Branch != "tcp" {
		t.Fatalf("final %#v, want answer over tcp", final)
	}
	udp.requireOK(t)
	d := ans.Dialog
	go func() {
		for range d.Events() {
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Hangup(ctx, "test done"); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	tcp.requireOK(t)
	waitDone(t, o, 10*time.Second)
}
