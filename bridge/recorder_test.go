package bridge

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
)

// recEvent is one CallRecorder call seen by recSink.
type recEvent struct {
	kind string // "open", "update"
	cdr  CDR
	// connectedSeen: the sim had logged POST /connected when the event happened.
	connectedSeen bool
}

// recSink is a CDRSink + CallRecorder that logs what the call goroutine records.
type recSink struct {
	cdrChan
	e       *env
	openErr error

	mu     sync.Mutex
	events []recEvent
}

func (s *recSink) add(kind string, c CDR) {
	ev := recEvent{kind: kind, cdr: c}
	if c.YNACallID != "" {
		ci, _ := s.e.sim.Call(c.YNACallID)
		ev.connectedSeen = hasRESTEvent(ci, "connected")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

func (s *recSink) Open(_ context.Context, c CDR) error {
	s.add("open", c)
	return s.openErr
}

func (s *recSink) Update(_ context.Context, c CDR) error {
	s.add("update", c)
	return nil
}

func (s *recSink) log() []recEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recEvent(nil), s.events...)
}

func newRecEnv(t *testing.T, openErr error) (*env, *recSink) {
	var rs *recSink
	e := newEnvWith(t, nil, nil, func(e *env, d *Deps) {
		rs = &recSink{cdrChan: cdrChan(e.cdrs), e: e, openErr: openErr}
		d.CDR = rs
	})
	return e, rs
}

func TestCallRecorderOutbound(t *testing.T) {
	e, rs := newRecEnv(t, nil)
	alice := e.phone("alice", "alicepw")
	oc := alice.call(e.ctx(30*time.Second), farNumber)
	if oc.code != 200 {
		t.Fatalf("final %d %s", oc.code, oc.reason)
	}
	id := e.simCall(ynasim.DirectionOutbound)
	if err := oc.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	final := e.cdr()
	evs := rs.log()
	if len(evs) != 3 {
		t.Fatalf("recorder events %+v, want open, update (callId), update (answer)", evs)
	}
	open, withID, answer := evs[0], evs[1], evs[2]
	// Open comes before POST /start: no YNA callId yet.
	if open.kind != "open" || open.cdr.ID == "" || open.cdr.YNACallID != "" || open.cdr.SIPCallID == "" || open.cdr.Line != testLine {
		t.Errorf("open %+v", open)
	}
	if withID.kind != "update" || withID.cdr.YNACallID != id || !withID.cdr.AnsweredAt.IsZero() {
		t.Errorf("update after /start %+v", withID)
	}
	if answer.kind != "update" || answer.cdr.AnsweredAt.IsZero() {
		t.Errorf("update at answer %+v", answer)
	}
	for _, ev := range evs {
		if ev.cdr.ID != open.cdr.ID {
			t.Errorf("record id changed: %q then %q", open.cdr.ID, ev.cdr.ID)
		}
	}
	if final.ID != open.cdr.ID || final.Result != ResultAnswered {
		t.Errorf("final CDR %+v, want id %q answered", final, open.cdr.ID)
	}
}

func TestCallRecorderInboundAnswerBeforeConnected(t *testing.T) {
	e, rs := newRecEnv(t, nil)
	alice := e.registered("alice", "answer")
	id := e.inject(testLine)
	waitFor(t, alice.incoming, 15*time.Second, "incoming INVITE at the phone")
	e.waitState(id, ynasim.CallConnected)
	e.action(id, ynasim.ActionHangup)
	final := e.cdr()
	evs := rs.log()
	if len(evs) != 2 || evs[0].kind != "open" || evs[1].kind != "update" {
		t.Fatalf("recorder events %+v, want open then update (answer)", evs)
	}
	if evs[0].cdr.YNACallID != id || evs[0].cdr.ID == "" || evs[0].cdr.Direction != DirectionInbound {
		t.Errorf("open %+v", evs[0])
	}
	if evs[1].cdr.AnsweredAt.IsZero() || evs[1].connectedSeen {
		t.Errorf("answer update %+v: want the answer recorded before POST /connected", evs[1])
	}
	if final.ID != evs[0].cdr.ID {
		t.Errorf("final CDR id %q, open id %q", final.ID, evs[0].cdr.ID)
	}
}

func TestCallRecorderOpenFailureRefusesCall(t *testing.T) {
	e, _ := newRecEnv(t, errors.New("store down"))
	alice := e.phone("alice", "alicepw")
	oc := alice.call(e.ctx(30*time.Second), farNumber)
	if oc.code != 500 {
		t.Errorf("final %d %s, want 500", oc.code, oc.reason)
	}
	if cdr := e.cdr(); cdr.Result != ResultError || cdr.YNACallID != "" {
		t.Errorf("CDR %+v", cdr)
	}
}
