package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

func TestFromStatusTable(t *testing.T) {
	cases := []struct {
		status string
		code   int
		want   int
		result string
		q850   int
	}{
		{yna.StatusBusy, 0, 486, ResultBusy, 17},
		{yna.StatusDeclined, 0, 603, ResultDeclined, 21},
		{yna.StatusDeclined, 486, 486, ResultBusy, 17},
		{yna.StatusNoAnswer, 0, 480, ResultNoAnswer, 19},
		{yna.StatusNotReachable, 0, 480, ResultUnavailable, 20},
		{yna.StatusFailed, 0, 503, ResultNetworkError, 41},
		{yna.StatusFailed, 488, 488, ResultCodec, 127},
		{yna.StatusSessionCancelled, 0, 487, ResultCancelled, 0},
		{yna.StatusTerminated, 486, 486, ResultBusy, 17},
		{yna.StatusTerminated, 603, 603, ResultDeclined, 21},
		{yna.StatusTerminated, 480, 480, ResultNoAnswer, 18},
		{yna.StatusTerminated, 404, 404, ResultNotFound, 1},
		{yna.StatusTerminated, 488, 488, ResultCodec, 127}, // never a generic 500
		{yna.StatusTerminated, 0, 480, ResultUnavailable, 18},
		{yna.StatusTerminated, 200, 480, ResultUnavailable, 18},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%d", tc.status, tc.code), func(t *testing.T) {
			ce := FromStatus(tc.status, tc.code)
			if ce.SIPStatus != tc.want || ce.Result != tc.result || ce.Reason == "" || ce.Q850 != tc.q850 {
				t.Errorf("got %d %s %q Q.850 %d, want %d %s Q.850 %d", ce.SIPStatus, ce.Result, ce.Reason, ce.Q850, tc.want, tc.result, tc.q850)
			}
			h := ce.ReasonHeader()
			want := fmt.Sprintf("SIP;cause=%d;", tc.want)
			if tc.q850 != 0 {
				want = fmt.Sprintf("Q.850;cause=%d;", tc.q850)
			}
			if !strings.HasPrefix(h, want) || !strings.HasSuffix(h, `"`) {
				t.Errorf("ReasonHeader %q, want prefix %q", h, want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name  string
		err   error
		want  int
		retry bool
	}{
		{"emergency", &yna.NumberError{Input: "911", Err: yna.ErrEmergencyNumber}, 403, false},
		{"bad number", &yna.NumberError{Input: "x", Reason: "no digits"}, 484, false},
		{"start 400", &yna.APIError{Op: yna.OpStart, HTTPStatus: 400}, 484, false},
		{"start 401", &yna.APIError{Op: yna.OpStart, HTTPStatus: 401}, 500, false},
		{"start 403", &yna.APIError{Op: yna.OpStart, HTTPStatus: 403}, 403, false},
		{"start 503", fmt.Errorf("wrapped: %w", &yna.APIError{Op: yna.OpStart, HTTPStatus: 503}), 502, true},
		{"start 408", &yna.APIError{Op: yna.OpStart, HTTPStatus: 408}, 504, true},
		{"line not linked", fmt.Errorf("%w: %w", ErrLineNotLinked, ErrNoToken), 500, false},
		{"no codec", fmt.Errorf("x: %w", rtpmedia.ErrNoCommonCodec), 488, false},
		{"bad sdp", rtpmedia.ErrMalformedSDP, 400, false},
		{"no ports", rtpmedia.ErrNoPorts, 503, true},
		{"sip status", &sip.StatusError{Code: 486, Retryable: true}, 486, true},
		{"cancelled", context.Canceled, 487, false},
		{"other", errors.New("boom"), 500, false},
		{"call error", ErrNoRoute, 403, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ce := Classify(tc.err)
			if ce.SIPStatus != tc.want || ce.Retryable != tc.retry {
				t.Errorf("got %d retry=%v, want %d retry=%v (%v)", ce.SIPStatus, ce.Retryable, tc.want, tc.retry, ce)
			}
		})
	}
	if Classify(nil) != nil {
		t.Error("Classify(nil) != nil")
	}
	if !errors.Is(Classify(&yna.NumberError{Err: yna.ErrEmergencyNumber}), ErrEmergency) {
		t.Error("emergency error does not match ErrEmergency")
	}
}

func TestRoute(t *testing.T) {
	lines := []LineConfig{
		{MSISDN: "14255550100", Outbound: []string{"alice", "pbx"}},
		{MSISDN: "14255550111", Outbound: []string{"alice", "pbx"}, Prefix: "8"},
		{MSISDN: "14255550122", Outbound: []string{"*"}},
	}
	plan := DialPlan{StripPrefix: "9", CountryCode: "1", NationalLength: 10}
	cases := []struct {
		name     string
		who      caller
		line     string
		dest     string
		wantErr  error
		wantCode int
	}{
		{"first allowed line", caller{user: "alice", ruri: "sip:2065550123@gw"}, "14255550100", "12065550123", nil, 0},
		{"prefix picks line", caller{user: "alice", ruri: "sip:82065550123@gw"}, "14255550111", "12065550123", nil, 0},
		{"access code stripped", caller{user: "alice", ruri: "sip:92065550123@gw"}, "14255550100", "12065550123", nil, 0},
		{"from user picks line", caller{trunk: "pbx", from: "sip:+14255550111@pbx", ruri: "sip:+442071234567@gw"}, "14255550111", "+442071234567", nil, 0},
		{"wildcard", caller{user: "bob", ruri: "sip:2065550123@gw"}, "14255550122", "12065550123", nil, 0},
		{"unknown caller", caller{ruri: "sip:2065550123@gw"}, "", "", ErrNoRoute, 403},
		{"emergency", caller{user: "alice", ruri: "sip:911@gw"}, "", "", ErrEmergency, 403},
		{"emergency behind access code", caller{user: "alice", ruri: "sip:9911@gw"}, "", "", ErrEmergency, 403},
		{"tel uri in To", caller{user: "alice", to: "<tel:+1-206-555-0123>"}, "14255550100", "12065550123", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := route(lines, plan, tc.who)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || Classify(err).SIPStatus != tc.wantCode {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || rt.line.MSISDN != tc.line || rt.dest != tc.dest {
				t.Fatalf("got %s → %s (%v), want %s → %s", rt.line.MSISDN, rt.dest, err, tc.line, tc.dest)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{Lines: []LineConfig{{MSISDN: "+1 (425) 555-0100", Ring: []string{"alice"}}},
			Media: MediaConfig{BindIP: netip.MustParseAddr("127.0.0.1")}}
	}
	c := good()
	c.Init()
	if err := c.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	if c.Lines[0].MSISDN != "14255550100" || c.Timers.RingTimeout != DefaultRingTimeout || len(c.Media.Codecs) == 0 {
		t.Errorf("Init: %+v", c)
	}
	bad := []func(*Config){
		func(c *Config) { c.Lines[0].MSISDN = "123" },
		func(c *Config) { c.Lines = append(c.Lines, c.Lines[0]) },
		func(c *Config) { c.Media = MediaConfig{} },
		func(c *Config) { c.Media.PortMin, c.Media.PortMax = 20000, 10000 },
		func(c *Config) {
			c.Media.Codecs = []rtpmedia.Codec{{Name: "telephone-event", PayloadType: 101, ClockRate: 8000}}
		},
		func(c *Config) { c.Lines[0].RingTrunk = "pbx.example.com" },
	}
	for i, mod := range bad {
		c := good()
		mod(&c)
		c.Init()
		if err := c.Validate(); err == nil {
			t.Errorf("bad config %d accepted", i)
		}
	}
}

func TestDialPlanApply(t *testing.T) {
	p := DialPlan{StripPrefix: "9", CountryCode: "1", NationalLength: 10}
	for in, want := range map[string]string{
		"92065550123": "12065550123",
		"2065550123":  "12065550123",
		"9":           "9",
		"+4420712345": "+4420712345",
		"5550123":     "5550123",
	} {
		if got := p.Apply(in); got != want {
			t.Errorf("Apply(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStaticTokens(t *testing.T) {
	ts := NewStaticTokens(map[string]string{"1": "a"})
	if tok, err := ts.AccessToken(context.Background(), "1"); err != nil || tok != "a" {
		t.Fatalf("%q %v", tok, err)
	}
	ts.SetToken("1", "")
	if _, err := ts.AccessToken(context.Background(), "1"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("err %v", err)
	}
}

func TestMailboxOrder(t *testing.T) {
	m := newMailbox[int]()
	for i := range 5 {
		m.put(i)
	}
	<-m.C()
	got := m.take()
	if len(got) != 5 || got[0] != 0 || got[4] != 4 {
		t.Fatalf("take %v", got)
	}
	if len(m.take()) != 0 {
		t.Fatal("not drained")
	}
}

// Notifications that arrive before /start returned are kept for the call (§18.1).
func TestDispatchBuffersUnknownCalls(t *testing.T) {
	g := &Gateway{log: zap.NewNop(), clock: realClock{}, calls: map[string]*call{}, pending: map[string][]pendingNote{}, live: map[*call]struct{}{}}
	g.dispatch(&yna.SessionStatus{Status: yna.StatusInProgress, CallObjectRef: "https://x/cpaas/v1/call/1/sessions/ABC"})
	g.dispatch(&yna.SessionStatus{Status: yna.StatusRinging, CallObjectRef: "https://x/cpaas/v1/call/1/sessions/ABC"})
	g.dispatch(&yna.SessionStatus{Status: yna.StatusRinging}) // no ref: dropped
	c := &call{notes: newMailbox[*yna.SessionStatus]()}
	got := g.bind("ABC", c)
	if len(got) != 2 || got[0].Status != yna.StatusInProgress || got[1].Status != yna.StatusRinging {
		t.Fatalf("buffered %+v", got)
	}
	if in := c.notes.take(); len(in) != 2 || in[0] != got[0] || in[1] != got[1] {
		t.Fatalf("bind put %+v into the mailbox, want the two buffered", in)
	}
	g.dispatch(&yna.SessionStatus{Status: yna.StatusConnected, CallObjectRef: "ABC"})
	if n := c.notes.take(); len(n) != 1 || n[0].Status != yna.StatusConnected {
		t.Fatalf("routed %+v", n)
	}
	c.ynaID = "ABC"
	g.unbind(c)
	if len(g.calls) != 0 {
		t.Fatal("not unbound")
	}
}

// Routing never panics on odd Request-URIs, From headers or dial plans.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"sip:2065550123@gw", "<tel:+1-206-555-0123>", "sip:911@x", "sip:@", "<", "sips:;;@@", "sip:9\x00@x"} {
		f.Add(s, "sip:alice@ynagw", "9")
	}
	lines := []LineConfig{{MSISDN: "14255550100", Outbound: []string{"*"}, Prefix: "8"}}
	f.Fuzz(func(t *testing.T, ruri, from, strip string) {
		rt, err := route(lines, DialPlan{StripPrefix: strip, CountryCode: "1", NationalLength: 10}, caller{user: "alice", ruri: ruri, from: from, to: ruri})
		if err == nil && (rt.dest == "" || yna.IsEmergency(rt.dest)) {
			t.Fatalf("route(%q) = %q", ruri, rt.dest)
		}
		if err != nil && Classify(err).SIPStatus < 400 {
			t.Fatalf("error %v maps to %d", err, Classify(err).SIPStatus)
		}
	})
}

func TestDuplicateInvitationIgnored(t *testing.T) {
	g := &Gateway{log: zap.NewNop(), calls: map[string]*call{}, pending: map[string][]pendingNote{}, live: map[*call]struct{}{}, confs: map[string]LineConfig{}}
	existing := &call{notes: newMailbox[*yna.SessionStatus]()}
	g.bind("ABC", existing)
	g.startInbound("14255550100", &yna.SessionInvitation{OriginatorAddress: "tel:+12065550123", CallObjectRef: "https://x/sessions/ABC", SDP: "v=0"})
	if len(g.live) != 0 || g.calls["ABC"] != existing {
		t.Fatalf("duplicate invitation started a call: live=%d", len(g.live))
	}
}

func TestReasonHeaderText(t *testing.T) {
	for _, tc := range []struct {
		ce   *CallError
		want string
	}{
		{callErr(403, ResultForbidden, `say "hi" \ now`+"\x01", false, nil), `SIP;cause=403;text="say hi  now"`},
		{&CallError{SIPStatus: 486, Reason: "Busy", Q850: 17}, `Q.850;cause=17;text="Busy"`},
		{&CallError{SIPStatus: 500}, ""},
	} {
		if got := tc.ce.ReasonHeader(); got != tc.want {
			t.Errorf("ReasonHeader() = %q, want %q", got, tc.want)
		}
	}
}
