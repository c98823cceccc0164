package rtpmedia

import (
	"net"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// drain reads from l until it is closed; the returned channel closes when the reader exits.
func drain(l *Leg) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var p rtp.Packet
		buf := make([]byte, 1500)
		for {
			if _, err := l.ReadRTP(&p, buf); err != nil {
				return
			}
		}
	}()
	return done
}

func TestLegRTCPExchange(t *testing.T) {
	for _, mux := range []bool{false, true} {
		name := "separate-port"
		if mux {
			name = "rtcp-mux"
		}
		t.Run(name, func(t *testing.T) {
			mod := func(c *LegConfig) { c.RTCPInterval = 30 * time.Millisecond; c.RTCPMux = mux; c.CNAME = "test" }
			a := newTestLeg(t, mod)
			b := newTestLeg(t, mod)
			a.SetRemote(b.LocalAddr())
			b.SetRemote(a.LocalAddr())
			doneA, doneB := drain(a), drain(b)

			// a sends 50 packets with 4 sequence gaps; b receives them.
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x5eed}, Payload: make([]byte, 160)}
			sent := 0
			for seq := 0; seq < 54; seq++ {
				if seq == 10 || seq == 20 || seq == 30 || seq == 40 {
					continue
				}
				p.SequenceNumber, p.Timestamp = uint16(seq), uint32(seq*160)
				if err := a.WriteRTP(&p); err != nil {
					t.Fatal(err)
				}
				sent++
			}
			eventually(t, "b received RTP", func() bool { return b.Stats().PacketsIn == uint64(sent) })
			// b gets a's SR; a gets b's RR about SSRC 0x5eed with LSR set → loss and RTT.
			eventually(t, "b got an SR", func() bool { return !b.Stats().LastSenderReportAt.IsZero() })
			eventually(t, "a got loss from b's RR", func() bool { return a.Stats().RemoteTotalLost == 4 })
			eventually(t, "a measured RTT", func() bool {
				s := a.Stats()
				return s.RTT > 0 || s.RTCPIn > 3 // loopback RTT can round to 0 in 1/65536 s units
			})
			sa, sb := a.Stats(), b.Stats()
			if sa.RTT > time.Second {
				t.Errorf("RTT %v on loopback", sa.RTT)
			}
			if sa.RTCPOut == 0 || sb.RTCPOut == 0 || sb.RTCPIn == 0 {
				t.Errorf("rtcp counters a %d/%d b %d/%d", sa.RTCPIn, sa.RTCPOut, sb.RTCPIn, sb.RTCPOut)
			}
			// Closing a sends BYE.
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			<-doneA
			eventually(t, "b saw BYE", func() bool { return b.Stats().RemoteBye })
			_ = b.Close()
			<-doneB
		})
	}
}

// TestLegRTCPFromRawPeer checks the SR/RR wire content against a raw socket peer.
func TestLegRTCPFromRawPeer(t *testing.T) {
	peer := udpPeer(t)   // RTP
	peerRC := udpPeer(t) // RTCP
	l := newTestLeg(t, func(c *LegConfig) {
		c.RTCPInterval = 20 * time.Millisecond
		c.Remote = addrOf(peer)
		c.RemoteRTCP = addrOf(peerRC)
		c.Latch = false
	})
	done := drain(l)
	// Peer sends RTP (seq 0..9, 5 missing) and an SR.
	for _, seq := range []uint16{0, 1, 2, 3, 4, 9} {
		_, _ = peer.WriteToUDPAddrPort(rtpBytes(t, seq, uint32(seq)*160, 0xfeed, 0), l.LocalAddr())
	}
	eventually(t, "RTP in", func() bool { return l.Stats().PacketsIn == 6 })
	now := time.Now()
	sr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.SenderReport{SSRC: 0xfeed, NTPTime: ntpTime(now), PacketCount: 6}})
	if _, err := peerRC.WriteToUDPAddrPort(sr, l.LocalRTCPAddr()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SR parsed", func() bool { return !l.Stats().LastSenderReportAt.IsZero() })
	// Read reports until one carries LSR for the SR we sent.
	buf := make([]byte, 1500)
	_ = peerRC.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, err := peerRC.Read(buf)
		if err != nil {
			t.Fatalf("no RR with LSR: %v", err)
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		rr, ok := pkts[0].(*rtcp.ReceiverReport)
		if !ok {
			t.Fatalf("first packet %T, want RR (we sent no RTP)", pkts[0])
		}
		if _, ok := pkts[1].(*rtcp.SourceDescription); !ok {
			t.Fatalf("second packet %T, want SDES", pkts[1])
		}
		if len(rr.Reports) != 1 || rr.Reports[0].LastSenderReport == 0 {
			continue
		}
		r := rr.Reports[0]
		if r.SSRC != 0xfeed || r.TotalLost != 4 || r.LastSequenceNumber != 9 || r.LastSenderReport != ntpMiddle(now) {
			t.Fatalf("report %+v", r)
		}
		break
	}
	// An RR about our SSRC with LSR/DLSR gives RTT.
	if err := l.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 0xbeef, SequenceNumber: 1}}); err != nil {
		t.Fatal(err)
	}
	lsr := ntpMiddle(time.Now().Add(-300 * time.Millisecond))
	rr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 0xfeed, Reports: []rtcp.ReceptionReport{{
		SSRC: 0xbeef, FractionLost: 64, TotalLost: 12, LastSenderReport: lsr, Delay: 65536 / 10, // 100 ms held
	}}}})
	_, _ = peerRC.WriteToUDPAddrPort(rr, l.LocalRTCPAddr())
	eventually(t, "RR parsed", func() bool { return l.Stats().RemoteTotalLost == 12 })
	s := l.Stats()
	if s.RemoteLoss != 0.25 || s.RTT < 150*time.Millisecond || s.RTT > 5*time.Second {
		t.Fatalf("remote loss %v RTT %v (want 0.25, ~200ms)", s.RemoteLoss, s.RTT)
	}
	// Garbage on the RTCP port is counted as dropped, not fatal.
	_, _ = peerRC.WriteToUDPAddrPort([]byte{0x80, 0xc8, 0, 1}, l.LocalRTCPAddr())
	eventually(t, "garbage dropped", func() bool { return l.Stats().Dropped == 1 })
	_ = l.Close()
	<-done
}

func TestNTPTime(t *testing.T) {
	tm := time.Date(2026, 1, 1, 0, 0, 0, 500_000_000, time.UTC)
	n := ntpTime(tm)
	if secs := n >> 32; secs != uint64(tm.Unix()+ntpEpochOff) {
		t.Fatalf("secs %d", secs)
	}
	if frac := uint32(n); frac != 1<<31 {
		t.Fatalf("frac %x, want 0x80000000", frac)
	}
	if !isRTCP([]byte{0x80, 200, 0, 6, 0, 0, 0, 1}) || isRTCP([]byte{0x80, 0, 0, 1, 0, 0, 0, 1}) || isRTCP([]byte{0x80, 0x80 | 8, 0, 0, 0, 0, 0, 0}) {
		t.Fatal("isRTCP")
	}
	_ = net.ErrClosed
}
