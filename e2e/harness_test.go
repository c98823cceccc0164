package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/internal/testpeer"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// The loopback installation every end-to-end test runs against: ynasim (the T-Mobile
// side with real WebRTC far ends), a yna.Client, a sip.Server with two desk-phone users,
// a WebRTC engine and the bridge Gateway, all in this process on 127.0.0.1.

const (
	e2eLine      = "14255550100"
	e2eAccount   = "acct1"
	e2eCaller    = "12065550123" // inbound caller
	farToneHz    = 1000          // the far end's tone (farend default, set explicitly)
	phoneToneHz  = 440           // the desk phones' tone (sipp rtp_stream file, baresip aufile)
	e2eFarNumber = "2065550123"  // default outbound destination (behaviour answer)
)

// gwEnv is one complete installation.
type gwEnv struct {
	t   *testing.T
	sim *ynasim.Sim
	yc  *yna.Client
	srv *sip.Server
	gw  *bridge.Gateway
	log *zap.Logger
}

// newGwEnv starts everything; mod may change the gateway config. It records the
// goroutine count first and, as the very last cleanup, waits (with a deadline) until the
// count is back at that baseline.
func newGwEnv(t *testing.T, mod func(*bridge.Config)) *gwEnv {
	t.Helper()
	return newGwEnvSIP(t, nil, mod)
}

// newGwEnvSIP is newGwEnv with sipMod changing the SIP server config too.
func newGwEnvSIP(t *testing.T, sipMod func(*sip.Config), mod func(*bridge.Config)) *gwEnv {
	t.Helper()
	return newGwEnvAll(t, sipMod, mod, nil)
}

// newGwEnvEngine is newGwEnv with the gateway's WebRTC engine built from wc (nil: the
// loopback engine of testenv.NewEngine).
func newGwEnvEngine(t *testing.T, mod func(*bridge.Config), wc *rtpmedia.WebRTCConfig) *gwEnv {
	t.Helper()
	return newGwEnvAll(t, nil, mod, wc)
}

// newGwEnvAll is newGwEnv with a SIP config change (sipMod) and a WebRTC engine config (wc).
func newGwEnvAll(t *testing.T, sipMod func(*sip.Config), mod func(*bridge.Config), wc *rtpmedia.WebRTCConfig) *gwEnv {
	t.Helper()
	checkGoroutines(t)
	e := &gwEnv{t: t, log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
	e.sim = testenv.NewSim(t, ynasim.Config{Accounts: []ynasim.Account{{ID: e2eAccount, Lines: []string{e2eLine}}}})
	e.sim.SetFarEndConfig(farend.Config{AllowLoopback: true, ToneHz: farToneHz})
	e.yc = testenv.NewClient(t, e.sim)
	tokens := bridge.NewStaticTokens(map[string]string{e2eLine: testenv.Link(t, e.yc, e2eAccount).AccessToken})
	sc := sip.Config{
		DigestAlgorithms: []string{"MD5"}, // baresip/libre only copes with MD5 challenges
		Logger:           e.log,
	}
	if sipMod != nil {
		sipMod(&sc)
	}
	e.srv = testenv.NewSIPServer(t, sc)
	var engine *rtpmedia.WebRTCEngine
	if wc == nil {
		engine = testenv.NewEngine(t)
	} else {
		var err error
		if engine, err = rtpmedia.NewWebRTCEngine(*wc); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = engine.Close() })
	}
	ctx := testenv.Ctx(t, 10*time.Second)

	cfg := bridge.Config{
		Lines: []bridge.LineConfig{{MSISDN: e2eLine, Ring: []string{"alice", "bob"}, Outbound: []string{"alice", "bob"}}},
		Media: bridge.MediaConfig{BindIP: netip.MustParseAddr("127.0.0.1")},
		Timers: bridge.Timers{RingTimeout: 15 * time.Second, SetupTimeout: 30 * time.Second, DrainTimeout: 3 * time.Second,
			RESTTimeout: 10 * time.Second},
	}
	if mod != nil {
		mod(&cfg)
	}
	var err error
	e.gw, err = bridge.New(cfg, bridge.Deps{SIP: e.srv, YNA: e.yc, Media: bridge.WebRTCMedia{Engine: engine}, Tokens: tokens, Logger: e.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer ccancel()
		if err := e.gw.Close(cctx); err != nil {
			t.Errorf("gateway close: %v", err)
		}
	})
	if _, err := e.sim.WaitChannel(ctx, e2eAccount, func(ci ynasim.ChannelInfo) bool { return ci.SocketsOpen > 0 }); err != nil {
		t.Fatalf("notification channel did not open: %v", err)
	}
	return e
}

// checkGoroutines records the goroutine count now and registers a cleanup (which runs
// after every cleanup registered later) that waits until the count is back to it.
func checkGoroutines(t *testing.T) {
	t.Helper()
	baseline := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.After(20 * time.Second)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			n := runtime.NumGoroutine()
			if n <= baseline {
				return
			}
			select {
			case <-tick.C:
			case <-deadline:
				buf := make([]byte, 1<<20)
				t.Errorf("goroutines %d > baseline %d after the test\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
				return
			}
		}
	})
}

// sipAddr is the gateway's SIP UDP address.
func (e *gwEnv) sipAddr() netip.AddrPort { return e.srv.Addr("udp") }

func (e *gwEnv) ctx(d time.Duration) context.Context { return testenv.Ctx(e.t, d) }

// simCall waits for a live sim call of direction dir and returns its id.
func (e *gwEnv) simCall(dir string) string {
	e.t.Helper()
	return testenv.WaitCall(e.t, e.sim, dir, 20*time.Second)
}

// waitState waits until the sim call reaches state.
func (e *gwEnv) waitState(id, state string) ynasim.CallInfo {
	e.t.Helper()
	return testenv.WaitState(e.t, e.sim, id, state)
}

// action runs a network-side action on a sim call.
func (e *gwEnv) action(id, action string, args ...string) {
	e.t.Helper()
	if err := e.sim.CallAction(e.ctx(15*time.Second), id, action, args...); err != nil {
		e.t.Fatalf("sim action %s: %v", action, err)
	}
}

// stats returns the far end's media stats of a sim call.
func (e *gwEnv) stats(id string) farend.Stats {
	ci, _ := e.sim.Call(id)
	st, _ := ci.Media.(farend.Stats)
	return st
}

// waitStats polls the far end's counters (they have no change event in the sim API)
// until cond holds, with a deadline.
func (e *gwEnv) waitStats(id string, d time.Duration, what string, cond func(farend.Stats) bool) farend.Stats {
	e.t.Helper()
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	deadline := time.After(d)
	for {
		st := e.stats(id)
		if cond(st) {
			return st
		}
		select {
		case <-tk.C:
		case <-deadline:
			e.t.Fatalf("timeout: %s (far end stats %+v)", what, st)
			return st
		}
	}
}

// waitContacts waits until user has n registered contacts.
func (e *gwEnv) waitContacts(user string, n int) {
	e.t.Helper()
	eventually(e.t, 15*time.Second, user+" registered", func() bool { return len(e.srv.Contacts(user)) >= n })
}

func hasREST(ci ynasim.CallInfo, op string) bool { return testenv.RESTSucceeded(ci, op) }

// eventually polls cond with a deadline (for state without a change event).
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, d, what, cond)
}

// freePort returns a currently unused loopback UDP+TCP port.
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		_ = pc.Close()
		if err == nil {
			_ = l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func tail(s string, n int) string { return testpeer.Tail(s, n) }
