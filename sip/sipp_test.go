package sip

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestSippRegisterDigest(t *testing.T) {
	for _, algs := range [][]string{nil, {"MD5", "SHA-256"}} {
		t.Run("algs="+strings.Join(algs, ","), func(t *testing.T) {
			s := newTestServer(t, func(c *Config) { c.DigestAlgorithms = algs })
			errc := make(chan error, 1)
			go func() {
				errc <- runSipp(t, "reg_auth.xml", s.Addr("udp"), sippOpts{service: "alice", extra: []string{"-au", "alice", "-ap", "alicepw"}})
			}()
			// the binding must appear (during sipp's pause) and disappear after Expires: 0
			deadline := time.After(10 * time.Second)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			seen := false
			for !seen {
				select {
				case <-tick.C:
					if cs := s.Contacts("alice"); len(cs) == 1 {
						seen = true
						if !strings.HasPrefix(cs[0].URI, "sip:alice@127.0.0.1:") || cs[0].Transport != "udp" {
							t.Errorf("contact %+v", cs[0])
						}
					}
				case err := <-errc:
					t.Fatalf("sipp ended before the binding was seen: %v", err)
				case <-deadline:
					t.Fatal("binding never appeared")
				}
			}
			if err := <-errc; err != nil {
				t.Fatalf("sipp: %v", err)
			}
			if n := s.Registrations(); n != 0 {
				t.Fatalf("after Expires: 0, %d registrations left", n)
			}
		})
	}
}

func TestSippRegisterWrongPassword(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.DigestAlgorithms = []string{"MD5"} })
	err := runSipp(t, "reg_auth.xml", s.Addr("udp"), sippOpts{service: "alice", extra: []string{"-au", "alice", "-ap", "wrong"}})
	if err == nil {
		t.Fatal("registration with a wrong password succeeded")
	}
	if s.Registrations() != 0 {
		t.Fatal("binding created with a wrong password")
	}
}

func TestSippCallAuthRTPAndDTMF(t *testing.T) {
	r := sippCall(t, func(c *Config) { c.DigestAlgorithms = []string{"MD5"} }, "uac_auth_call.xml", "udp", "", true,
		sippOpts{extra: []string{"-au", "alice", "-ap", "alicepw"}})
	t.Logf("call: %v", r)
	if r.answerErr != nil || r.authUser != "alice" || r.trunk != "" {
		t.Fatalf("bad call result %v", r)
	}
	if string(r.dtmf) != "5" {
		t.Errorf("DTMF = %q, want 5", string(r.dtmf))
	}
	if !r.byeSeen || !strings.Contains(r.bye, "cause=16") || r.term != nil {
		t.Errorf("bye=%v %q term=%v", r.byeSeen, r.bye, r.term)
	}
	// the last packet may race with closing the echo socket at hang-up
	if r.rtpIn < 20 || r.rtpOut < r.rtpIn-1 {
		t.Errorf("RTP echo: in=%d out=%d, want >=20 echoed", r.rtpIn, r.rtpOut)
	}
}

func TestSippTrunkCallUDPAndTCP(t *testing.T) {
	forTransports(t, func(t *testing.T, network string) {
		r := sippCall(t, trunkLoopback, "uac_basic.xml", network, "", false, sippOpts{})
		if r.answerErr != nil || r.trunk != "pbx" || r.authUser != "" || !r.byeSeen {
			t.Fatalf("bad call result %v", r)
		}
	})
}

func TestSippCancel(t *testing.T) {
	r := sippCall(t, trunkLoopback, "uac_cancel.xml", "udp", "cancel", false, sippOpts{})
	if !errors.Is(r.callErr, ErrCanceled) {
		t.Fatalf("call err = %v, want ErrCanceled", r.callErr)
	}
}

func TestSippHoldMatrix(t *testing.T) {
	forTransports(t, func(t *testing.T, network string) {
		r := sippCall(t, trunkLoopback, "uac_hold_matrix.xml", network, "", false, sippOpts{})
		want := []string{"INVITE:sendonly->recvonly", "INVITE:inactive->inactive", "INVITE:sendonly->recvonly",
			"INVITE:recvonly->sendonly", "INVITE:sendrecv->sendrecv"}
		if strings.Join(r.offers, ",") != strings.Join(want, ",") {
			t.Fatalf("offers seen %v\nwant %v", r.offers, want)
		}
		if r.acks != len(want) {
			t.Errorf("acks = %d, want %d", r.acks, len(want))
		}
	})
}

func sessionTimerCfg(c *Config) {
	trunkLoopback(c)
	c.SessionTimer = SessionTimerConfig{Enabled: true, Expires: 60 * time.Second, MinSE: 2 * time.Second}
}

func TestSippSessionTimerWeRefresh(t *testing.T) {
	forTransports(t, func(t *testing.T, network string) {
		r := sippCall(t, sessionTimerCfg, "st_uas_refresh.xml", network, "", false, sippOpts{})
		if r.term != nil || !r.byeSeen {
			t.Fatalf("call %v", r)
		}
	})
}

func TestSippSessionTimerPeerSilent(t *testing.T) {
	r := sippCall(t, sessionTimerCfg, "st_peer_silent.xml", "udp", "", false, sippOpts{})
	if !errors.Is(r.term, ErrSessionExpired) || r.byeSeen {
		t.Fatalf("want TerminatedEvent{ErrSessionExpired}, got %v", r)
	}
}

func TestSippSessionTimerPeerRefreshes(t *testing.T) {
	r := sippCall(t, sessionTimerCfg, "st_peer_refresh.xml", "udp", "", false, sippOpts{})
	if r.term != nil || !r.byeSeen || strings.Join(r.offers, ",") != "UPDATE:sendonly->recvonly" {
		t.Fatalf("call %v", r)
	}
}

// TestSippLoad runs 100 calls (50 cps, at most 100 at once) and checks that the
// goroutine count returns to its baseline.
func TestSippLoad(t *testing.T) {
	s := newTestServer(t, trunkLoopback)
	app := newTestApp(t, "", false)
	s.SetHandler(app)
	baseline := runtime.NumGoroutine()
	if err := runSipp(t, "uac_basic.xml", s.Addr("udp"), sippOpts{noMsgLog: true, extra: []string{"-r", "50", "-m", "100", "-l", "100"}}); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	for i := 0; i < 100; i++ {
		if r := app.next(t, 10*time.Second); r.answerErr != nil || !r.byeSeen {
			t.Fatalf("call %d: %v", i, r)
		}
	}
	app.wg.Wait()
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n := runtime.NumGoroutine()
		if n <= baseline {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines %d > baseline %d\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
		}
	}
	if s.active.Load() != 0 {
		t.Errorf("active calls = %d after all calls ended", s.active.Load())
	}
}
