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
