package sip

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// byeCounter answers every BYE the raw peer receives with 200 (unless told to
// hold one back) and counts BYE transactions by Via branch, so UDP
// retransmissions of one BYE count once.
type byeCounter struct {
	t        *testing.T
	u        *rawUA
	branches map[string]string // branch → Reason
}

func newByeCounter(t *testing.T, u *rawUA) *byeCounter {
	return &byeCounter{t: t, u: u, branches: map[string]string{}}
}

// note records req if it is a BYE and reports whether it was one.
func (b *byeCounter) note(m sip.Message) (*sip.Request, bool) {
	req, ok := m.(*sip.Request)
	if !ok || req.Method != sip.BYE {
		return nil, false
	}
	br, _ := req.Via().Params.Get("branch")
	reason := ""
	if h := req.GetHeader("Reason"); h != nil {
		reason = h.Value()
	}
	b.branches[br] = reason
	return req, true
}

// answer reads until the socket stays quiet for quiet, answering every BYE.
// Whatever the server sent before this is called is already queued on the
// loopback socket, so quiet only bounds the drain.
func (b *byeCounter) answer(quiet time.Duration) {
	for {
		m := b.u.recv(quiet)
		if m == nil {
			return
		}
		if req, ok := b.note(m); ok {
			b.u.reply(req, 200, "")
		}
	}
}

// TestHangupRacesSessionExpiryOneBye: the session timer expires (we are not the
// refresher and the peer never refreshes) and sends its BYE; while that BYE is
// still unanswered the bridge calls Hangup. Exactly one BYE may leave: the
// second hang-up waits for the first instead of sending its own.
func TestHangupRacesSessionExpiryOneBye(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		trunkLoopback(c)
		c.SessionTimer = SessionTimerConfig{Enabled: true, Expires: 60 * time.Second, MinSE: time.Second}
	})
	app := &controlledApp{dialogs: make(chan *Dialog, 1)}
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp"))
	// Session-Expires 1 s, the peer refreshes: we give up after 1 s - 1/3 s.
	u.send(u.req("INVITE", "stbye", "ft", "", 1, rawSDP("sendrecv"), "Supported: timer", "Session-Expires: 1;refresher=uac", "Allow: INVITE, ACK, BYE, UPDATE"))
	res := u.expect(200)
	if h := res.GetHeader("Session-Expires"); h == nil || h.Value() != "1;refresher=uac" {
		t.Fatalf("Session-Expires = %v", h)
	}
	tag, _ := res.To().Params.Get("tag")
	u.send(u.req("ACK", "stbye", "ft", tag, 1, ""))
	var d *Dialog
	select {
	case d = <-app.dialogs:
	case <-time.After(5 * time.Second):
		t.Fatal("no dialog")
	}

	bc := newByeCounter(t, u)
	first, _ := bc.note(u.expectRequest("BYE")) // the session timer's; not answered yet

	// The bridge hangs up while the timer's BYE is in flight. The dialog cannot
	// end before the peer answers that BYE, so this Hangup either sends a BYE
	// of its own (the bug) or waits for the first one until its context ends.
	hctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	herr := d.Hangup(hctx, "bridge hangs up")
	cancel()

	u.reply(first, 200, "")
	select {
	case <-d.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("dialog did not end after the BYE was answered")
	}
	bc.answer(200 * time.Millisecond)

	if len(bc.branches) != 1 {
		t.Fatalf("%d BYE transactions (reasons by branch %v), want 1", len(bc.branches), bc.branches)
	}
	if !errors.Is(d.Err(), ErrSessionExpired) {
		t.Errorf("dialog Err = %v, want ErrSessionExpired (the timer hung up first)", d.Err())
	}
	if herr != nil && !errors.Is(herr, context.DeadlineExceeded) {
		t.Errorf("second Hangup: %v", herr)
	}
}

// TestConcurrentHangupsOneBye: many goroutines hang up the same dialog at once;
// one BYE leaves and every Hangup returns nil once the dialog has ended.
func TestConcurrentHangupsOneBye(t *testing.T) {
	s := newTestServer(t, trunkLoopback)
	app := &controlledApp{dialogs: make(chan *Dialog, 1)}
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp"))
	d, _ := rawCall(t, u, app, "concbye")

	const n = 8
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := d.Hangup(ctx, "")
			if err == nil {
				select {
				case <-d.Done():
				default:
					err = errors.New("Hangup returned before the dialog ended")
				}
			}
			errs <- err
		}()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	close(start)

	bc := newByeCounter(t, u)
	deadline := time.After(15 * time.Second)
loop:
	for {
		select {
		case <-all:
			break loop
		case <-deadline:
			t.Fatal("Hangups did not return")
		default:
		}
		if m := u.recv(20 * time.Millisecond); m != nil {
			if req, ok := bc.note(m); ok {
				u.reply(req, 200, "")
			}
		}
	}
	bc.answer(200 * time.Millisecond)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Hangup: %v", err)
		}
	}
	if len(bc.branches) != 1 {
		t.Fatalf("%d BYE transactions, want 1", len(bc.branches))
	}
}
