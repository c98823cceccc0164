package rtpmedia

import (
	"testing"

	"github.com/pion/rtp"
)

// benchForward measures the per-packet forwarding function of one relay
// direction (PT map, SSRC/sequence/timestamp rewrite, optional transcoding,
// marshal into the endpoint's buffer) with in-memory endpoints. ns/op is ns
// per packet; allocs/op must be 0.
func benchForward(b *testing.B, sipCodec, netCodec Codec, toNet bool) {
	sip, netEP := &discardEndpoint{}, &discardEndpoint{}
	r := NewRelay(sip, netEP, RelayConfig{SIPCodec: sipCodec, NetCodec: netCodec, SIPDTMF: &te101, NetDTMF: &te96})
	defer r.Close()
	d, in, out := r.s2n, sipCodec, netEP
	if !toNet {
		d, in, out = r.n2s, netCodec, sip
	}
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: in.PayloadType, SSRC: 0x1234}, Payload: make([]byte, 160)}
	b.ReportAllocs()
	b.SetBytes(160)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.SequenceNumber++
		p.Timestamp += 160
		d.forward(&p, r.now())
	}
	b.StopTimer()
	if out.n != 12+160 {
		b.Fatalf("marshalled %d bytes, want 172", out.n)
	}
}

// BenchmarkRelaySIPToNet: same codec on both sides, payload types mapped.
func BenchmarkRelaySIPToNet(b *testing.B) {
	benchForward(b, pcmu, Codec{Name: "PCMU", PayloadType: 96, ClockRate: 8000}, true)
}

// BenchmarkRelayNetToSIP: the opposite direction.
func BenchmarkRelayNetToSIP(b *testing.B) {
	benchForward(b, pcmu, Codec{Name: "PCMU", PayloadType: 96, ClockRate: 8000}, false)
}

// BenchmarkRelaySIPToNetTranscode: µ-law phone, A-law network.
func BenchmarkRelaySIPToNetTranscode(b *testing.B) { benchForward(b, pcmu, pcma, true) }

// BenchmarkRelayNetToSIPTranscode: A-law network, µ-law phone.
func BenchmarkRelayNetToSIPTranscode(b *testing.B) { benchForward(b, pcmu, pcma, false) }

// BenchmarkRelayLoopbackSIPToNet is the real path for one packet: a UDP
// socket (the phone) → Leg.ReadRTP → forward → WebRTCLeg.WriteRTP (SRTP,
// AEAD_AES_128_GCM) → loopback UDP toward a pion peer. The peer's receive
// side is not measured (its packets are read by pion in the background).
// It runs on pion's SRTP path (fast path off).
func BenchmarkRelayLoopbackSIPToNet(b *testing.B) { benchLoopbackSIPToNet(b, false) }

// BenchmarkRelayLoopbackSIPToNetFast: the same where WriteRTP encrypts and
// sends on the SRTP fast path (fastpath.go).
func BenchmarkRelayLoopbackSIPToNetFast(b *testing.B) { benchLoopbackSIPToNet(b, true) }

func benchLoopbackSIPToNet(b *testing.B, fast bool) {
	pc := udpPeer(b)
	sipLeg := newTestLeg(b, func(c *LegConfig) { c.Remote = addrOf(pc) })
	e, err := NewWebRTCEngine(WebRTCConfig{AllowLoopback: true, DisableFastPath: !fast})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	netLeg, err := e.NewLeg([]Codec{pcmu})
	if err != nil {
		b.Fatal(err)
	}
	defer netLeg.Close()
	peer := newNetPeer(b, []Codec{pcmu, te96})
	peer.discard = true
	offer, err := netLeg.CreateOffer(testCtx(b))
	if err != nil {
		b.Fatal(err)
	}
	if err := netLeg.SetAnswer(peer.answer(offer)); err != nil {
		b.Fatal(err)
	}
	<-netLeg.Connected()
	if (netLeg.fast.Load() != nil) != fast {
		b.Fatalf("fast path on: %v", netLeg.fast.Load() != nil)
	}
	r := NewRelay(sipLeg, netLeg, RelayConfig{SIPCodec: pcmu, NetCodec: netLeg.Codec(), SIPDTMF: &te101, NetDTMF: netLeg.DTMF()})
	defer r.Close()
	d := r.s2n
	raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 9}, Payload: make([]byte, 160)}).Marshal()
	dst := sipLeg.LocalAddr()
	b.ReportAllocs()
	b.SetBytes(160)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw[2], raw[3] = byte(i>>8), byte(i)
		if _, err := pc.WriteToUDPAddrPort(raw, dst); err != nil {
			b.Fatal(err)
		}
		if _, err := sipLeg.ReadRTP(&d.rp, d.rbuf[:]); err != nil {
			b.Fatal(err)
		}
		d.forward(&d.rp, r.now())
	}
	b.StopTimer()
	if w := r.Stats().SIPToNet; w.Packets != uint64(b.N) || w.WriteErrors != 0 {
		b.Fatalf("stats %+v", w)
	}
}

// BenchmarkRelayLoopbackNetToSIP is the real path the other way: the pion
// peer writes one SRTP packet → WebRTCLeg.ReadRTP (SRTP decrypt, RTCP report
// interceptor) → forward → Leg.WriteRTP → the phone's UDP socket, which the
// loop reads, on pion's SRTP path (fast path off). The peer's send side is
// included in the time.
func BenchmarkRelayLoopbackNetToSIP(b *testing.B) {
	pc := udpPeer(b)
	sipLeg := newTestLeg(b, func(c *LegConfig) { c.Remote = addrOf(pc) })
	e, err := NewWebRTCEngine(WebRTCConfig{AllowLoopback: true, DisableFastPath: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	netLeg, err := e.NewLeg([]Codec{pcmu})
	if err != nil {
		b.Fatal(err)
	}
	defer netLeg.Close()
	peer := newNetPeer(b, []Codec{pcmu, te96})
	offer, err := netLeg.CreateOffer(testCtx(b))
	if err != nil {
		b.Fatal(err)
	}
	if err := netLeg.SetAnswer(peer.answer(offer)); err != nil {
		b.Fatal(err)
	}
	<-netLeg.Connected()
	<-peer.connected
	r := NewRelay(sipLeg, netLeg, RelayConfig{SIPCodec: pcmu, NetCodec: netLeg.Codec(), SIPDTMF: &te101, NetDTMF: netLeg.DTMF()})
	defer r.Close()
	d := r.n2s
	bind := peer.track.binding.Load()
	if bind == nil {
		b.Fatal("peer track not bound")
	}
	h := rtp.Header{Version: 2, PayloadType: 0, SSRC: bind.ssrc}
	payload := make([]byte, 160)
	rbuf := make([]byte, 1500)
	b.ReportAllocs()
	b.SetBytes(160)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.SequenceNumber++
		h.Timestamp += 160
		if _, err := bind.writer.WriteRTP(&h, payload); err != nil {
			b.Fatal(err)
		}
		if _, err := netLeg.ReadRTP(&d.rp, d.rbuf[:]); err != nil {
			b.Fatal(err)
		}
		d.forward(&d.rp, r.now())
		if _, err := pc.Read(rbuf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelayLoopbackNetToSIPFast is BenchmarkRelayLoopbackNetToSIP on
// the SRTP fast path: the socket's reader decrypts and forwards to the phone
// itself, no ReadRTP. The peer's pion send side is included in the time and
// the allocations.
func BenchmarkRelayLoopbackNetToSIPFast(b *testing.B) {
	pc := udpPeer(b)
	sipLeg := newTestLeg(b, func(c *LegConfig) { c.Remote = addrOf(pc) })
	e, err := NewWebRTCEngine(WebRTCConfig{AllowLoopback: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	netLeg, err := e.NewLeg([]Codec{pcmu})
	if err != nil {
		b.Fatal(err)
	}
	defer netLeg.Close()
	peer := newNetPeer(b, []Codec{pcmu, te96})
	offer, err := netLeg.CreateOffer(testCtx(b))
	if err != nil {
		b.Fatal(err)
	}
	if err := netLeg.SetAnswer(peer.answer(offer)); err != nil {
		b.Fatal(err)
	}
	<-netLeg.Connected()
	<-peer.connected
	if netLeg.fast.Load() == nil {
		b.Fatal("fast path off")
	}
	r := NewRelay(sipLeg, netLeg, RelayConfig{SIPCodec: pcmu, NetCodec: netLeg.Codec(), SIPDTMF: &te101, NetDTMF: netLeg.DTMF()})
	r.Start()
	defer func() { _ = netLeg.Close(); _ = sipLeg.Close(); _ = r.Close() }()
	bind := peer.track.binding.Load()
	if bind == nil {
		b.Fatal("peer track not bound")
	}
	h := rtp.Header{Version: 2, PayloadType: 0, SSRC: bind.ssrc}
	payload := make([]byte, 160)
	rbuf := make([]byte, 1500)
	b.ReportAllocs()
	b.SetBytes(160)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.SequenceNumber++
		h.Timestamp += 160
		if _, err := bind.writer.WriteRTP(&h, payload); err != nil {
			b.Fatal(err)
		}
		if _, err := pc.Read(rbuf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if in, _ := e.FastPathStats(); in < uint64(b.N) {
		b.Fatalf("fast path decrypted %d of %d", in, b.N)
	}
}
