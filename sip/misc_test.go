package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func sourceAddrFromString(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func parseReq(t *testing.T, raw string) *sip.Request {
	t.Helper()
	msg, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return msg.(*sip.Request)
}

func reqWith(t *testing.T, extra string) *sip.Request {
	return parseReq(t, "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"+
		"From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:alice@127.0.0.1:5070>\r\nMax-Forwards: 70\r\n"+extra+"Content-Length: 0\r\n\r\n")
}

func TestUnsupportedRequire(t *testing.T) {
	cases := []struct {
		hdr  string
		want []string
	}{
		{"", nil},
		{"Require: timer\r\n", nil},
		{"Require: 100rel\r\n", []string{"100rel"}},
		{"Require: timer, foo\r\n", []string{"foo"}},
		{"Require: Timer\r\nRequire: precondition\r\n", []string{"precondition"}},
	}
	for _, tc := range cases {
		got := unsupportedRequire(reqWith(t, tc.hdr))
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: got %v want %v", tc.hdr, got, tc.want)
		}
	}
}

func TestNegotiateTimer(t *testing.T) {
	s := &Server{cfg: Config{SessionTimer: SessionTimerConfig{Enabled: true, Expires: 1800 * time.Second, MinSE: 90 * time.Second}}}
	cases := []struct {
		name      string
		hdr       string
		code      int
		active    bool
		weRefresh bool
		interval  time.Duration
	}{
		{"too small", "Session-Expires: 30\r\nSupported: timer\r\n", 422, false, false, 0},
		{"peer asks uas", "Session-Expires: 120;refresher=uas\r\nSupported: timer\r\n", 0, true, true, 120 * time.Second},
		{"peer asks uac", "Session-Expires: 120;refresher=uac\r\nSupported: timer\r\n", 0, true, false, 120 * time.Second},
		{"no refresher, peer supports", "Session-Expires: 300\r\nSupported: timer\r\n", 0, true, false, 300 * time.Second},
		{"none, peer supports", "Supported: timer\r\n", 0, true, false, 1800 * time.Second},
		{"none, no support", "", 0, true, true, 1800 * time.Second},
	}
	for _, tc := range cases {
		st, code := s.negotiateTimer(reqWith(t, tc.hdr))
		if code != tc.code || st.active != tc.active || st.weRefresh != tc.weRefresh || st.interval != tc.interval {
			t.Errorf("%s: got %+v code %d", tc.name, st, code)
		}
	}
}

func TestParseDTMFInfo(t *testing.T) {
	cases := []struct {
		ct, body string
		digit    rune
		dur      time.Duration
		ok       bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', 160 * time.Millisecond, true},
		{"application/dtmf-relay", "Signal=*\nDuration=100", '*', 100 * time.Millisecond, true},
		{"application/dtmf-relay", "Signal=11\r\nDuration=250\r\n", '#', 250 * time.Millisecond, true},
		{"application/dtmf-relay", "Signal= 7 \r\n", '7', 0, true},
		{"application/dtmf", "9", '9', 0, true},
		{"application/dtmf-relay", "Signal=X\r\n", 0, 0, false},
		{"application/dtmf-relay", "garbage", 0, 0, false},
		{"text/plain", "5", 0, 0, false},
	}
	for _, tc := range cases {
		d, dur, ok := parseDTMFInfo(tc.ct, []byte(tc.body))
		if d != tc.digit || dur != tc.dur || ok != tc.ok {
			t.Errorf("%s %q: got %q %v %v", tc.ct, tc.body, d, dur, ok)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	err := fmt.Errorf("wrap: %w", &StatusError{Code: 486, Reason: "busy"})
	if StatusOf(err) != 486 || !errors.Is(err, ErrBusyHere) || errors.Is(err, ErrDecline) {
		t.Fatalf("StatusOf/Is broken: %v", err)
	}
	if StatusOf(errors.New("x")) != 500 || StatusOf(nil) != 200 {
		t.Fatal("StatusOf defaults")
	}
	if (&StatusError{Code: 488}).Error() != "sip 488 Not Acceptable Here" {
		t.Fatal((&StatusError{Code: 488}).Error())
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Listen: []ListenConfig{{Network: "udp", Addr: "127.0.0.1:0"}}, Users: []User{{Username: "a", Password: "b"}}}
	good.Init()
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	if good.Users[0].AOR != "sip:a@ynagw" {
		t.Fatalf("AOR default %q", good.Users[0].AOR)
	}
	bad := []Config{
		{},
		{Listen: []ListenConfig{{Network: "sctp", Addr: "127.0.0.1:0"}}},
		{Listen: []ListenConfig{{Network: "tls", Addr: "127.0.0.1:0"}}},
		{Listen: []ListenConfig{{Network: "udp", Addr: "nope"}}},
		{Listen: []ListenConfig{{Network: "udp", Addr: "127.0.0.1:0"}}, Users: []User{{Username: "a"}}},
		{Listen: []ListenConfig{{Network: "udp", Addr: "127.0.0.1:0"}}, Trunks: []Trunk{{Name: "t"}}},
	}
	for i, c := range bad {
		c.Init()
		if err := c.Validate(); err == nil {
			t.Errorf("bad[%d] accepted", i)
		}
	}
}

func TestSplitContactsAndAOR(t *testing.T) {
	got := splitContacts(`"A, B" <sip:a@h;x=1>;expires=60, <sip:b@h>`)
	if len(got) != 2 || got[1] != "<sip:b@h>" {
		t.Fatalf("splitContacts: %q", got)
	}
	for in, want := range map[string]string{"alice": "alice", "sip:Alice@dom": "alice", "<sips:bob@x;transport=tcp>": "bob"} {
		if aorUser(in) != want {
			t.Errorf("aorUser(%q) = %q", in, aorUser(in))
		}
	}
}

func TestEventQueueOrderAndClose(t *testing.T) {
	q := newEventQueue()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { q.run(ctx); close(done) }()
	q.push(&DTMFEvent{Digit: '1'})
	q.push(&ByeEvent{})
	q.push(&TerminatedEvent{})
	if q.push(&DTMFEvent{Digit: '2'}) {
		t.Error("push after TerminatedEvent accepted")
	}
	var got []string
	for ev := range q.out {
		got = append(got, fmt.Sprintf("%T", ev))
	}
	if fmt.Sprint(got) != "[*sip.DTMFEvent *sip.ByeEvent *sip.TerminatedEvent]" {
		t.Fatalf("events %v", got)
	}
	<-done
}
