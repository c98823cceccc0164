package sip

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is the server's clock in tests that cover hours in seconds.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Unix(1_800_000_000, 0).UnixNano())
	return c
}
func (c *fakeClock) now() time.Time                  { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration)         { c.ns.Add(int64(d)) }
func (c *fakeClock) since(t time.Time) time.Duration { return c.now().Sub(t) }

// authRecorder counts AuthObserver calls.
type authRecorder struct {
	nopObserver
	mu      sync.Mutex
	reasons map[string]int
	blocked int
}

func (r *authRecorder) AuthFailure(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reasons == nil {
		r.reasons = map[string]int{}
	}
	r.reasons[reason]++
}
func (r *authRecorder) AuthBlocked(n int) { r.mu.Lock(); r.blocked = n; r.mu.Unlock() }
func (r *authRecorder) get(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reasons[reason]
}

// tryRegister sends one REGISTER for user with pw (challenge, then credentials)
// and returns the final response's code and reason.
func tryRegister(t *testing.T, u *rawUA, user, pw string, n int) (int, string) {
	t.Helper()
	uri := "sip:2000@" + u.srv.String()
	cid := fmt.Sprintf("try-%s-%d", user, n)
	u.send(toUser(u.req("REGISTER", cid, "a", "", 1, ""), user))
	ch := u.expect(401).GetHeader("WWW-Authenticate").Value()
	u.send(toUser(u.req("REGISTER", cid, "a", "", 2, "", "Authorization: "+answerChallenge(t, ch, user, pw, "REGISTER", uri)), user))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if res, ok := u.recv(time.Until(deadline)).(interface {
			StartLine() string
		}); ok {
			line := res.StartLine()
			var code int
			if _, err := fmt.Sscanf(line, "SIP/2.0 %d", &code); err == nil && code >= 200 {
				return code, strings.TrimSpace(line[len("SIP/2.0 000"):])
			}
		}
	}
	t.Fatal("no final response")
	return 0, ""
}

// TestDictionaryAttack plays svcrack with a 200-word list at full speed (a
// guess every 10 ms of the server's clock, retrying every 10 s while blocked)
// against alice, whose password is word 150, from the address that bob's
// phone shares behind a NAT. Over 30 minutes it finds nothing and bob keeps
// registering.
func TestDictionaryAttack(t *testing.T) {
	clk := newFakeClock()
	obs := &authRecorder{}
	s := newTestServer(t, func(c *Config) {
		c.now = clk.now
		c.Observer = obs
		c.Users = []User{{Username: "alice", Password: "word150"}, {Username: "bob", Password: "bobpw"}}
	})
	attacker := newRawUAFrom(t, s.Addr("udp"), "127.0.0.3")
	phone := newRawUAFrom(t, s.Addr("udp"), "127.0.0.3") // same NAT address, other port
	words := make([]string, 200)
	for i := range words {
		words[i] = fmt.Sprintf("word%d", i+1)
	}
	start := clk.now()
	tried, blockedAnswers, n := 0, 0, 0
	for tried < len(words) && clk.since(start) < 30*time.Minute {
		n++
		code, reason := tryRegister(t, attacker, "alice", words[tried], n)
		switch {
		case code == 200:
			t.Fatalf("dictionary attack found the password (%s) after %v", words[tried], clk.since(start))
		case code == 403 && reason == "Blocked":
			blockedAnswers++
			clk.advance(10 * time.Second)
		case code == 403:
			tried++
			clk.advance(10 * time.Millisecond)
		default:
			t.Fatalf("unexpected %d %s", code, reason)
		}
		if n%25 == 0 {
			if code, reason := tryRegister(t, phone, "bob", "bobpw", n); code != 200 {
				t.Fatalf("bob behind the same address refused: %d %s", code, reason)
			}
		}
	}
	t.Logf("in %v: %d words tried, %d blocked answers, blocks: %+v", clk.since(start), tried, blockedAnswers, s.AuthBlocks())
	if tried > 40 {
		t.Fatalf("%d guesses in 30 minutes", tried)
	}
	if obs.get(AuthFailPassword) != tried || obs.get(AuthFailBlocked) != blockedAnswers {
		t.Fatalf("metrics: %v, tried %d blocked %d", obs.reasons, tried, blockedAnswers)
	}
	if code, _ := tryRegister(t, phone, "bob", "bobpw", n+1); code != 200 {
		t.Fatal("bob refused at the end")
	}
}

// TestForgedFailuresNeverBlockTrunk: failed REGISTERs with the allow-listed
// trunk's source address (UDP sources are trivial to forge) never block it.
func TestForgedFailuresNeverBlockTrunk(t *testing.T) {
	obs := &authRecorder{}
	s := newTestServer(t, func(c *Config) { trunkLoopback(c); c.AuthFailLimit = 3; c.Observer = obs })
	app := &controlledApp{dialogs: make(chan *Dialog, 1)}
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp")) // 127.0.0.1: the trunk's address
	for i := 0; i < 20; i++ {
		if code, reason := tryRegister(t, u, "alice", "guess", i); code != 403 || reason == "Blocked" {
			t.Fatalf("attempt %d: %d %s", i, code, reason)
		}
	}
	if b := s.AuthBlocks(); len(b) != 0 {
		t.Fatalf("trunk address blocked: %+v", b)
	}
	if obs.get(AuthFailPassword) != 20 {
		t.Fatalf("failures counted %v", obs.reasons)
	}
	d, _ := rawCall(t, u, app, "trunk-after-forgery")
	done := make(chan error, 1)
	go func() { done <- d.Hangup(t.Context(), "") }()
	u.reply(u.expectRequest("BYE"), 200, "")
	if err := <-done; err != nil {
		t.Fatalf("hangup: %v", err)
	}
	// and alice herself, from that address, still registers
	registerCreds(t, u, "alice", "alicepw")
}
