package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/store"
	"go.uber.org/zap"
)

func TestCDRSinkLifecycle(t *testing.T) {
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	final := bridge.CDR{Direction: bridge.DirectionOutbound, Line: tLine, Peer: "12065550123", SIPUser: "201",
		SIPCallID: "sip-1", YNACallID: "yna-1", SetupAt: t0, AnsweredAt: t0.Add(2 * time.Second), EndedAt: t0.Add(30 * time.Second),
		Result: "answered", EndReason: "BYE", SIPMedia: bridge.LegStats{PacketsIn: 10, PacketsOut: 11, Lost: -1},
		NetMedia: bridge.LegStats{PacketsIn: 12, PacketsOut: 13, Lost: 2}}
	final.ID = "call-1"
	cases := []struct {
		name  string
		steps func(ctx context.Context, s *cdrSink) error
	}{
		{"write only", func(context.Context, *cdrSink) error { return nil }},
		{"opened at setup", func(ctx context.Context, s *cdrSink) error {
			return s.Open(ctx, bridge.CDR{ID: "call-1", Direction: bridge.DirectionOutbound, Line: tLine, SIPCallID: "sip-1", SIPUser: "201"})
		}},
		{"opened, YNA id then answer recorded", func(ctx context.Context, s *cdrSink) error {
			if err := s.Open(ctx, bridge.CDR{ID: "call-1", Direction: bridge.DirectionOutbound, Line: tLine, SIPCallID: "sip-1"}); err != nil {
				return err
			}
			if err := s.Update(ctx, bridge.CDR{ID: "call-1", Direction: bridge.DirectionOutbound, Line: tLine, SIPCallID: "sip-1", YNACallID: "yna-1"}); err != nil {
				return err
			}
			// Durable before the 200 OK: the open row has the YNA id and the answer.
			c, err := s.st.GetCall(ctx, "call-1")
			if err != nil || !c.Open() || c.YNACallID != "yna-1" {
				return fmt.Errorf("open row %+v %v, want the YNA id", c, err)
			}
			return s.Update(ctx, bridge.CDR{ID: "call-1", Direction: bridge.DirectionOutbound, Line: tLine, YNACallID: "yna-1", AnsweredAt: t0.Add(2 * time.Second)})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t, 10*time.Second)
			st := openStore(t, filepath.Join(t.TempDir(), "db"), testKey(t))
			defer st.Close()
			s := newCDRSink(st, zap.NewNop())
			if err := tc.steps(ctx, s); err != nil {
				t.Fatal(err)
			}
			if open, _ := st.OpenCalls(ctx); len(s.open) > 0 && len(open) != 1 {
				t.Fatalf("open rows %d", len(open))
			}
			if err := s.Write(ctx, final); err != nil {
				t.Fatal(err)
			}
			cs, err := st.CDRs(ctx, store.CDRFilter{})
			if err != nil || len(cs) != 1 {
				t.Fatalf("CDRs %v %v", cs, err)
			}
			c := cs[0]
			if c.Open() || c.Result != "answered" || c.Line != tLine || c.YNACallID != "yna-1" || c.SIPCallID != "sip-1" ||
				c.From != "201" || c.To != "12065550123" || c.SIPCode != 200 || c.AnswerAt.IsZero() ||
				c.PacketsSIPIn != 10 || c.PacketsNetOut != 13 || c.LostSIP != 0 || c.LostNet != 2 {
				t.Errorf("CDR %+v", c)
			}
			if len(s.open) != 0 {
				t.Errorf("keys left: %v", s.open)
			}
		})
	}
}

func TestCDRSinkInboundWriteOnly(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	st := openStore(t, filepath.Join(t.TempDir(), "db"), testKey(t))
	defer st.Close()
	s := newCDRSink(st, zap.NewNop())
	in := bridge.CDR{Direction: bridge.DirectionInbound, Line: tLine, Peer: "12065550199", SIPUser: "201", YNACallID: "yna-in",
		EndedAt: time.Now(), Result: "noAnswer", SIPStatus: 480}
	if err := s.Write(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx, bridge.CDR{Line: tLine}); err == nil {
		t.Error("Open without an id accepted")
	}
	cs, _ := st.CDRs(ctx, store.CDRFilter{})
	if len(cs) != 1 {
		t.Fatalf("CDRs %+v", cs)
	}
	c := cs[0]
	if c.Open() || c.From != "12065550199" || c.To != "201" || c.SIPCode != 480 || c.Result != "noAnswer" {
		t.Errorf("inbound CDR %+v", c)
	}
}
