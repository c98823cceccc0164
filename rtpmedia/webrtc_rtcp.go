package rtpmedia

import (
	"math/rand/v2"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"go.uber.org/zap"
)

// RTCP of a WebRTC leg on a fast-path engine (UDP mux on). pion's report
// interceptors only see packets on pion's path, so such legs do not register
// them; the leg keeps RFC 3550 receive/send statistics itself (both paths)
// and sends a compound SR or RR + SDES CNAME every WebRTCConfig.RTCPInterval
// (randomised 0.5–1.5×, RFC 3550 §6.3.1) through pion's SRTCP
// (PeerConnection.WriteRTCP), from the shared report timers: no goroutine or
// ticker per leg. Incoming RTCP still goes through pion.

// DefaultWebRTCRTCPInterval is the report interval of fast-path legs
// (RFC 3550's 5 s minimum).
const DefaultWebRTCRTCPInterval = 5 * time.Second

// webrtcRTCP is a leg's report state, under WebRTCLeg.smu.
type webrtcRTCP struct {
	recv  recvState
	send  sendState
	epoch time.Time
	clock uint32
}

// ownRTCP reports whether the leg sends its own reports instead of pion's
// interceptors.
func (l *WebRTCLeg) ownRTCP() bool { return l.e.fast != nil && !l.e.cfg.DisableRTCPReports }

// noteRecv counts a received packet (n bytes on the wire) in the report state.
func (l *WebRTCLeg) noteRecv(p *rtp.Packet, n int) {
	if !l.ownRTCP() {
		return
	}
	now := time.Now()
	l.smu.Lock()
	r := &l.rtcpSt
	r.recv.update(p, n, now, now.Sub(r.epoch).Microseconds()*int64(r.clock)/1e6)
	l.smu.Unlock()
}

// noteSent counts a sent packet.
func (l *WebRTCLeg) noteSent(h *rtp.Header, payload, wire int) {
	if !l.ownRTCP() {
		return
	}
	l.smu.Lock()
	s := &l.rtcpSt.send
	s.packets++
	s.bytes += uint64(wire)
	s.payloadBytes += uint64(payload)
	s.ssrc, s.lastTS, s.lastAt = h.SSRC, h.Timestamp, time.Now()
	l.smu.Unlock()
}

// startReports schedules the leg's reports once it is connected.
func (l *WebRTCLeg) startReports() {
	if !l.ownRTCP() {
		return
	}
	every := l.e.cfg.RTCPInterval
	if every <= 0 {
		every = DefaultWebRTCRTCPInterval
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.reports != nil {
		return
	}
	if l.codec.ClockRate != 0 {
		l.smu.Lock()
		l.rtcpSt.clock = l.codec.ClockRate
		l.smu.Unlock()
	}
	first := time.Duration(float64(every/2) * (0.5 + rand.Float64())) // RFC 3550 §6.2: the first one after half
	l.reports = reportTimers.add(first, every, l.sendReport)
}

// sendReport sends one SR (we sent RTP since the last report) or RR.
func (l *WebRTCLeg) sendReport(now time.Time) {
	l.mu.Lock()
	pc, closed := l.pc, l.closed
	l.mu.Unlock()
	if pc == nil || closed {
		return
	}
	ssrc := uint32(0)
	if b := l.track.binding.Load(); b != nil {
		ssrc = b.ssrc
	}
	l.smu.Lock()
	st := &l.rtcpSt
	var reports []rtcp.ReceptionReport
	if st.recv.haveSSRC {
		reports = append(reports, st.recv.report(now))
	}
	var pkts []rtcp.Packet
	if st.send.packets > st.send.packetsAtReport {
		elapsed := now.Sub(st.send.lastAt)
		pkts = append(pkts, &rtcp.SenderReport{
			SSRC:        ssrc,
			NTPTime:     ntpTime(now),
			RTPTime:     st.send.lastTS + uint32(elapsed.Microseconds()*int64(st.clock)/1e6),
			PacketCount: uint32(st.send.packets),
			OctetCount:  uint32(st.send.payloadBytes),
			Reports:     reports,
		})
	} else {
		pkts = append(pkts, &rtcp.ReceiverReport{SSRC: ssrc, Reports: reports})
	}
	st.send.packetsAtReport = st.send.packets
	l.smu.Unlock()
	pkts = append(pkts, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
		Source: ssrc,
		Items:  []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "ynagw"}},
	}}})
	if err := pc.WriteRTCP(pkts); err != nil {
		l.log.Debug("webrtc rtcp send", zap.Error(err))
	}
}
