package rtpmedia

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/zap/zaptest"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func newTestLeg(t testing.TB, mod func(*LegConfig)) *Leg {
	t.Helper()
	cfg := DefaultLegConfig()
	cfg.BindIP = loopback
	cfg.RTCPInterval = -1
	if tt, ok := t.(*testing.T); ok {
		cfg.Logger = zaptest.NewLogger(tt)
	}
	if mod != nil {
		mod(&cfg)
	}
	l, err := NewLeg(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// udpPeer is a plain UDP socket standing in for a phone.
func udpPeer(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func rtpBytes(t testing.TB, seq uint16, ts, ssrc uint32, pt uint8) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: make([]byte, 160)}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type readResult struct {
	p   rtp.Packet
	n   int
	err error
}

// readAsync runs one ReadRTP in a goroutine. The returned channel is buffered.
func readAsync(l *Leg) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		var p rtp.Packet
		buf := make([]byte, 1500)
		n, err := l.ReadRTP(&p, buf)
		if err == nil {
			p = *p.Clone()
		}
		ch <- readResult{p, n, err}
	}()
	return ch
}

func waitRead(t *testing.T, ch <-chan readResult) readResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("ReadRTP did not return")
	}
	return readResult{}
}

// eventually waits for cond with a deadline, re-checking on a ticker.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestLegExchangeStats(t *testing.T) {
	ports, err := NewPortAllocator(42000, 42099, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	a := newTestLeg(t, func(c *LegConfig) { c.Ports = ports })
	b := newTestLeg(t, func(c *LegConfig) { c.Ports = ports })
	if a.LocalAddr().Port()%2 != 0 || a.LocalRTCPAddr().Port() != a.LocalAddr().Port()+1 {
		t.Fatalf("ports %v / %v not an even/odd pair", a.LocalAddr(), a.LocalRTCPAddr())
	}
	a.SetRemote(b.LocalAddr())
	b.SetRemote(a.LocalAddr())

	const total, lostEvery = 105, 20 // seq 0..104; every 20th is "lost" → 5 lost (20,40,60,80,100)... 0 is sent
	sent := 0
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: 0xabc}, Payload: make([]byte, 160)}
	for seq := 0; seq < total; seq++ {
		if seq%lostEvery == 0 && seq != 0 {
			continue
		}
		p.SequenceNumber = uint16(65500 + seq) // wraps around 65535
		p.Timestamp = uint32(seq * 160)
		if err := a.WriteRTP(&p); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	var rp rtp.Packet
	buf := make([]byte, 1500)
	for i := 0; i < sent; i++ {
		if _, err := b.ReadRTP(&rp, buf); err != nil {
			t.Fatal(err)
		}
		if rp.SSRC != 0xabc || len(rp.Payload) != 160 {
			t.Fatalf("packet %d: %+v", i, rp.Header)
		}
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.PacketsOut != uint64(sent) || sa.BytesOut != uint64(sent*172) {
		t.Errorf("sender stats %+v", sa)
	}
	if sb.PacketsIn != uint64(sent) || sb.BytesIn != uint64(sent*172) || sb.Lost != 5 || sb.RemoteSSRC != 0xabc {
		t.Errorf("receiver stats: in %d bytes %d lost %d ssrc %x", sb.PacketsIn, sb.BytesIn, sb.Lost, sb.RemoteSSRC)
	}
	if last := uint16(65500 + total - 1 - 65536); sb.ExtHighestSeq != 1<<16+uint32(last) {
		t.Errorf("ExtHighestSeq %d", sb.ExtHighestSeq)
	}
	if sb.Latched != a.LocalAddr() || sb.LastPacketAt.IsZero() {
		t.Errorf("latched %v last %v", sb.Latched, sb.LastPacketAt)
	}
	// Sent as a burst with timestamps 20 ms apart: interarrival jitter is large and positive.
	if sb.Jitter == 0 || sb.JitterDuration <= 0 {
		t.Errorf("jitter %d / %v", sb.Jitter, sb.JitterDuration)
	}
}

func TestRecvStateJitterAndLoss(t *testing.T) {
	const clock = 8000
	tests := []struct {
		name      string
		seqs      []uint16
		gapsMs    []int // arrival gap before each packet (cycled)
		wantLost  int64
		jitterMin float64
		jitterMax float64
	}{
		{"steady 20ms", seqRange(0, 200), []int{20}, 0, 0, 0.5},
		{"alternating 10/30ms", seqRange(0, 400), []int{10, 30}, 0, 70, 85},
		{"gaps", []uint16{1, 2, 4, 5, 9, 10}, []int{20}, 4, 0, 1e9},
		{"wrap", append(seqRange(65530, 6), seqRange(0, 10)...), []int{20}, 0, 0, 0.5},
		{"duplicates", []uint16{1, 2, 2, 3, 3, 4}, []int{20}, -2, 0, 1e9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recvState
			now := time.Unix(0, 0)
			var arrivalMs int64
			prev := tt.seqs[0]
			ts := uint32(0)
			for i, s := range tt.seqs {
				if i > 0 {
					gap := tt.gapsMs[i%len(tt.gapsMs)]
					arrivalMs += int64(gap)
					ts += uint32(s-prev) * 160
				}
				prev = s
				p := rtp.Packet{Header: rtp.Header{SequenceNumber: s, Timestamp: ts, SSRC: 1, PayloadType: 0}}
				r.update(&p, 172, now, arrivalMs*clock/1000)
			}
			var st LegStats
			r.fill(&st, clock)
			if st.Lost != tt.wantLost {
				t.Errorf("lost %d, want %d", st.Lost, tt.wantLost)
			}
			if r.jitter < tt.jitterMin || r.jitter > tt.jitterMax {
				t.Errorf("jitter %.1f not in [%v,%v]", r.jitter, tt.jitterMin, tt.jitterMax)
			}
		})
	}
}

func seqRange(from uint16, n int) []uint16 {
	var s []uint16
	for i := 0; i < n; i++ {
		s = append(s, from+uint16(i))
	}
	return s
}

func TestLegLatching(t *testing.T) {
	sdpRemote := udpPeer(t) // what SDP said
	natted := udpPeer(t)    // where the phone really sends from
	intruder := udpPeer(t)
	l := newTestLeg(t, func(c *LegConfig) { c.Remote = addrOf(sdpRemote); c.LatchGuard = time.Hour })

	ch := readAsync(l)
	if _, err := natted.WriteToUDPAddrPort(rtpBytes(t, 1, 0, 7, 0), l.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if r := waitRead(t, ch); r.err != nil || r.p.SequenceNumber != 1 {
		t.Fatalf("first read: %+v", r)
	}
	if got := l.Stats().Latched; got != addrOf(natted) {
		t.Fatalf("latched %v, want %v", got, addrOf(natted))
	}
	// Our media now goes to the latched source, not the SDP address.
	if err := l.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 99, SSRC: 5}, Payload: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = natted.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := natted.Read(buf)
	if err != nil {
		t.Fatalf("latched source got nothing: %v", err)
	}
	var got rtp.Packet
	if err := got.Unmarshal(buf[:n]); err != nil || got.SequenceNumber != 99 {
		t.Fatalf("latched source got %+v %v", got.Header, err)
	}
	// An intruder inside the guard is ignored, even with many packets.
	ch = readAsync(l)
	for i := 0; i < 5; i++ {
		if _, err := intruder.WriteToUDPAddrPort(rtpBytes(t, uint16(100+i), 0, 666, 0), l.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := natted.WriteToUDPAddrPort(rtpBytes(t, 2, 160, 7, 0), l.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if r := waitRead(t, ch); r.err != nil || r.p.SSRC != 7 || r.p.SequenceNumber != 2 {
		t.Fatalf("read after intruder: %+v", r)
	}
	if s := l.Stats(); s.Dropped != 5 || s.Latched != addrOf(natted) {
		t.Fatalf("dropped %d latched %v", s.Dropped, s.Latched)
	}
}

func TestLegRelatchAfterGuard(t *testing.T) {
	old, moved := udpPeer(t), udpPeer(t)
	l := newTestLeg(t, func(c *LegConfig) { c.LatchGuard = 0 }) // guard already over
	ch := readAsync(l)
	_, _ = old.WriteToUDPAddrPort(rtpBytes(t, 1, 0, 7, 0), l.LocalAddr())
	if r := waitRead(t, ch); r.err != nil {
		t.Fatal(r.err)
	}
	// A single stray packet does not steal the latch; it must be consecutive.
	ch = readAsync(l)
	_, _ = moved.WriteToUDPAddrPort(rtpBytes(t, 2, 160, 7, 0), l.LocalAddr())
	_, _ = old.WriteToUDPAddrPort(rtpBytes(t, 3, 320, 7, 0), l.LocalAddr())
	if r := waitRead(t, ch); r.err != nil || r.p.SequenceNumber != 3 {
		t.Fatalf("%+v", r)
	}
	ch = readAsync(l)
	for seq := uint16(4); seq < 4+relatchPackets; seq++ {
		_, _ = moved.WriteToUDPAddrPort(rtpBytes(t, seq, uint32(seq)*160, 7, 0), l.LocalAddr())
	}
	if r := waitRead(t, ch); r.err != nil || r.p.SequenceNumber != 4+relatchPackets-1 {
		t.Fatalf("re-latch read %+v", r)
	}
	if got := l.Stats().Latched; got != addrOf(moved) {
		t.Fatalf("latched %v, want %v", got, addrOf(moved))
	}
}

func TestLegNoLatch(t *testing.T) {
	sdpRemote, other := udpPeer(t), udpPeer(t)
	l := newTestLeg(t, func(c *LegConfig) { c.Latch = false; c.Remote = addrOf(sdpRemote) })
	ch := readAsync(l)
	_, _ = other.WriteToUDPAddrPort(rtpBytes(t, 1, 0, 7, 0), l.LocalAddr())
	if r := waitRead(t, ch); r.err != nil {
		t.Fatal(r.err)
	}
	if err := l.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 42}}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = sdpRemote.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := sdpRemote.Read(buf); err != nil {
		t.Fatalf("SDP remote got nothing without latching: %v", err)
	}
}

func TestLegDirection(t *testing.T) {
	peer := udpPeer(t)
	l := newTestLeg(t, func(c *LegConfig) { c.Remote = addrOf(peer) })
	send := func(seq uint16) {
		t.Helper()
		if err := l.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq}, Payload: []byte{0}}); err != nil {
			t.Fatal(err)
		}
	}
	l.SetDirection(RecvOnly) // remote holds us: we must not send
	send(1)
	l.SetDirection(Inactive)
	send(2)
	l.SetDirection(SendOnly) // we hold them: we send (music on hold)
	send(3)
	buf := make([]byte, 100)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := peer.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil || p.SequenceNumber != 3 {
		t.Fatalf("first packet the peer saw: seq %d (%v); recvonly/inactive must not send", p.SequenceNumber, err)
	}
	// While sendonly we do not return received media.
	ch := readAsync(l)
	_, _ = peer.WriteToUDPAddrPort(rtpBytes(t, 10, 0, 1, 0), l.LocalAddr())
	eventually(t, "dropped packet counted", func() bool { return l.Stats().PacketsIn == 1 })
	l.SetDirection(SendRecv)
	_, _ = peer.WriteToUDPAddrPort(rtpBytes(t, 11, 160, 1, 0), l.LocalAddr())
	if r := waitRead(t, ch); r.err != nil || r.p.SequenceNumber != 11 {
		t.Fatalf("read %+v", r)
	}
}

func TestLegMediaTimeoutActive(t *testing.T) {
	l := newTestLeg(t, func(c *LegConfig) { c.ActiveTimeout = 100 * time.Millisecond; c.HeldTimeout = time.Hour })
	start := time.Now()
	r := waitRead(t, readAsync(l))
	if !errors.Is(r.err, ErrMediaTimeout) {
		t.Fatalf("err %v, want ErrMediaTimeout", r.err)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("timeout fired after %v, before the 100ms timeout", el)
	}
}

func TestLegMediaTimeoutHeld(t *testing.T) {
	peer := udpPeer(t)
	l := newTestLeg(t, func(c *LegConfig) { c.ActiveTimeout = 50 * time.Millisecond; c.HeldTimeout = time.Hour })
	l.SetDirection(RecvOnly) // the phone put us on hold and sends nothing
	ch := readAsync(l)
	select {
	case r := <-ch:
		t.Fatalf("held leg returned %+v within 8× the active timeout", r)
	case <-time.After(400 * time.Millisecond):
	}
	// Media resumes: the same blocked read returns it.
	_, _ = peer.WriteToUDPAddrPort(rtpBytes(t, 1, 0, 1, 0), l.LocalAddr())
	if r := waitRead(t, ch); r.err != nil || r.p.SequenceNumber != 1 {
		t.Fatalf("read %+v", r)
	}
	// Resuming to sendrecv while a read is blocked switches to the active timeout.
	ch = readAsync(l)
	select {
	case r := <-ch:
		t.Fatalf("held read returned early: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	l.SetDirection(SendRecv)
	if r := waitRead(t, ch); !errors.Is(r.err, ErrMediaTimeout) {
		t.Fatalf("after resume: %+v, want ErrMediaTimeout", r)
	}
}

func TestLegCloseUnblocksReadAndReleasesPort(t *testing.T) {
	ports, err := NewPortAllocator(42100, 42109, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultLegConfig()
	cfg.BindIP, cfg.Ports = loopback, ports
	l, err := NewLeg(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch := readAsync(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if r := waitRead(t, ch); !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("read after close: %v", r.err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if ports.InUse() != 0 {
		t.Fatalf("port not released: %d in use", ports.InUse())
	}
	// Quarantined: the next leg gets a different port.
	l2, err := NewLeg(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.LocalAddr().Port() == l.LocalAddr().Port() {
		t.Fatal("quarantined port reused")
	}
}

func TestLegBindSkipsBusyPort(t *testing.T) {
	busy, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 42201})
	if err != nil {
		t.Skipf("cannot reserve the busy port: %v", err)
	}
	defer busy.Close()
	ports, err := NewPortAllocator(42200, 42203, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l := newTestLeg(t, func(c *LegConfig) { c.Ports = ports })
	if l.LocalAddr().Port() != 42202 {
		t.Fatalf("bound %v, want 42202 (42200's RTCP port is busy)", l.LocalAddr())
	}
	if _, err := NewLeg(LegConfig{BindIP: loopback, Ports: ports}); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("exhausted: %v", err)
	}
}

func TestLegHeldTimeoutFires(t *testing.T) {
	l := newTestLeg(t, func(c *LegConfig) { c.ActiveTimeout = time.Hour; c.HeldTimeout = 80 * time.Millisecond })
	l.SetDirection(Inactive)
	start := time.Now()
	if r := waitRead(t, readAsync(l)); !errors.Is(r.err, ErrMediaTimeout) {
		t.Fatalf("held leg: %+v, want ErrMediaTimeout after HeldTimeout", r)
	}
	if el := time.Since(start); el < 80*time.Millisecond {
		t.Fatalf("fired after %v", el)
	}
}

func TestLegTimeoutRestartsOnMedia(t *testing.T) {
	peer := udpPeer(t)
	l := newTestLeg(t, func(c *LegConfig) { c.ActiveTimeout = 300 * time.Millisecond })
	// Packets keep arriving for twice the timeout: each read returns a packet, never a timeout.
	pace := time.NewTicker(60 * time.Millisecond)
	defer pace.Stop()
	for i := 0; i < 10; i++ {
		ch := readAsync(l)
		<-pace.C
		_, _ = peer.WriteToUDPAddrPort(rtpBytes(t, uint16(i), uint32(i)*160, 1, 0), l.LocalAddr())
		if r := waitRead(t, ch); r.err != nil || r.p.SequenceNumber != uint16(i) {
			t.Fatalf("read %d: %+v", i, r)
		}
	}
	// Then media stops and the timeout fires.
	if r := waitRead(t, readAsync(l)); !errors.Is(r.err, ErrMediaTimeout) {
		t.Fatalf("after media stopped: %+v", r)
	}
}

func TestLegSetRemoteDropsLatch(t *testing.T) {
	first, second := udpPeer(t), udpPeer(t)
	l := newTestLeg(t, func(c *LegConfig) { c.LatchGuard = time.Hour })
	ch := readAsync(l)
	_, _ = first.WriteToUDPAddrPort(rtpBytes(t, 1, 0, 1, 0), l.LocalAddr())
	if r := waitRead(t, ch); r.err != nil {
		t.Fatal(r.err)
	}
	if l.Stats().Latched != addrOf(first) {
		t.Fatal("not latched to first")
	}
	// A re-INVITE moves the media: the latch is dropped and media goes to the new SDP address.
	l.SetRemote(addrOf(second))
	if l.Stats().Latched.IsValid() {
		t.Fatal("latch kept after SetRemote with a new address")
	}
	if err := l.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 5}}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := second.Read(buf); err != nil {
		t.Fatalf("new remote got nothing: %v", err)
	}
	ch = readAsync(l)
	_, _ = second.WriteToUDPAddrPort(rtpBytes(t, 2, 160, 1, 0), l.LocalAddr())
	if r := waitRead(t, ch); r.err != nil || l.Stats().Latched != addrOf(second) {
		t.Fatalf("re-latch to the new remote: %+v latched %v", r, l.Stats().Latched)
	}
}

func TestLegDropsMalformed(t *testing.T) {
	peer := udpPeer(t)
	l := newTestLeg(t, nil)
	ch := readAsync(l)
	for _, junk := range [][]byte{{0x00}, {0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, {0x80, 0, 0}, {0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}} {
		_, _ = peer.WriteToUDPAddrPort(junk, l.LocalAddr())
	}
	_, _ = peer.WriteToUDPAddrPort(rtpBytes(t, 7, 0, 1, 0), l.LocalAddr())
	if r := waitRead(t, ch); r.err != nil || r.p.SequenceNumber != 7 {
		t.Fatalf("%+v", r)
	}
	if s := l.Stats(); s.Dropped != 4 || s.PacketsIn != 1 {
		t.Fatalf("dropped %d in %d", s.Dropped, s.PacketsIn)
	}
}

func TestNewLegConfigErrors(t *testing.T) {
	if _, err := NewLeg(LegConfig{BindIP: loopback, ActiveTimeout: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative timeout: %v", err)
	}
	if _, err := NewLeg(LegConfig{BindIP: loopback, LatchGuard: -time.Second}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative guard: %v", err)
	}
}
