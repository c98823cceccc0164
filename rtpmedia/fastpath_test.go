package rtpmedia

import (
	"testing"

	"github.com/pion/rtcp"
)

// TestFastPathTakesSRTCP: on the fast path the leg authenticates the peer's
// SRTCP itself, so pion's RTCP needs no reader goroutines (two per call
// before); with the fast path off pion's readers run.
func TestFastPathTakesSRTCP(t *testing.T) {
	for _, fast := range []bool{true, false} {
		e := newTestEngine(t, func(c *WebRTCConfig) { c.DisableFastPath = !fast })
		l := newTestWebRTCLeg(t, e, []Codec{pcmu})
		p := newNetPeer(t, []Codec{pcmu})
		connectOutbound(t, l, p)
		if got := l.fast.Load() != nil; got != fast {
			t.Fatalf("fast %v: fast path on = %v", fast, got)
		}
		l.drainMu.Lock()
		draining := l.draining
		l.drainMu.Unlock()
		if draining == fast {
			t.Errorf("fast %v: pion's RTCP readers running = %v", fast, draining)
		}
		if !fast {
			continue
		}
		for i := 0; i < 3; i++ {
			if err := p.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 1}}); err != nil {
				t.Fatal(err)
			}
		}
		eventuallyTrue(t, "3 SRTCP packets taken by the fast path", func() bool { return l.Stats().RTCPIn >= 3 })
	}
}

// TestFastPathLeavesOnPairChange: when ICE moves to another candidate pair the
// leg leaves the fast path (pion follows the pair; the fast path's remote is
// fixed) and pion's RTCP readers start; the same pair again changes nothing.
func TestFastPathLeavesOnPairChange(t *testing.T) {
	e := newTestEngine(t, nil)
	l := newTestWebRTCLeg(t, e, []Codec{pcmu})
	p := newNetPeer(t, []Codec{pcmu})
	connectOutbound(t, l, p)
	fl := l.fast.Load()
	if fl == nil {
		t.Fatal("fast path off after connecting")
	}
	pair, err := l.dtls.ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatal(err)
	}
	l.onPairChange(pair)
	if l.fast.Load() != fl {
		t.Fatal("the same pair took the leg off the fast path")
	}
	moved := *pair
	remote := *pair.Remote
	remote.Port++
	moved.Remote = &remote
	l.onPairChange(&moved)
	if l.fast.Load() != nil {
		t.Fatal("still on the fast path after ICE moved to another pair")
	}
	if m := fl.conn.legs.Load(); m != nil && (*m)[fl.remote] != nil {
		t.Error("the old remote is still routed to the leg")
	}
	l.drainMu.Lock()
	draining := l.draining
	l.drainMu.Unlock()
	if !draining {
		t.Error("pion's RTCP readers did not start")
	}
	// Media still flows, on pion's path.
	rd := readLeg(l)
	exchange(t, l, p, rd, 0, 5)
}
