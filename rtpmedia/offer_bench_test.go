package rtpmedia

import "testing"

// BenchmarkWebRTCOffer is the per-call set-up cost of the network leg up to
// our offer: a PeerConnection, full ICE gathering (loopback), Close.
func BenchmarkWebRTCOffer(b *testing.B) {
	e, err := NewWebRTCEngine(WebRTCConfig{AllowLoopback: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l, err := e.NewLeg([]Codec{pcmu})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.CreateOffer(testCtx(b)); err != nil {
			b.Fatal(err)
		}
		_ = l.Close()
	}
}
