package rtpmedia

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/zap"
)

// Defaults for LegConfig fields left zero.
const (
	DefaultClockRate    = 8000
	DefaultRTCPInterval = 5 * time.Second
	DefaultLatchGuard   = 2 * time.Second
	// relatchPackets is how many consecutive packets a new source must send,
	// after LatchGuard, to take over a latched leg (a phone behind NAT whose
	// mapping changed).
	relatchPackets = 3
	// bindAttempts bounds how many allocated ports NewLeg tries when binding fails.
	bindAttempts  = 16
	maxPacketSize = 1500
)

// LegConfig configures a Leg.
type LegConfig struct {
	BindIP     netip.Addr     // local IP to bind; unset = 0.0.0.0
	Ports      *PortAllocator // RTP port (RTCP = port+1); nil = ephemeral ports
	Remote     netip.AddrPort // remote RTP address from SDP; may be unset until the answer
	RemoteRTCP netip.AddrPort // remote RTCP address from SDP (a=rtcp); unset = Remote port+1
	RTCPMux    bool           // RTP and RTCP on one port (RFC 5761)
	// Latch enables symmetric RTP: send to the source of the first packet
	// received instead of the SDP address (DefaultLegConfig sets it).
	Latch bool
	// LatchGuard: after latching, packets from other sources are dropped for
	// this long; after that a new source sending relatchPackets consecutive
	// packets takes over (NAT rebinding).
	LatchGuard time.Duration
	// ActiveTimeout / HeldTimeout: ReadRTP fails with ErrMediaTimeout when no
	// RTP/RTCP arrived for this long while the leg is sendrecv / anything else
	// (held, inactive). 0 = off.
	ActiveTimeout, HeldTimeout time.Duration
	ClockRate                  uint32        // RTP clock rate for jitter and SR timestamps; 0 = 8000
	RTCPInterval               time.Duration // SR/RR interval; 0 = 5s; < 0 = no RTCP reports
	CNAME                      string        // RTCP SDES CNAME; "" = "ynagw"
	SSRC                       uint32        // SSRC used in RTCP before any RTP was written; 0 = random
	// SRTP, if set, protects RTP and RTCP with SDES-SRTP keys from the start
	// (SetSRTP changes them later).
	SRTP   *SRTPKeys
	Logger *zap.Logger
}

// DefaultLegConfig returns a config with latching on and the default guard.
func DefaultLegConfig() LegConfig {
	return LegConfig{Latch: true, LatchGuard: DefaultLatchGuard, ClockRate: DefaultClockRate}
}

// LegStats is a snapshot of a Leg's counters.
type LegStats struct {
	PacketsIn, PacketsOut uint64
	BytesIn, BytesOut     uint64 // UDP payload bytes (RTP header included)
	Dropped               uint64 // packets dropped: malformed, wrong source, or not receiving
	Lost                  int64  // cumulative lost from sequence gaps (RFC 3550 A.3; may be negative with duplicates)
	ExtHighestSeq         uint32
	Jitter                uint32        // RFC 3550 A.8 interarrival jitter, timestamp units
	JitterDuration        time.Duration // Jitter as a duration
	LastPacketAt          time.Time
	RemoteSSRC            uint32
	Latched               netip.AddrPort // current latched remote (unset if not latched)
	SRTPFailed            uint64         // SRTP/SRTCP packets that failed authentication or replay checks (also in Dropped)

	RTCPIn, RTCPOut    uint64
	RemoteLoss         float64 // fraction lost reported by the peer about our stream (0..1)
	RemoteTotalLost    uint32  // cumulative lost reported by the peer
	RemoteJitter       uint32  // jitter reported by the peer, timestamp units
	RTT                time.Duration
	RemoteBye          bool // the peer sent RTCP BYE
	LastSenderReportAt time.Time
}

// Leg is the RTP/RTCP endpoint of one call toward a SIP peer. ReadRTP must be
// called from one goroutine at a time; WriteRTP, Set*, Stats and Close may be
// called from any goroutine.
type Leg struct {
	cfg      LegConfig
	log      *zap.Logger
	rtpConn  *net.UDPConn
	rtcpConn *net.UDPConn // nil with RTCPMux
	port     int          // allocated port to release, 0 if ephemeral
	local    netip.AddrPort
	localRC  netip.AddrPort
	ssrc     uint32
	clock    uint32
	epoch    time.Time // arrival-time origin for jitter

	mu         sync.Mutex // guards everything below up to sendMu
	remote     netip.AddrPort
	remoteRTCP netip.AddrPort
	rtcpSrc    netip.AddrPort
	latched    netip.AddrPort
	latchedAt  time.Time
	cand       netip.AddrPort
	candN      int
	dir        Direction
	recv       recvState

	sendMu  sync.Mutex
	sendBuf [maxPacketSize + srtpOverhead]byte
	sendHdr rtp.Header // SRTP scratch, under sendMu
	send    sendState

	srtp      atomic.Pointer[srtpState] // nil = plain RTP
	rdHdr     rtp.Header                // SRTP scratch of whoever unprotects received packets
	srtpFailN atomic.Uint64

	activity   atomic.Int64  // unix nanos of the last accepted RTP/RTCP packet
	timeoutGen atomic.Uint64 // bumped when the applicable timeout changes
	rd         readerState   // owned by the ReadRTP caller

	rtcpTimer *periodicTimer // RTCP reports (nil: off)

	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
	wg        sync.WaitGroup
}

// NewLeg binds the RTP (and, unless RTCPMux, RTCP) sockets, starts the RTCP
// reader (separate RTCP port) and schedules its RTCP reports on the shared
// report timers. Close releases everything.
func NewLeg(cfg LegConfig) (*Leg, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ClockRate == 0 {
		cfg.ClockRate = DefaultClockRate
	}
	if cfg.RTCPInterval == 0 {
		cfg.RTCPInterval = DefaultRTCPInterval
	}
	if cfg.CNAME == "" {
		cfg.CNAME = "ynagw"
	}
	if cfg.ActiveTimeout < 0 || cfg.HeldTimeout < 0 || cfg.LatchGuard < 0 {
		return nil, newError(ErrInvalidConfig, 500, "negative timeout")
	}
	ip := cfg.BindIP
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	l := &Leg{
		cfg:        cfg,
		log:        cfg.Logger,
		ssrc:       cfg.SSRC,
		clock:      cfg.ClockRate,
		epoch:      time.Now(),
		remote:     unmapAP(cfg.Remote),
		remoteRTCP: unmapAP(cfg.RemoteRTCP),
		done:       make(chan struct{}),
	}
	for l.ssrc == 0 {
		l.ssrc = rand.Uint32()
	}
	if err := l.SetSRTP(cfg.SRTP); err != nil {
		return nil, err
	}
	if err := l.bind(ip); err != nil {
		return nil, err
	}
	l.local = l.rtpConn.LocalAddr().(*net.UDPAddr).AddrPort()
	if l.rtcpConn != nil {
		l.localRC = l.rtcpConn.LocalAddr().(*net.UDPAddr).AddrPort()
	} else {
		l.localRC = l.local
	}
	l.activity.Store(l.epoch.UnixNano())
	l.log = l.log.With(zap.Stringer("local", l.local))
	if l.rtcpConn != nil {
		l.wg.Add(1)
		go l.rtcpReadLoop()
	}
	if cfg.RTCPInterval > 0 {
		l.rtcpTimer = reportTimers.add(cfg.RTCPInterval, cfg.RTCPInterval, func(now time.Time) { l.sendRTCP(now, false) })
	}
	return l, nil
}

func (l *Leg) bind(ip netip.Addr) error {
	network := "udp4"
	if ip.Is6() && !ip.Is4In6() {
		network = "udp6"
	}
	listen := func(port int) (*net.UDPConn, error) {
		return net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(port))))
	}
	if l.cfg.Ports == nil {
		return l.bindEphemeral(listen)
	}
	var lastErr error
	for i := 0; i < bindAttempts; i++ {
		p, err := l.cfg.Ports.Allocate()
		if err != nil {
			return err
		}
		c, err := listen(p)
		if err != nil {
			lastErr = err
			l.cfg.Ports.Release(p) // quarantined: someone else holds it
			continue
		}
		if !l.cfg.RTCPMux {
			rc, err := listen(p + 1)
			if err != nil {
				lastErr = err
				_ = c.Close()
				l.cfg.Ports.Release(p)
				continue
			}
			l.rtcpConn = rc
		}
		l.rtpConn, l.port = c, p
		return nil
	}
	return newError(ErrNoPorts, 503, "no bindable port after %d attempts: %v", bindAttempts, lastErr)
}

// bindEphemeral binds kernel-chosen ports, preferring an even RTP port with
// RTCP on port+1 (what peers assume without a=rtcp).
func (l *Leg) bindEphemeral(listen func(int) (*net.UDPConn, error)) error {
	if l.cfg.RTCPMux {
		c, err := listen(0)
		if err != nil {
			return fmt.Errorf("rtpmedia: bind RTP: %w", err)
		}
		l.rtpConn = c
		return nil
	}
	for i := 0; i < 4*bindAttempts; i++ {
		c, err := listen(0)
		if err != nil {
			return fmt.Errorf("rtpmedia: bind RTP: %w", err)
		}
		p := int(c.LocalAddr().(*net.UDPAddr).Port)
		if p%2 == 0 && p < 65535 {
			if rc, err := listen(p + 1); err == nil {
				l.rtpConn, l.rtcpConn = c, rc
				return nil
			}
		}
		_ = c.Close()
	}
	c, err := listen(0)
	if err != nil {
		return fmt.Errorf("rtpmedia: bind RTP: %w", err)
	}
	rc, err := listen(0)
	if err != nil {
		_ = c.Close()
		return fmt.Errorf("rtpmedia: bind RTCP: %w", err)
	}
	l.rtpConn, l.rtcpConn = c, rc
	return nil
}

// LocalAddr returns the bound RTP address.
func (l *Leg) LocalAddr() netip.AddrPort { return l.local }

// LocalRTCPAddr returns the bound RTCP address (LocalAddr with RTCPMux).
func (l *Leg) LocalRTCPAddr() netip.AddrPort { return l.localRC }

// SSRC returns the SSRC the leg uses in RTCP until RTP is written.
func (l *Leg) SSRC() uint32 { return l.ssrc }

// SetRemote sets the remote RTP address from a new SDP (answer or re-INVITE).
// A changed address drops the latch; the media timeout restarts.
func (l *Leg) SetRemote(addr netip.AddrPort) {
	addr = unmapAP(addr)
	l.mu.Lock()
	if addr != l.remote {
		l.remote = addr
		l.latched = netip.AddrPort{}
		l.rtcpSrc = netip.AddrPort{}
		l.candN = 0
	}
	l.mu.Unlock()
	l.touch()
}

// SetRemoteRTCP sets the remote RTCP address from SDP (a=rtcp).
func (l *Leg) SetRemoteRTCP(addr netip.AddrPort) {
	l.mu.Lock()
	l.remoteRTCP = unmapAP(addr)
	l.mu.Unlock()
}

// SetDirection sets OUR direction as negotiated in SDP (e.g. the direction of
// our answer). WriteRTP drops packets unless d sends (sendrecv/sendonly);
// ReadRTP does not return packets unless d receives (sendrecv/recvonly).
// Anything but sendrecv counts as held: HeldTimeout applies. The media timeout restarts.
func (l *Leg) SetDirection(d Direction) {
	l.mu.Lock()
	l.dir = d
	l.mu.Unlock()
	l.touch()
	l.timeoutChanged()
}

// Direction returns the current direction.
func (l *Leg) Direction() Direction {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dir
}

// ReadRTP blocks until an RTP packet from the (latched) remote arrives,
// unmarshals it into p (p.Payload aliases buf) and returns its size on the
// wire. With SRTP the packet is authenticated and decrypted in place first
// (packets that fail are dropped and counted in SRTPFailed, and never latch). RTCP
// arriving on the RTP port (rtcp-mux) is handled internally. It returns
// ErrMediaTimeout when the media timeout fires and an error wrapping
// net.ErrClosed after Close. buf should hold 1500 bytes (the UDP read
// truncates larger datagrams). It does not allocate.
func (l *Leg) ReadRTP(p *rtp.Packet, buf []byte) (int, error) {
	for {
		if err := l.armDeadline(); err != nil {
			return 0, err
		}
		n, src, err := l.rtpConn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if l.checkTimeout() {
					return 0, ErrMediaTimeout
				}
				continue
			}
			return 0, err
		}
		now := time.Now()
		pkt := buf[:n]
		src = unmapAP(src)
		if isRTCP(pkt) {
			l.handleRTCP(pkt, src, now)
			continue
		}
		if st := l.srtp.Load(); st != nil {
			var ok bool
			if pkt, ok = l.unprotectRTP(st, pkt); !ok {
				continue
			}
		}
		if err := p.Unmarshal(pkt); err != nil || p.Version != 2 {
			l.drop()
			continue
		}
		if l.accept(p, n, src, now) {
			return n, nil
		}
	}
}

// accept applies latching and direction, updates receive statistics and
// reports whether the packet goes to the caller.
func (l *Leg) accept(p *rtp.Packet, n int, src netip.AddrPort, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.latchLocked(src, now) {
		l.recv.dropped++
		return false
	}
	l.activity.Store(now.UnixNano())
	l.recv.update(p, n, now, l.arrival(now))
	if !l.dir.Receives() {
		l.recv.dropped++
		return false
	}
	return true
}

func (l *Leg) latchLocked(src netip.AddrPort, now time.Time) bool {
	if !l.cfg.Latch {
		return true
	}
	switch {
	case !l.latched.IsValid():
		l.latched, l.latchedAt, l.candN = src, now, 0
		l.log.Debug("rtp latched", zap.Stringer("remote", src), zap.Stringer("sdp", l.remote))
		return true
	case src == l.latched:
		l.candN = 0
		return true
	case now.Sub(l.latchedAt) < l.cfg.LatchGuard:
		return false
	}
	if src == l.cand {
		l.candN++
	} else {
		l.cand, l.candN = src, 1
	}
	if l.candN < relatchPackets {
		return false
	}
	l.log.Info("rtp re-latched", zap.Stringer("from", l.latched), zap.Stringer("to", src))
	l.latched, l.latchedAt, l.candN = src, now, 0
	l.rtcpSrc = netip.AddrPort{}
	return true
}

func (l *Leg) drop() {
	l.mu.Lock()
	l.recv.dropped++
	l.mu.Unlock()
}

// arrival converts a wall-clock time to RTP timestamp units since epoch.
func (l *Leg) arrival(now time.Time) int64 {
	return now.Sub(l.epoch).Microseconds() * int64(l.clock) / 1e6
}

// dest returns where RTP goes: the latched source, else the SDP remote.
func (l *Leg) destLocked() netip.AddrPort {
	if l.latched.IsValid() {
		return l.latched
	}
	return l.remote
}

// WriteRTP marshals p into an internal buffer and sends it to the (latched)
// remote (SRTP-protected if SRTP is on). The packet is sent as given (SSRC, sequence number, timestamp). It
// silently drops the packet when the direction does not send or no remote is
// known yet. It does not allocate and is safe to call concurrently with ReadRTP.
func (l *Leg) WriteRTP(p *rtp.Packet) error {
	l.mu.Lock()
	dst, sends := l.destLocked(), l.dir.Sends()
	l.mu.Unlock()
	if !sends || !dst.IsValid() || dst.Port() == 0 || dst.Addr().IsUnspecified() {
		return nil
	}
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	n, err := p.MarshalTo(l.sendBuf[:maxPacketSize])
	if err != nil {
		return fmt.Errorf("rtpmedia: marshal RTP: %w", err)
	}
	wire := l.sendBuf[:n]
	if st := l.srtp.Load(); st != nil {
		if wire, err = l.protectRTP(st, l.sendBuf[:], n); err != nil {
			return err
		}
	}
	if _, err := l.rtpConn.WriteToUDPAddrPort(wire, dst); err != nil {
		return err
	}
	l.send.update(p, len(wire), time.Now())
	return nil
}

// Stats returns a snapshot of the counters.
func (l *Leg) Stats() LegStats {
	var s LegStats
	l.mu.Lock()
	l.recv.fill(&s, l.clock)
	s.Latched = l.latched
	l.mu.Unlock()
	s.SRTPFailed = l.srtpFailN.Load()
	l.sendMu.Lock()
	s.PacketsOut, s.BytesOut, s.RTCPOut = l.send.packets, l.send.bytes, l.send.rtcpOut
	l.sendMu.Unlock()
	return s
}

// Close sends RTCP BYE, closes the sockets, stops the RTCP goroutines and
// releases the port (into quarantine). It is idempotent.
func (l *Leg) Close() error {
	l.closeOnce.Do(func() {
		if l.rtcpTimer != nil {
			l.rtcpTimer.stop()
			l.sendRTCP(time.Now(), true)
		}
		close(l.done)
		l.closeErr = l.rtpConn.Close()
		if l.rtcpConn != nil {
			if err := l.rtcpConn.Close(); l.closeErr == nil {
				l.closeErr = err
			}
		}
		l.wg.Wait()
		if l.port != 0 {
			l.cfg.Ports.Release(l.port)
		}
	})
	return l.closeErr
}

func unmapAP(a netip.AddrPort) netip.AddrPort {
	if !a.IsValid() {
		return a
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
