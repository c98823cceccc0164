package rtpmedia

import (
	"testing"

	"github.com/pion/rtp"
)

// BenchmarkLegReadWrite measures one packet written by one Leg and read by
// another over loopback. The per-packet path must not allocate.
func BenchmarkLegReadWrite(b *testing.B) {
	a := newTestLeg(b, nil)
	c := newTestLeg(b, nil)
	a.SetRemote(c.LocalAddr())
	c.SetRemote(a.LocalAddr())
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: 1}, Payload: make([]byte, 160)}
	var rp rtp.Packet
	buf := make([]byte, 1500)
	// Warm up: latch and arm the deadline outside the measured loop.
	if err := a.WriteRTP(&p); err != nil {
		b.Fatal(err)
	}
	if _, err := c.ReadRTP(&rp, buf); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(p.MarshalSize()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.SequenceNumber++
		p.Timestamp += 160
		if err := a.WriteRTP(&p); err != nil {
			b.Fatal(err)
		}
		if _, err := c.ReadRTP(&rp, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if rp.SequenceNumber != p.SequenceNumber {
		b.Fatalf("read seq %d, wrote %d", rp.SequenceNumber, p.SequenceNumber)
	}
}

// TestLegReadWriteAllocs guards the zero-allocation contract in the normal test run.
func TestLegReadWriteAllocs(t *testing.T) {
	a := newTestLeg(t, func(c *LegConfig) { c.ActiveTimeout = 0 })
	c := newTestLeg(t, func(c *LegConfig) { c.ActiveTimeout = 60_000_000_000; c.Logger = nil })
	a.SetRemote(c.LocalAddr())
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: 1}, Payload: make([]byte, 160)}
	var rp rtp.Packet
	buf := make([]byte, 1500)
	allocs := testing.AllocsPerRun(200, func() {
		p.SequenceNumber++
		if err := a.WriteRTP(&p); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadRTP(&rp, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per packet, want 0", allocs)
	}
}

// BenchmarkLegReadWriteSRTP is BenchmarkLegReadWrite with SDES-SRTP on both legs
// (AES_CM_128_HMAC_SHA1_80 protect + unprotect per packet).
func BenchmarkLegReadWriteSRTP(b *testing.B) {
	a, c, _, _ := srtpPair(b, "", nil)
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: 1}, Payload: make([]byte, 160)}
	var rp rtp.Packet
	buf := make([]byte, 1500)
	if err := a.WriteRTP(&p); err != nil {
		b.Fatal(err)
	}
	if _, err := c.ReadRTP(&rp, buf); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(p.MarshalSize()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.SequenceNumber++
		p.Timestamp += 160
		if err := a.WriteRTP(&p); err != nil {
			b.Fatal(err)
		}
		if _, err := c.ReadRTP(&rp, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if rp.SequenceNumber != p.SequenceNumber {
		b.Fatalf("read seq %d, wrote %d", rp.SequenceNumber, p.SequenceNumber)
	}
}

// TestLegSRTPAllocs: the SRTP per-packet path does not allocate either. Under
// -race pion/srtp's pooled XOR buffer (sync.Pool) is dropped at random, which
// costs at most one allocation per protect/unprotect.
func TestLegSRTPAllocs(t *testing.T) {
	a, c, _, _ := srtpPair(t, "", func(c *LegConfig) { c.Logger = nil })
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: 1}, Payload: make([]byte, 160)}
	var rp rtp.Packet
	buf := make([]byte, 1500)
	allocs := testing.AllocsPerRun(200, func() {
		p.SequenceNumber++
		if err := a.WriteRTP(&p); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadRTP(&rp, buf); err != nil {
			t.Fatal(err)
		}
	})
	limit := 0.0
	if raceEnabled {
		limit = 2
	}
	if allocs > limit {
		t.Fatalf("%.1f allocations per packet, want <= %.0f", allocs, limit)
	}
}
