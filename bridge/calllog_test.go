package bridge

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestCallLogCarriesIDs: every log line of a call (the per-call logger: call_dir) carries
// the call id shown on the admin page and in the CDR (cdr_id) and the SIP Call-ID under
// sip_call_id, from the first line on.
func TestCallLogCarriesIDs(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	e := newEnvWith(t, nil, nil, func(e *env, d *Deps) {
		d.Logger = zap.New(zapcore.NewTee(core, e.log.Core()))
	})
	alice := e.phone("alice", "alicepw")
	oc := alice.call(e.ctx(30*time.Second), farNumber)
	if oc.code != 200 {
		t.Fatalf("final %d %s", oc.code, oc.reason)
	}
	if err := oc.sess.Bye(e.ctx(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	cdr := e.cdr()
	if cdr.ID == "" || cdr.SIPCallID == "" {
		t.Fatalf("CDR %+v", cdr)
	}
	var n int
	for _, en := range logs.All() {
		f := en.ContextMap()
		if _, ok := f["call_dir"]; !ok {
			continue
		}
		n++
		if f["cdr_id"] != cdr.ID {
			t.Errorf("%q: cdr_id %v, want %s", en.Message, f["cdr_id"], cdr.ID)
		}
		if f["sip_call_id"] != cdr.SIPCallID {
			t.Errorf("%q: sip_call_id %v, want %s", en.Message, f["sip_call_id"], cdr.SIPCallID)
		}
	}
	if n == 0 {
		t.Fatal("no call log lines")
	}
}
