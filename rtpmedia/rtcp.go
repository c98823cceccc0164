package rtpmedia

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"go.uber.org/zap"
)

// RTCP (RFC 3550 §6): the leg sends an SR (when it sent RTP since the last
// report) or an RR every RTCPInterval, each with SDES CNAME, and a BYE on
// Close. Incoming SR/RR/BYE update the statistics (remote loss, RTT).

const (
	maxDropout  = 3000 // RFC 3550 A.1
	maxMisorder = 100
	ntpEpochOff = 2208988800 // seconds from 1900 to 1970
)

// recvState holds receive statistics; guarded by Leg.mu.
type recvState struct {
	packets, bytes, dropped uint64
	haveSSRC                bool
	ssrc                    uint32
	baseSeq                 uint32
	maxSeq                  uint16
	cycles                  uint32
	badSeq                  uint32
	received                uint32
	expectedPrior           uint32
	receivedPrior           uint32
	mainPT                  uint8
	haveTransit             bool
	transit                 int64
	jitter                  float64
	lastAt                  time.Time

	rtcpIn          uint64
	lastSR          uint32 // middle 32 bits of the last SR's NTP time
	lastSRAt        time.Time
	remoteLoss      float64
	remoteTotalLost uint32
	remoteJitter    uint32
	rtt             time.Duration
	remoteBye       bool
}

func (r *recvState) initSeq(seq uint16) {
	r.baseSeq = uint32(seq)
	r.maxSeq = seq
	r.badSeq = 1<<16 + 1
	r.cycles = 0
	r.received = 0
	r.expectedPrior = 0
	r.receivedPrior = 0
}

// update applies RFC 3550 A.1 (sequence) and A.8 (jitter) for one packet.
func (r *recvState) update(p *rtp.Packet, n int, now time.Time, arrival int64) {
	r.packets++
	r.bytes += uint64(n)
	r.lastAt = now
	seq := p.SequenceNumber
	if !r.haveSSRC || p.SSRC != r.ssrc {
		r.haveSSRC, r.ssrc, r.mainPT, r.haveTransit, r.jitter = true, p.SSRC, p.PayloadType, false, 0
		r.initSeq(seq)
	} else {
		udelta := seq - r.maxSeq
		switch {
		case udelta < maxDropout:
			if seq < r.maxSeq {
				r.cycles += 1 << 16
			}
			r.maxSeq = seq
		case udelta <= 1<<16-maxMisorder:
			if uint32(seq) == r.badSeq {
				r.initSeq(seq) // the sender restarted its sequence
			} else {
				r.badSeq = (uint32(seq) + 1) & 0xffff
				return
			}
		default:
			// duplicate or reordered packet
		}
	}
	r.received++
	if p.PayloadType != r.mainPT {
		return // e.g. telephone-event: its timestamps do not advance; keep jitter clean
	}
	transit := arrival - int64(p.Timestamp)
	if r.haveTransit {
		d := transit - r.transit
		if d < 0 {
			d = -d
		}
		// Timestamps wrap at 2^32; ignore absurd jumps (new talkspurt after a long gap).
		if d < 1<<30 {
			r.jitter += (float64(d) - r.jitter) / 16
		}
	}
	r.transit, r.haveTransit = transit, true
}

func (r *recvState) extMax() uint32 { return r.cycles + uint32(r.maxSeq) }

func (r *recvState) lost() int64 {
	if !r.haveSSRC {
		return 0
	}
	expected := int64(r.extMax()) - int64(r.baseSeq) + 1
	return expected - int64(r.received)
}

func (r *recvState) fill(s *LegStats, clock uint32) {
	s.PacketsIn, s.BytesIn, s.Dropped = r.packets, r.bytes, r.dropped
	s.Lost = r.lost()
	s.ExtHighestSeq = r.extMax()
	s.Jitter = uint32(r.jitter)
	s.JitterDuration = time.Duration(r.jitter * float64(time.Second) / float64(clock))
	s.LastPacketAt = r.lastAt
	s.RemoteSSRC = r.ssrc
	s.RTCPIn = r.rtcpIn
	s.RemoteLoss = r.remoteLoss
	s.RemoteTotalLost = r.remoteTotalLost
	s.RemoteJitter = r.remoteJitter
	s.RTT = r.rtt
	s.RemoteBye = r.remoteBye
	s.LastSenderReportAt = r.lastSRAt
}

// report builds the reception report block for the remote source and
// advances the interval counters (RFC 3550 A.3).
func (r *recvState) report(now time.Time) rtcp.ReceptionReport {
	expected := r.extMax() - r.baseSeq + 1
	expInt := expected - r.expectedPrior
	recvInt := r.received - r.receivedPrior
	r.expectedPrior, r.receivedPrior = expected, r.received
	var fraction uint8
	if lostInt := int64(expInt) - int64(recvInt); expInt > 0 && lostInt > 0 {
		fraction = uint8((lostInt << 8) / int64(expInt))
	}
	lost := r.lost()
	switch {
	case lost > 0x7fffff:
		lost = 0x7fffff
	case lost < -0x800000:
		lost = -0x800000
	}
	rr := rtcp.ReceptionReport{
		SSRC:               r.ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(lost) & 0xffffff,
		LastSequenceNumber: r.extMax(),
		Jitter:             uint32(r.jitter),
		LastSenderReport:   r.lastSR,
	}
	if !r.lastSRAt.IsZero() {
		rr.Delay = uint32(now.Sub(r.lastSRAt) * 65536 / time.Second)
	}
	return rr
}

// sendState holds send statistics; guarded by Leg.sendMu.
type sendState struct {
	packets, bytes, payloadBytes uint64
	rtcpOut                      uint64
	ssrc                         uint32
	lastTS                       uint32
	lastAt                       time.Time
	packetsAtReport              uint64
}

func (s *sendState) update(p *rtp.Packet, n int, now time.Time) {
	s.packets++
	s.bytes += uint64(n)
	s.payloadBytes += uint64(len(p.Payload))
	s.ssrc, s.lastTS, s.lastAt = p.SSRC, p.Timestamp, now
}

// ntpTime converts t to the 64-bit NTP format.
func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpEpochOff)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

func ntpMiddle(t time.Time) uint32 { return uint32(ntpTime(t) >> 16) }

// isRTCP tells RTCP from RTP on a shared port (RFC 5761 §4: PT 64-95 with the marker).
func isRTCP(b []byte) bool { return len(b) >= 8 && b[1] >= 192 && b[1] <= 223 }

func (l *Leg) rtcpReadLoop() {
	defer l.wg.Done()
	var buf [maxPacketSize]byte
	for {
		n, src, err := l.rtcpConn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-l.done:
				return
			default:
			}
			l.log.Debug("rtcp read", zap.Error(err))
			continue
		}
		l.handleRTCP(buf[:n], unmapAP(src), time.Now())
	}
}

// handleRTCP parses an incoming compound RTCP packet (SRTCP with SRTP on) into
// the statistics.
func (l *Leg) handleRTCP(b []byte, src netip.AddrPort, now time.Time) {
	b, ok := l.unprotectRTCP(b)
	if !ok {
		return
	}
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		l.drop()
		return
	}
	l.sendMu.Lock()
	ourSSRC, sent := l.send.ssrc, l.send.packets > 0
	l.sendMu.Unlock()
	if !sent {
		ourSSRC = l.ssrc
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if rtpSrc := l.destLocked(); rtpSrc.IsValid() && l.cfg.Latch && rtpSrc.Addr() != src.Addr() {
		l.recv.dropped++ // RTCP from a host that is not our peer
		return
	}
	l.activity.Store(now.UnixNano())
	l.recv.rtcpIn++
	l.rtcpSrc = src
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			l.recv.lastSR = uint32(p.NTPTime >> 16)
			l.recv.lastSRAt = now
			l.applyReportsLocked(p.Reports, ourSSRC, now)
		case *rtcp.ReceiverReport:
			l.applyReportsLocked(p.Reports, ourSSRC, now)
		case *rtcp.Goodbye:
			l.recv.remoteBye = true
		}
	}
}

func (l *Leg) applyReportsLocked(reports []rtcp.ReceptionReport, ourSSRC uint32, now time.Time) {
	for _, rr := range reports {
		if rr.SSRC != ourSSRC {
			continue
		}
		l.recv.remoteLoss = float64(rr.FractionLost) / 256
		l.recv.remoteTotalLost = rr.TotalLost
		l.recv.remoteJitter = rr.Jitter
		if rr.LastSenderReport != 0 {
			// RTT = A - LSR - DLSR, in 1/65536 s (RFC 3550 §6.4.1).
			if d := ntpMiddle(now) - rr.LastSenderReport - rr.Delay; d < 1<<31 {
				l.recv.rtt = time.Duration(uint64(d) * uint64(time.Second) >> 16)
			}
		}
	}
}

// rtcpDestLocked returns where RTCP goes: where the peer's RTCP comes from,
// else the SDP a=rtcp address (unless latched), else RTP destination port+1
// (or the RTP destination with rtcp-mux).
func (l *Leg) rtcpDestLocked() netip.AddrPort {
	if l.rtcpSrc.IsValid() {
		return l.rtcpSrc
	}
	rtpDst := l.destLocked()
	if !rtpDst.IsValid() || rtpDst.Port() == 0 || rtpDst.Addr().IsUnspecified() {
		return netip.AddrPort{}
	}
	if l.cfg.RTCPMux {
		return rtpDst
	}
	if l.remoteRTCP.IsValid() && !l.latched.IsValid() {
		return l.remoteRTCP
	}
	if rtpDst.Port() == 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(rtpDst.Addr(), rtpDst.Port()+1)
}

// sendRTCP sends one compound report (plus BYE when bye is set).
func (l *Leg) sendRTCP(now time.Time, bye bool) {
	l.mu.Lock()
	dst := l.rtcpDestLocked()
	var reports []rtcp.ReceptionReport
	if l.recv.haveSSRC {
		reports = append(reports, l.recv.report(now))
	}
	l.mu.Unlock()
	if !dst.IsValid() {
		return
	}
	l.sendMu.Lock()
	ssrc := l.ssrc
	if l.send.packets > 0 {
		ssrc = l.send.ssrc
	}
	var pkts []rtcp.Packet
	if l.send.packets > l.send.packetsAtReport {
		elapsed := now.Sub(l.send.lastAt)
		rtpTime := l.send.lastTS + uint32(elapsed.Microseconds()*int64(l.clock)/1e6)
		pkts = append(pkts, &rtcp.SenderReport{
			SSRC:        ssrc,
			NTPTime:     ntpTime(now),
			RTPTime:     rtpTime,
			PacketCount: uint32(l.send.packets),
			OctetCount:  uint32(l.send.payloadBytes),
			Reports:     reports,
		})
	} else {
		pkts = append(pkts, &rtcp.ReceiverReport{SSRC: ssrc, Reports: reports})
	}
	l.send.packetsAtReport = l.send.packets
	l.sendMu.Unlock()
	pkts = append(pkts, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
		Source: ssrc,
		Items:  []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: l.cfg.CNAME}},
	}}})
	if bye {
		pkts = append(pkts, &rtcp.Goodbye{Sources: []uint32{ssrc}})
	}
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		l.log.Warn("rtcp marshal", zap.Error(err))
		return
	}
	if st := l.srtp.Load(); st != nil {
		if b, err = protectRTCP(st, b); err != nil {
			l.log.Warn("srtcp protect", zap.Error(err))
			return
		}
	}
	conn := l.rtcpConn
	if conn == nil {
		conn = l.rtpConn
	}
	if _, err := conn.WriteToUDPAddrPort(b, dst); err != nil {
		l.log.Debug("rtcp send", zap.Error(err))
		return
	}
	l.sendMu.Lock()
	l.send.rtcpOut++
	l.sendMu.Unlock()
}
