package sip

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCheckReasonHeader(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{`Q.850;cause=17;text="User busy"`, true},
		{`SIP;cause=486;text="Busy Here"`, true},
		{`SIP ; cause = 200 ; text="Call completed elsewhere"`, true},
		{`Q.850;cause=16`, true},
		{`SIP;cause=487;text="semi;colon, and comma inside"`, true},
		{`SIP;cause=487;text="escaped \" quote"`, true},
		{``, false},
		{`SIP`, false},                           // no cause
		{`SIP;text="no cause"`, false},           // no cause
		{`;cause=17`, false},                     // no protocol
		{`Q 850;cause=17`, false},                // space in token
		{`SIP;cause=abc`, false},                 // non-numeric cause
		{`SIP;cause=`, false},                    // empty cause
		{`SIP;cause=200;text="open`, false},      // unterminated quote
		{"SIP;cause=200\r\nX-Evil: 1", false},    // header injection
		{"SIP;cause=200;text=\"a\x00b\"", false}, // control character
		{`SIP;cause=200, Q.850;cause=16`, false}, // two reason-values
		{`SIP;cause=200;=x`, false},              // empty parameter name
		{`SIP;cause=1234567890`, false},          // absurd cause
		{"SIP;cause=200;text=\"" + string(make([]byte, 600)) + "\"", false},
	} {
		err := checkReasonHeader(tc.v)
		if (err == nil) != tc.ok {
			t.Errorf("checkReasonHeader(%q) = %v, want ok=%v", tc.v, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadReason) {
			t.Errorf("checkReasonHeader(%q) = %v, not ErrBadReason", tc.v, err)
		}
	}
}

func TestHangupReason(t *testing.T) {
	for in, want := range map[string]string{
		`Q.850;cause=16;text="Normal"`: `Q.850;cause=16;text="Normal"`,
		"caller hung up":               `SIP;cause=200;text="caller hung up"`,
		"bad\r\nX: y":                  `SIP;cause=200;text="bad  X: y"`,
		`SIP;cause=x`:                  `SIP;cause=200;text="SIP;cause=x"`,
	} {
		if got := hangupReason(in); got != want {
			t.Errorf("hangupReason(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRejectWithReasonWire: a malformed Reason value is refused without sending
// anything, a valid one arrives verbatim; BYE carries a full Reason value as is.
func TestRejectWithReasonWire(t *testing.T) {
	s := newTestServer(t, trunkLoopback)
	badErr := make(chan error, 2)
	s.SetHandler(HandlerFunc(func(ctx context.Context, c *InboundCall) {
		if c.CallID() == "rwr-bye" {
			d, err := c.Answer(ctx, appSDP(40002, SendRecv, 1))
			if err == nil {
				badErr <- d.Hangup(ctx, `Q.850;cause=16;text="Normal call clearing"`)
			}
			return
		}
		badErr <- c.RejectWithReason(486, "SIP;cause=486\r\nX-Injected: yes")
		_ = c.RejectWithReason(486, `Q.850;cause=17;text="User busy"`)
	}))
	u := newRawUA(t, s.Addr("udp"))
	u.send(u.req("INVITE", "rwr", "ft", "", 1, rawSDP("sendrecv")))
	res := u.expect(486)
	if h := res.GetHeader("Reason"); h == nil || h.Value() != `Q.850;cause=17;text="User busy"` {
		t.Fatalf("Reason = %v", h)
	}
	if res.GetHeader("X-Injected") != nil {
		t.Fatal("header injected")
	}
	u.ackNon2xx(res)
	select {
	case err := <-badErr:
		if !errors.Is(err, ErrBadReason) {
			t.Fatalf("malformed reason: err = %v, want ErrBadReason", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not report")
	}

	u.send(u.req("INVITE", "rwr-bye", "ft2", "", 1, rawSDP("sendrecv")))
	ok := u.expect(200)
	tag, _ := ok.To().Params.Get("tag")
	u.send(u.req("ACK", "rwr-bye", "ft2", tag, 1, ""))
	bye := u.expectRequest("BYE")
	if h := bye.GetHeader("Reason"); h == nil || h.Value() != `Q.850;cause=16;text="Normal call clearing"` {
		t.Fatalf("BYE Reason = %v", h)
	}
	u.reply(bye, 200, "")
	select {
	case err := <-badErr:
		if err != nil {
			t.Fatalf("Hangup: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Hangup did not return")
	}
}
