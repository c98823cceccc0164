package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCDRLifecycle(t *testing.T) { forEachDriver(t, testCDRLifecycle) }

func testCDRLifecycle(t *testing.T, s *core) {
	ctx := context.Background()
	setup := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	answer := setup.Add(4 * time.Second)
	end := answer.Add(90 * time.Second)

	steps := []struct {
		name    string
		do      func() error
		wantErr error
		check   func(t *testing.T, c CDR)
	}{
		{
			name: "open",
			do: func() error {
				return s.OpenCall(ctx, CDR{ID: "c1", Direction: Outbound, Line: "14155550100", SIPCallID: "sip-abc", From: "sip:100@pbx", To: "+14155550199", SetupAt: setup})
			},
			check: func(t *testing.T, c CDR) {
				if !c.Open() || !c.SetupAt.Equal(setup) || c.SIPCallID != "sip-abc" || c.YNACallID != "" || !c.AnswerAt.IsZero() {
					t.Fatalf("%+v", c)
				}
			},
		},
		{
			name: "duplicate open",
			do: func() error {
				return s.OpenCall(ctx, CDR{ID: "c1", Direction: Outbound, Line: "14155550100"})
			},
			wantErr: ErrExists,
		},
		{
			name: "learn yna id",
			do:   func() error { return s.UpdateCall(ctx, CDR{ID: "c1", YNACallID: "yna-xyz"}) },
			check: func(t *testing.T, c CDR) {
				if c.YNACallID != "yna-xyz" || c.SIPCallID != "sip-abc" || c.From != "sip:100@pbx" {
					t.Fatalf("merge lost fields: %+v", c)
				}
			},
		},
		{
			name: "answer",
			do: func() error {
				return s.UpdateCall(ctx, CDR{ID: "c1", AnswerAt: answer, SIPCode: 200, Stats: Stats{PacketsSIPIn: 5}})
			},
			check: func(t *testing.T, c CDR) {
				if !c.AnswerAt.Equal(answer) || c.SIPCode != 200 || c.YNACallID != "yna-xyz" || c.PacketsSIPIn != 5 || !c.Open() {
					t.Fatalf("%+v", c)
				}
			},
		},
		{
			name: "close",
			do: func() error {
				return s.CloseCall(ctx, "c1", CallEnd{At: end, Result: "answered", Reason: "BYE from phone",
					Stats: Stats{PacketsSIPIn: 4500, PacketsSIPOut: 4499, PacketsNetIn: 4498, PacketsNetOut: 4500, LostSIP: 1, LostNet: 2}})
			},
			check: func(t *testing.T, c CDR) {
				want := Stats{PacketsSIPIn: 4500, PacketsSIPOut: 4499, PacketsNetIn: 4498, PacketsNetOut: 4500, LostSIP: 1, LostNet: 2}
				if c.Open() || !c.EndAt.Equal(end) || c.Result != "answered" || c.EndReason != "BYE from phone" ||
					c.SIPCode != 200 || c.Stats != want {
					t.Fatalf("%+v", c)
				}
			},
		},
		{
			name:    "close twice",
			do:      func() error { return s.CloseCall(ctx, "c1", CallEnd{Result: "failed"}) },
			wantErr: ErrAlreadyClosed,
			check: func(t *testing.T, c CDR) {
				if c.Result != "answered" || !c.EndAt.Equal(end) {
					t.Fatalf("second close changed the record: %+v", c)
				}
			},
		},
		{name: "close unknown", do: func() error { return s.CloseCall(ctx, "nope", CallEnd{}) }, wantErr: ErrNotFound},
		{name: "update unknown", do: func() error { return s.UpdateCall(ctx, CDR{ID: "nope", YNACallID: "x"}) }, wantErr: ErrNotFound},
		{name: "open without id", do: func() error { return s.OpenCall(ctx, CDR{Direction: Inbound, Line: "1"}) }, wantErr: ErrInvalid},
		{name: "open without line", do: func() error { return s.OpenCall(ctx, CDR{ID: "x", Direction: Inbound}) }, wantErr: ErrInvalid},
		{name: "open bad direction", do: func() error { return s.OpenCall(ctx, CDR{ID: "x", Direction: "sideways", Line: "1"}) }, wantErr: ErrInvalid},
		{name: "update bad direction", do: func() error { return s.UpdateCall(ctx, CDR{ID: "c1", Direction: "up"}) }, wantErr: ErrInvalid},
		{name: "close without id", do: func() error { return s.CloseCall(ctx, "", CallEnd{}) }, wantErr: ErrInvalid},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			err := st.do()
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("err = %v, want %v", err, st.wantErr)
			}
			if st.check == nil {
				return
			}
			c, err := s.GetCall(ctx, "c1")
			if err != nil {
				t.Fatal(err)
			}
			st.check(t, c)
		})
	}
	if _, err := s.GetCall(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetCall(unknown) err = %v", err)
	}
}

func TestCloseCallDefaultsEndToNow(t *testing.T) { forEachDriver(t, testCloseCallDefaultsEndToNow) }

func testCloseCallDefaultsEndToNow(t *testing.T, s *core) {
	ctx := context.Background()
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s.now = func() time.Time { return fixed }
	if err := s.OpenCall(ctx, CDR{ID: "c", Direction: Inbound, Line: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseCall(ctx, "c", CallEnd{Result: "no_answer", SIPCode: 480}); err != nil {
		t.Fatal(err)
	}
	c, _ := s.GetCall(ctx, "c")
	if !c.SetupAt.Equal(fixed) || !c.EndAt.Equal(fixed) || c.SIPCode != 480 || c.Result != "no_answer" {
		t.Fatalf("%+v", c)
	}
}

func TestCDRFilter(t *testing.T) { forEachDriver(t, testCDRFilter) }

func testCDRFilter(t *testing.T, s *core) {
	ctx := context.Background()
	base := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	calls := []CDR{
		{ID: "a", Direction: Outbound, Line: "L1", SetupAt: base},
		{ID: "b", Direction: Inbound, Line: "L1", SetupAt: base.Add(time.Minute)},
		{ID: "c", Direction: Outbound, Line: "L2", SetupAt: base.Add(2 * time.Minute)},
		{ID: "d", Direction: Inbound, Line: "L2", SetupAt: base.Add(3 * time.Minute)},
	}
	for _, c := range calls {
		if err := s.OpenCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "c"} {
		if err := s.CloseCall(ctx, id, CallEnd{Result: "answered"}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    CDRFilter
		want []string
	}{
		{"all newest first", CDRFilter{}, []string{"d", "c", "b", "a"}},
		{"line", CDRFilter{Line: "L1"}, []string{"b", "a"}},
		{"direction", CDRFilter{Direction: Outbound}, []string{"c", "a"}},
		{"since", CDRFilter{Since: base.Add(time.Minute)}, []string{"d", "c", "b"}},
		{"until", CDRFilter{Until: base.Add(time.Minute)}, []string{"a"}},
		{"window", CDRFilter{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)}, []string{"c", "b"}},
		{"open only", CDRFilter{OpenOnly: true}, []string{"d", "b"}},
		{"limit", CDRFilter{Limit: 2}, []string{"d", "c"}},
		{"combined", CDRFilter{Line: "L2", Direction: Inbound, OpenOnly: true}, []string{"d"}},
		{"no match", CDRFilter{Line: "L3"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.CDRs(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if ids := cdrIDs(got); !equalStrings(ids, tt.want) {
				t.Fatalf("CDRs(%+v) = %v, want %v", tt.f, ids, tt.want)
			}
		})
	}
	open, err := s.OpenCalls(ctx)
	if err != nil || !equalStrings(cdrIDs(open), []string{"b", "d"}) {
		t.Fatalf("OpenCalls = %v, %v; want [b d] oldest first", cdrIDs(open), err)
	}
}

func cdrIDs(cs []CDR) []string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
