package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/ynagw/ynagw/internal/testpeer"
	"go.uber.org/zap/zaptest"
)

// ---- sipp UAS targets -------------------------------------------------------

type sippUAS struct {
	port  int
	proto string // "udp" or "tcp"
	dir   string
	cmd   *exec.Cmd
	out   *bytes.Buffer
	done  chan struct{}
	rc    int
}

func (s *sippUAS) uri(user string) string {
	return fmt.Sprintf("sip:%s@127.0.0.1:%d;transport=%s", user, s.port, s.proto)
}

// startSippUAS runs sipp with a scenario from testdata/sipp as a one-call UAS
// on a free loopback port and waits until its SIP socket is bound.
func startSippUAS(t *testing.T, scenario string, args ...string) *sippUAS {
	t.Helper()
	return startSippUASWith(t, scenario, nil, args...)
}

// startSippUASWith is startSippUAS with placeholders in the scenario replaced
// first (sipp checks status codes when it parses the file, so a status line
// cannot come from -key).
func startSippUASWith(t *testing.T, scenario string, repl map[string]string, args ...string) *sippUAS {
	t.Helper()
	bin := testpeer.Require(t, "sipp")
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range repl {
		src = bytes.ReplaceAll(src, []byte(k), []byte(v))
	}
	// sipp writes its logs next to the scenario file: use a private copy.
	sf := filepath.Join(dir, scenario)
	if err := os.WriteFile(sf, src, 0o644); err != nil {
		t.Fatal(err)
	}
	port, ctl := freeUDPPort(t), freeUDPPort(t)
	argv := append([]string{"-sf", sf, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-cp", strconv.Itoa(ctl), "-m", "1", "-nostdin", "-timeout", "30s",
		"-trace_err", "-trace_logs", "-trace_msg"}, args...)
	s := &sippUAS{port: port, proto: "udp", dir: dir, out: &bytes.Buffer{}, done: make(chan struct{}), rc: -1}
	s.cmd = exec.Command(bin, argv...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.done)
		err := s.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			s.rc = 0
		case errors.As(err, &ee):
			s.rc = ee.ExitCode()
		}
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	proto := "udp"
	for i, a := range args {
		if a == "-t" && i+1 < len(args) && strings.HasPrefix(args[i+1], "t") {
			proto = "tcp"
		}
	}
	s.proto = proto
	waitBound(t, proto, port, s.done)
	return s
}

// wait returns sipp's exit code (0: the call went exactly as scripted).
func (s *sippUAS) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(d):
		t.Fatalf("sipp %s did not finish in %v", filepath.Base(s.dir), d)
	}
	return s.rc
}

func (s *sippUAS) logs() string {
	var b strings.Builder
	b.WriteString(s.out.String())
	files, _ := filepath.Glob(filepath.Join(s.dir, "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "\n==== %s\n%s", filepath.Base(f), data)
	}
	return b.String()
}

func (s *sippUAS) requireOK(t *testing.T) {
	t.Helper()
	if rc := s.wait(t, 40*time.Second); rc != 0 {
		t.Errorf("sipp rc=%d, want 0; logs:\n%s", rc, s.logs())
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// waitBound polls /proc/net/{udp,tcp} until something is bound (TCP:
// listening) on 127.0.0.1:port (sipp signals nothing when it is ready).
// Polling with a deadline, no sleeps.
func waitBound(t *testing.T, proto string, port int, exited <-chan struct{}) {
	t.Helper()
	want := fmt.Sprintf("0100007F:%04X 00000000:0000", port)
	if proto == "tcp" {
		want += " 0A" // LISTEN
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		if data, err := os.ReadFile("/proc/net/" + proto); err == nil && bytes.Contains(data, []byte(want)) {
			return
		}
		select {
		case <-tick.C:
		case <-exited:
			t.Fatalf("sipp exited before binding port %d", port)
		case <-deadline:
			t.Fatalf("sipp did not bind port %d", port)
		}
	}
}

// ---- a minimal sipgo UAC standing in for the Server ---------------------------

type testUAC struct {
	env      forkEnv
	sessions chan *sipgo.DialogClientSession // winning sessions, handed over by newDialog
}

func newTestUAC(t *testing.T) *testUAC {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr)
	spc, served := newServedPacketConn(conn), make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.ServeUDP(spc)
	}()
	t.Cleanup(func() {
		_ = ua.Close()
		_ = conn.Close()
		<-served
	})
	// as Server.Start does: requests leave from the listener once sipgo reads it
	if err := waitServed(context.Background(), "udp", spc.ready, served); err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	u := &testUAC{sessions: make(chan *sipgo.DialogClientSession, 4)}
	u.env = forkEnv{
		uas: map[string]*sipgo.DialogUA{"udp": {Client: client, ContactHDR: sipmsg.ContactHeader{
			Address: sipmsg.Uri{Scheme: "sip", User: "ynagw", Host: "127.0.0.1", Port: addr.Port}}}},
		udpLocal: addr.String(),
		log:      zaptest.NewLogger(t),
		newDialog: func(sess *sipgo.DialogClientSession, _, _ []byte) (*Dialog, error) {
			u.sessions <- sess
			return &Dialog{}, nil
		},
	}
	return u
}

// hangup BYEs the session handed to newDialog.
func (u *testUAC) hangup(t *testing.T) {
	t.Helper()
	select {
	case sess := <-u.sessions:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sess.Bye(ctx); err != nil {
			t.Errorf("BYE: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answered session")
	}
}

func (u *testUAC) dial(t *testing.T, ctx context.Context, req DialRequest) *OutboundCall {
	t.Helper()
	if req.From == "" {
		req.From = "<sip:+15551230000@ynagw>"
	}
	if req.Offer == nil {
		req.Offer = []byte(testOffer)
	}
	o, err := startFork(ctx, u.env, req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		o.Cancel("test cleanup")
		select {
		case <-o.Done():
		case <-time.After(70 * time.Second):
			t.Error("fork not done at cleanup")
		}
	})
	return o
}

const testOffer = "v=0\r\no=ynagw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"

// ---- event helpers -----------------------------------------------------------

// finalEvent collects progress events until the AnsweredEvent/FailedEvent.
func finalEvent(t *testing.T, o *OutboundCall, d time.Duration) (progress []*ProgressEvent, final ForkEvent) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-o.Events():
			if !ok {
				t.Fatal("events closed without a final event")
			}
			if p, isProg := ev.(*ProgressEvent); isProg {
				progress = append(progress, p)
				continue
			}
			return progress, ev
		case <-deadline:
			t.Fatalf("no final fork event within %v", d)
		}
	}
}

func waitDone(t *testing.T, o *OutboundCall, d time.Duration) {
	t.Helper()
	select {
	case <-o.Done():
	case <-time.After(d):
		t.Fatalf("fork not done within %v", d)
	}
	// Events is closed once Done is.
	for ev := range o.Events() {
		t.Errorf("unexpected event after the final one: %#v", ev)
	}
}

func resultsByLabel(o *OutboundCall) map[string]BranchResult {
	m := map[string]BranchResult{}
	for _, r := range o.Branches() {
		m[r.Target.Label] = r
	}
	return m
}

// ---- tests -------------------------------------------------------------------

// Three targets: one answers after a short ring, one rings and must get CANCEL
// with "Reason: SIP;cause=200;text=\"Call completed elsewhere\"", one answers
// after the winner and must get ACK then BYE. Each sipp exits 0 only if it saw
// exactly that.
func TestForkFirstAnswerWins(t *testing.T) {
	fast := startSippUAS(t, "fork_uas_answer.xml", "-d", "300")
	slow := startSippUAS(t, "fork_uas_slow.xml")
	late := startSippUAS(t, "fork_uas_late.xml", "-d", "1500")
	u := newTestUAC(t)

	o := u.dial(t, context.Background(), DialRequest{
		To: "<sip:alice@ynagw>",
		Targets: []Target{
			{URI: fast.uri("alice"), Label: "fast"},
			{URI: slow.uri("alice"), Label: "slow"},
			{URI: late.uri("alice"), Label: "late"},
		},
	})
	progress, final := finalEvent(t, o, 10*time.Second)
	ans, ok := final.(*AnsweredEvent)
	if !ok {
		t.Fatalf("final event %#v, want *AnsweredEvent", final)
	}
	if ans.Branch != "fast" || ans.Dialog == nil || !bytes.Contains(ans.SDP, []byte("o=answer")) {
		t.Fatalf("answered by %q dialog=%v sdp=%q", ans.Branch, ans.Dialog != nil, ans.SDP)
	}
	if len(progress) != 1 || progress[0].Code != 180 {
		t.Fatalf("progress events %+v, want exactly one 180 (two branches rang)", progress)
	}

	slow.requireOK(t) // got CANCEL with the right Reason, answered 487, got ACK
	late.requireOK(t) // its 200 was ACKed and BYEd
	u.hangup(t)
	fast.requireOK(t)
	waitDone(t, o, 10*time.Second)

	res := resultsByLabel(o)
	want := map[string]BranchResult{
		"fast": {Code: 200, Result: ResultAnswered},
		"slow": {Code: 487, Result: ResultCancelled},
		"late": {Code: 200, Result: ResultLate2xx},
	}
	for label, w := range want {
		if g := res[label]; g.Code != w.Code || g.Result != w.Result {
			t.Errorf("branch %s: got %d/%q, want %d/%q", label, g.Code, g.Result, w.Code, w.Result)
		}
	}
}

// Early media and ringing from different branches are both forwarded once;
// the early-media branch then answers and the ringing one is cancelled.
func TestForkEarlyMedia(t *testing.T) {
	early := startSippUAS(t, "fork_uas_early.xml", "-d", "800")
	ringer := startSippUAS(t, "fork_uas_slow.xml")
	ringer2 := startSippUAS(t, "fork_uas_slow.xml")
	u := newTestUAC(t)
	o := u.dial(t, context.Background(), DialRequest{
		To: "<sip:gina@ynagw>",
		Targets: []Target{{URI: early.uri("gina"), Label: "early"}, {URI: ringer.uri("gina"), Label: "ringer"},
			{URI: ringer2.uri("gina"), Label: "ringer2"}},
	})
	progress, final := finalEvent(t, o, 10*time.Second)
	if ans, ok := final.(*AnsweredEvent); !ok || ans.Branch != "early" {
		t.Fatalf("final %#v, want answer from early", final)
	}
	var rings, media int
	for _, p := range progress {
		switch {
		case p.Code == 183 && bytes.Contains(p.SDP, []byte("o=early")) && p.Branch == "early":
			media++
		case p.Code == 180 && p.SDP == nil:
			rings++
		default:
			t.Errorf("unexpected progress %+v", p)
		}
	}
	if rings != 1 || media != 1 {
		t.Errorf("got %d ringing and %d early-media events, want 1 and 1", rings, media)
	}
	ringer.requireOK(t)
	ringer2.requireOK(t)
	u.hangup(t)
	early.requireOK(t)
	waitDone(t, o, 10*time.Second)
}

// sipgo's WaitAnswer gives up after 10 responses; a UAS that keeps sending
// 180s must still get a CANCEL (Reason cause=500) instead of ringing forever.
func TestForkTooManyProvisionals(t *testing.T) {
	chatty := startSippUAS(t, "fork_uas_chatty.xml")
	u := newTestUAC(t)
	o := u.dial(t, context.Background(), DialRequest{To: "<sip:kim@ynagw>", Targets: []Target{{URI: chatty.uri("kim")}}})
	progress, final := finalEvent(t, o, 10*time.Second)
	if _, ok := final.(*FailedEvent); !ok {
		t.Fatalf("final %#v, want failure", final)
	}
	if len(progress) != 1 {
		t.Errorf("%d progress events, want 1 (duplicates suppressed)", len(progress))
	}
	chatty.requireOK(t)
	waitDone(t, o, 10*time.Second)
}

func TestForkAllReject(t *testing.T) {
	tests := []struct {
		name  string
		codes []int
		want  int
	}{
		{"6xx wins", []int{486, 603}, 603},
		{"busy beats not found", []int{404, 486}, 486},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newTestUAC(t)
			var targets []Target
			var peers []*sippUAS
			for i, c := range tt.codes {
				p := startSippUASWith(t, "fork_uas_reject.xml", map[string]string{"[code]": strconv.Itoa(c)})
				peers = append(peers, p)
				targets = append(targets, Target{URI: p.uri("bob"), Label: "t" + strconv.Itoa(i)})
			}
			o := u.dial(t, context.Background(), DialRequest{To: "<sip:bob@ynagw>", Targets: targets})
			_, final := finalEvent(t, o, 10*time.Second)
			f, ok := final.(*FailedEvent)
			if !ok {
				t.Fatalf("final %#v, want *FailedEvent", final)
			}
			if f.Code != tt.want || StatusOf(f.Err) != tt.want {
				t.Fatalf("failed with %d (%v), want %d", f.Code, f.Err, tt.want)
			}
			for _, p := range peers {
				p.requireOK(t)
			}
			waitDone(t, o, 10*time.Second)
			for _, r := range o.Branches() {
				if r.Result != ResultRejected {
					t.Errorf("branch %s: result %q code %d, want rejected", r.Target.Label, r.Result, r.Code)
				}
			}
		})
	}
}

func TestForkTrunkDigest(t *testing.T) {
	t.Run("good credentials", func(t *testing.T) {
		trunk := startSippUAS(t, "fork_uas_auth.xml")
		u := newTestUAC(t)
		o := u.dial(t, context.Background(), DialRequest{
			To:      "<sip:+15550001111@trunk.test>",
			Targets: []Target{{URI: trunk.uri("+15550001111"), Username: "gw", Password: "gwpw", Label: "trunk"}},
		})
		_, final := finalEvent(t, o, 10*time.Second)
		if ans, ok := final.(*AnsweredEvent); !ok || ans.Branch != "trunk" {
			t.Fatalf("final %#v, want answer from trunk", final)
		}
		u.hangup(t)
		trunk.requireOK(t)
		waitDone(t, o, 10*time.Second)
	})
	t.Run("wrong password answered once", func(t *testing.T) {
		trunk := startSippUAS(t, "fork_uas_auth.xml")
		u := newTestUAC(t)
		o := u.dial(t, context.Background(), DialRequest{
			To:      "<sip:+15550001111@trunk.test>",
			Targets: []Target{{URI: trunk.uri("+15550001111"), Username: "gw", Password: "nope", Label: "trunk"}},
		})
		_, final := finalEvent(t, o, 10*time.Second)
		f, ok := final.(*FailedEvent)
		if !ok || f.Code != 403 {
			t.Fatalf("final %#v, want 403", final)
		}
		// The scenario fails the call on bad credentials: rc 1 proves we
		// really sent the digest it rejected.
		if rc := trunk.wait(t, 20*time.Second); rc != 1 {
			t.Errorf("sipp rc=%d, want 1 (bad credentials path)", rc)
		}
		waitDone(t, o, 10*time.Second)
	})
}

func TestForkRingTimeout(t *testing.T) {
	a := startSippUAS(t, "fork_uas_noanswer.xml")
	b := startSippUAS(t, "fork_uas_noanswer.xml")
	u := newTestUAC(t)
	o := u.dial(t, context.Background(), DialRequest{
		To:          "<sip:carol@ynagw>",
		Targets:     []Target{{URI: a.uri("carol"), Label: "a"}, {URI: b.uri("carol"), Label: "b"}},
		RingTimeout: time.Second,
	})
	_, final := finalEvent(t, o, 10*time.Second)
	f, ok := final.(*FailedEvent)
	if !ok || f.Code != 408 || !errors.Is(f.Err, ErrRequestTimeout) {
		t.Fatalf("final %#v, want 408", final)
	}
	a.requireOK(t)
	b.requireOK(t)
	waitDone(t, o, 10*time.Second)
	for _, r := range o.Branches() {
		if r.Result != ResultTimeout || r.Code != 487 {
			t.Errorf("branch %s: %d/%q, want 487/timeout", r.Target.Label, r.Code, r.Result)
		}
	}
}

func TestForkBranchTimeout(t *testing.T) {
	ringer := startSippUAS(t, "fork_uas_noanswer.xml") // expects CANCEL with cause=408
	busy := startSippUASWith(t, "fork_uas_reject.xml", map[string]string{"[code]": "486"})
	u := newTestUAC(t)
	o := u.dial(t, context.Background(), DialRequest{
		To:            "<sip:dave@ynagw>",
		Targets:       []Target{{URI: ringer.uri("dave"), Label: "ringer"}, {URI: busy.uri("dave"), Label: "busy"}},
		BranchTimeout: 800 * time.Millisecond,
		RingTimeout:   20 * time.Second,
	})
	_, final := finalEvent(t, o, 15*time.Second)
	if f, ok := final.(*FailedEvent); !ok || f.Code != 486 {
		t.Fatalf("final %#v, want 486 (busy beats a timed-out branch)", final)
	}
	ringer.requireOK(t)
	busy.requireOK(t)
	waitDone(t, o, 10*time.Second)
	res := resultsByLabel(o)
	if r := res["ringer"]; r.Result != ResultTimeout || r.Code != 487 {
		t.Errorf("ringer: %d/%q, want 487/timeout", r.Code, r.Result)
	}
	if r := res["busy"]; r.Result != ResultRejected || r.Code != 486 {
		t.Errorf("busy: %d/%q, want 486/rejected", r.Code, r.Result)
	}
}

func TestForkCancel(t *testing.T) {
	for _, viaCtx := range []bool{false, true} {
		t.Run(fmt.Sprintf("ctx=%v", viaCtx), func(t *testing.T) {
			a := startSippUAS(t, "fork_uas_cancelled.xml")
			u := newTestUAC(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := u.dial(t, ctx, DialRequest{To: "<sip:erin@ynagw>", Targets: []Target{{URI: a.uri("erin"), Label: "a"}}})
			// Wait for the ringing, then give up.
			prog, ok := <-o.Events()
			if p, isProg := prog.(*ProgressEvent); !ok || !isProg || p.Code != 180 {
				t.Fatalf("first event %#v, want 180", prog)
			}
			if viaCtx {
				cancel()
			} else {
				o.Cancel("Caller hung up")
			}
			_, final := finalEvent(t, o, 10*time.Second)
			if f, ok := final.(*FailedEvent); !ok || f.Code != 487 {
				t.Fatalf("final %#v, want 487", final)
			}
			a.requireOK(t)
			waitDone(t, o, 10*time.Second)
			if r := o.Branches()[0]; r.Result != ResultCancelled || r.Code != 487 {
				t.Errorf("branch: %d/%q, want 487/cancelled", r.Code, r.Result)
			}
		})
	}
}

// The Reason assertions in the scenarios must be able to fail: a CANCEL with
// the wrong cause makes fork_uas_slow.xml (which wants cause=200) exit 1.
func TestForkScenarioDetectsWrongReason(t *testing.T) {
	slow := startSippUAS(t, "fork_uas_slow.xml")
	u := newTestUAC(t)
	o := u.dial(t, context.Background(), DialRequest{To: "<sip:frank@ynagw>", Targets: []Target{{URI: slow.uri("frank")}}})
	if ev := <-o.Events(); ev == nil {
		t.Fatal("events closed")
	}
	o.Cancel("") // cause=487
	if _, final := finalEvent(t, o, 10*time.Second); !isFailed(final, 487) {
		t.Fatalf("final %#v, want 487", final)
	}
	waitDone(t, o, 10*time.Second)
	if rc := slow.wait(t, 20*time.Second); rc != 1 {
		t.Fatalf("sipp rc=%d, want 1 (Reason mismatch must fail the scenario)", rc)
	}
}

func TestDialValidation(t *testing.T) {
	env := newTestUAC(t).env
	tests := []struct {
		name string
		req  DialRequest
		code int
	}{
		{"no targets", DialRequest{From: "sip:a@b"}, 400},
		{"bad target", DialRequest{From: "sip:a@b", Targets: []Target{{URI: "::::"}}}, 416},
		{"not sip", DialRequest{From: "sip:a@b", Targets: []Target{{URI: "http://127.0.0.1/"}}}, 416},
		{"no ua", DialRequest{From: "sip:a@b", Targets: []Target{{URI: "sip:x@127.0.0.1"}}}, 503},
		{"bad from", DialRequest{From: "<<<", Targets: []Target{{URI: "sip:x@127.0.0.1"}}}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env
			if tt.code == 503 {
				e = forkEnv{}
			}
			_, err := startFork(context.Background(), e, tt.req)
			if StatusOf(err) != tt.code {
				t.Fatalf("err %v (status %d), want %d", err, StatusOf(err), tt.code)
			}
		})
	}
}

func TestReasonHeaderValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `SIP;cause=487;text="Call cancelled"`},
		{ReasonCompletedElsewhere, ReasonCompletedElsewhere},
		{`Q.850;cause=16;text="Normal"`, `Q.850;cause=16;text="Normal"`},
		{`Caller "hung" up` + "\r\nX: y", `SIP;cause=487;text="Caller hung upX: y"`},
		// full values are validated: CR/LF would inject headers into the CANCEL
		{"SIP;cause=487\r\nX-Injected: 1", `SIP;cause=487;text="Call cancelled"`},
		{"Q.850;cause=16;text=\"a\nb\"", `SIP;cause=487;text="Call cancelled"`},
		{"SIP;cause=abc", `SIP;cause=487;text="Call cancelled"`},
		{`SIP;text="no cause"`, `SIP;cause=487;text="Call cancelled"`},
		{`sip;cause=503;text="Server shutting down"`, `sip;cause=503;text="Server shutting down"`},
		{strings.Repeat("x", 300), `SIP;cause=487;text="` + strings.Repeat("x", 128) + `"`},
	}
	for _, tt := range tests {
		if got := reasonHeaderValue(tt.in); got != tt.want {
			t.Errorf("reasonHeaderValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func isFailed(ev ForkEvent, code int) bool {
	f, ok := ev.(*FailedEvent)
	return ok && f.Code == code && StatusOf(f.Err) == code
}
