package bridge

import (
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
)

// Two lines, each a linked account with its own token and channel; the second is linked
// at runtime with AddLine. Calls on both lines run at the same time and an inbound call to
// the second line rings only its own phone.
func TestTwoLinesConcurrentCalls(t *testing.T) {
	const line2 = "14255550111"
	e := newEnv(t, func(c *Config) {
		c.Lines = append(c.Lines, LineConfig{MSISDN: line2, Ring: []string{"bob"}, Outbound: []string{"bob"}})
	})
	if _, err := e.sim.AddAccount(ynasim.Account{ID: "acct2", Lines: []string{line2}}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.AddLine(e.ctx(10*time.Second), line2, e.linkToken("acct2")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.WaitChannel(e.ctx(15*time.Second), "acct2", func(ci ynasim.ChannelInfo) bool { return ci.SocketsOpen > 0 }); err != nil {
		t.Fatalf("second line's channel did not open: %v", err)
	}
	alice, bob := e.phone("alice", "alicepw"), e.phone("bob", "bobpw")
	bob.register(e.ctx(10 * time.Second))
	alice.register(e.ctx(10 * time.Second)) // registered, but not a Ring user of line 2

	var wg sync.WaitGroup
	callers := []*phone{alice, alice, bob} // two concurrent calls on line 1, one on line 2
	calls := make([]*outCall, len(callers))
	for i, p := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			calls[i] = p.call(e.ctx(30*time.Second), farNumber)
		}()
	}
	wg.Wait()
	for i, oc := range calls {
		if oc.code != 200 {
			t.Fatalf("call %d: %d %s", i, oc.code, oc.reason)
		}
		waitFor(t, oc.media.gotRx, 15*time.Second, "RTP at the phone")
	}
	lines := map[string]int{}
	for _, ci := range e.sim.Calls() {
		lines[ci.Line+"/"+ci.AccountID]++
	}
	if lines[testLine+"/"+testAccount] != 2 || lines[line2+"/acct2"] != 1 {
		t.Errorf("sim calls on %v", lines)
	}
	if e.gw.ActiveCalls() != 3 {
		t.Errorf("%d active calls", e.gw.ActiveCalls())
	}

	// Inbound to line 2 rings bob while both calls are up.
	id := e.inject(line2)
	in := waitFor(t, bob.incoming, 15*time.Second, "incoming call at bob")
	e.waitState(id, ynasim.CallConnected)
	if err := in.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	e.waitState(id, ynasim.CallTerminated)
	for _, oc := range calls {
		if err := oc.sess.Bye(e.ctx(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		if cdr := e.cdr(); cdr.Result != ResultAnswered {
			t.Errorf("CDR %+v", cdr)
		}
	}
	select {
	case cid := <-alice.invites:
		t.Errorf("alice rang for line 2 (%s)", cid)
	default:
	}
}
