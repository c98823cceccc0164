package rtpmedia

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtp"
	"go.uber.org/zap/zaptest"
)

// memEndpoint is an in-memory Endpoint: ReadRTP returns queued packets,
// WriteRTP records clones.
type memEndpoint struct {
	in        chan []byte
	closed    chan struct{}
	closeOnce sync.Once
	notify    chan struct{}

	mu  sync.Mutex
	out []rtp.Packet
}

func newMemEndpoint() *memEndpoint {
	return &memEndpoint{in: make(chan []byte, 1024), closed: make(chan struct{}), notify: make(chan struct{}, 1)}
}

func (m *memEndpoint) ReadRTP(p *rtp.Packet, buf []byte) (int, error) {
	select {
	case b := <-m.in:
		n := copy(buf, b)
		return n, p.Unmarshal(buf[:n])
	case <-m.closed:
		return 0, net.ErrClosed
	}
}

func (m *memEndpoint) WriteRTP(p *rtp.Packet) error {
	m.mu.Lock()
	m.out = append(m.out, *p.Clone())
	m.mu.Unlock()
	select {
	case m.notify <- struct{}{}:
	default:
	}
	return nil
}

func (m *memEndpoint) Close() { m.closeOnce.Do(func() { close(m.closed) }) }

func (m *memEndpoint) push(t testing.TB, h rtp.Header, payload []byte) {
	t.Helper()
	h.Version = 2
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m.in <- b
}

func (m *memEndpoint) written() []rtp.Packet {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]rtp.Packet(nil), m.out...)
}

func (m *memEndpoint) waitN(t *testing.T, n int) []rtp.Packet {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		if w := m.written(); len(w) >= n {
			return w
		}
		select {
		case <-m.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for %d written packets (have %d)", n, len(m.written()))
		}
	}
}

// relayPair starts a relay between two memory endpoints.
func relayPair(t *testing.T, cfg RelayConfig) (*Relay, *memEndpoint, *memEndpoint) {
	t.Helper()
	sip, netEP := newMemEndpoint(), newMemEndpoint()
	cfg.Logger = zaptest.NewLogger(t)
	r := NewRelay(sip, netEP, cfg)
	r.Start()
	t.Cleanup(func() {
		sip.Close()
		netEP.Close()
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r, sip, netEP
}

// checkContinuous asserts consecutive sequence numbers, one SSRC and
// increasing timestamps (exact step when step > 0).
func checkContinuous(t *testing.T, pk []rtp.Packet, step uint32) {
	t.Helper()
	for i := 1; i < len(pk); i++ {
		if pk[i].SequenceNumber != pk[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, pk[i].SequenceNumber, pk[i-1].SequenceNumber)
		}
		if pk[i].SSRC != pk[0].SSRC {
			t.Fatalf("packet %d: SSRC %x, first %x", i, pk[i].SSRC, pk[0].SSRC)
		}
		d := pk[i].Timestamp - pk[i-1].Timestamp
		if step > 0 && d != step {
			t.Fatalf("packet %d: timestamp step %d, want %d", i, d, step)
		}
		if int32(d) < 0 {
			t.Fatalf("packet %d: timestamp went backwards (%d → %d)", i, pk[i-1].Timestamp, pk[i].Timestamp)
		}
	}
}

// settledStats returns the relay's counters once settled reports that they
// caught up with what the endpoints already saw (a direction counts a packet
// after its WriteRTP returned), or the last snapshot after testTimeout; the
// caller asserts on it.
func settledStats(r *Relay, settled func(RelayStats) bool) RelayStats {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(testTimeout)
	for {
		st := r.Stats()
		if settled(st) {
			return st
		}
		select {
		case <-tick.C:
		case <-deadline:
			return r.Stats()
		}
	}
}

func ulawPayload(counter uint32) []byte {
	b := markedPayload(counter, 160)
	return b
}

func TestRelayMappingBothDirections(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sip, net   Codec
		transcoded bool
	}{
		{"same codec, PT mapped", pcmu, Codec{Name: "PCMU", PayloadType: 96, ClockRate: 8000}, false},
		{"µ-law ⇄ A-law", pcmu, pcma, true},
		{"A-law ⇄ µ-law", pcma, pcmu, true},
		{"opus passthrough", opus, Codec{Name: "opus", PayloadType: 109, ClockRate: 48000, Channels: 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, sip, netEP := relayPair(t, RelayConfig{SIPCodec: tc.sip, NetCodec: tc.net})
			step := tc.sip.ClockRate / 50
			for i := 0; i < 100; i++ { // crosses the 16-bit sequence wrap
				sip.push(t, rtp.Header{PayloadType: tc.sip.PayloadType, SequenceNumber: uint16(65500 + i), Timestamp: uint32(4294960000 + uint32(i)*step), SSRC: 0xabc}, ulawPayload(uint32(i)))
				netEP.push(t, rtp.Header{PayloadType: tc.net.PayloadType, SequenceNumber: uint16(i), Timestamp: uint32(i) * step, SSRC: 0xdef}, ulawPayload(uint32(i)))
			}
			toNet, toSIP := netEP.waitN(t, 100), sip.waitN(t, 100)
			checkContinuous(t, toNet, step)
			checkContinuous(t, toSIP, step)
			for i := range toNet {
				want := ulawPayload(uint32(i))
				wantBack := ulawPayload(uint32(i))
				if tc.transcoded && tc.sip.Name == "PCMU" {
					TranscodeUlawToAlaw(want, want)
					TranscodeAlawToUlaw(wantBack, wantBack)
				} else if tc.transcoded {
					TranscodeAlawToUlaw(want, want)
					TranscodeUlawToAlaw(wantBack, wantBack)
				}
				if toNet[i].PayloadType != tc.net.PayloadType || !bytes.Equal(toNet[i].Payload, want) {
					t.Fatalf("to net %d: PT %d payload %x…", i, toNet[i].PayloadType, toNet[i].Payload[:8])
				}
				if toSIP[i].PayloadType != tc.sip.PayloadType || !bytes.Equal(toSIP[i].Payload, wantBack) {
					t.Fatalf("to SIP %d: PT %d payload %x…", i, toSIP[i].PayloadType, toSIP[i].Payload[:8])
				}
			}
			if toNet[0].SSRC == 0xabc || toSIP[0].SSRC == 0xdef || !toNet[0].Marker {
				t.Errorf("outgoing SSRCs must be the relay's own, first packet marked: %x %x %v", toNet[0].SSRC, toSIP[0].SSRC, toNet[0].Marker)
			}
			// The relay counts a packet after its WriteRTP returned: the
			// endpoint can hold all 100 before the counters moved.
			st := settledStats(r, func(st RelayStats) bool {
				return st.SIPToNet.Packets+st.SIPToNet.WriteErrors >= 100 && st.NetToSIP.Packets+st.NetToSIP.WriteErrors >= 100
			})
			if st.SIPToNet.Packets != 100 || st.NetToSIP.Packets != 100 || (st.SIPToNet.Transcoded == 100) != tc.transcoded || st.SIPToNet.Resyncs != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestRelaySourceSSRCChangeAndRestart(t *testing.T) {
	r, sip, netEP := relayPair(t, RelayConfig{SIPCodec: pcmu, NetCodec: pcmu})
	for i := 0; i < 10; i++ {
		sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: uint16(100 + i), Timestamp: uint32(8000 + 160*i), SSRC: 0xA}, ulawPayload(uint32(i)))
	}
	// New source SSRC with unrelated sequence and timestamp (e.g. a transfer).
	for i := 0; i < 10; i++ {
		sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: uint16(40000 + i), Timestamp: uint32(999999 + 160*i), SSRC: 0xB}, ulawPayload(uint32(10+i)))
	}
	// Same SSRC, restarted sequence numbers (a jump backwards).
	for i := 0; i < 10; i++ {
		sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: uint16(5 + i), Timestamp: uint32(160 * i), SSRC: 0xB}, ulawPayload(uint32(20+i)))
	}
	out := netEP.waitN(t, 30)
	checkContinuous(t, out, 0)
	for i, p := range out {
		if payloadCounter(p.Payload) != uint32(i) {
			t.Fatalf("packet %d carries %d", i, payloadCounter(p.Payload))
		}
		if i%10 != 0 && p.Timestamp-out[i-1].Timestamp != 160 {
			t.Errorf("packet %d: ts step %d within a source stream", i, p.Timestamp-out[i-1].Timestamp)
		}
	}
	if !out[10].Marker || !out[20].Marker {
		t.Errorf("first packets of the new streams should be marked")
	}
	if got := r.Stats().SIPToNet.Resyncs; got != 2 {
		t.Errorf("resyncs %d, want 2", got)
	}
}

func TestRelayHoldResume(t *testing.T) {
	r, sip, netEP := relayPair(t, RelayConfig{SIPCodec: pcmu, NetCodec: pcma})
	send := func(from, n int) {
		for i := from; i < from+n; i++ {
			sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 1}, ulawPayload(uint32(i)))
		}
	}
	send(0, 5)
	netEP.waitN(t, 5)
	r.SetHold(true, false)
	send(5, 5)
	eventuallyTrue(t, "held packets", func() bool { return r.Stats().SIPToNet.Held == 5 })
	r.SetHold(false, false)
	send(10, 5)
	out := netEP.waitN(t, 10)
	checkContinuous(t, out, 0)
	if c := payloadCounter(bytesAlawToUlaw(out[5].Payload)); c != 10 {
		t.Errorf("first packet after resume carries %d, want 10", c)
	}
	if !out[5].Marker {
		t.Error("first packet after resume is not marked")
	}
	if got := r.Stats().SIPToNet.Held; got != 5 {
		t.Errorf("held %d, want 5", got)
	}
}

func bytesAlawToUlaw(b []byte) []byte {
	out := make([]byte, len(b))
	TranscodeAlawToUlaw(out, b)
	return out
}

func dtmfPackets(t testing.TB, digit rune, ts uint32) []DTMFPacket {
	t.Helper()
	pk, err := DTMFGenerator{}.Generate(nil, digit, 100*time.Millisecond, ts)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

func detectDigits(pk []rtp.Packet, pt uint8) []rune {
	var det DTMFDetector
	var out []rune
	for i := range pk {
		if pk[i].PayloadType != pt {
			continue
		}
		d, n := det.Feed(&pk[i].Header, pk[i].Payload, time.Now())
		for j := 0; j < n; j++ {
			out = append(out, d[j].Digit)
		}
	}
	return out
}

func recvDigit(t *testing.T, r *Relay) DTMFDigit {
	t.Helper()
	select {
	case d := <-r.DTMF():
		return d
	case <-time.After(testTimeout):
		t.Fatal("no digit reported")
	}
	return DTMFDigit{}
}

func TestRelayDTMFPassthrough(t *testing.T) {
	r, sip, netEP := relayPair(t, RelayConfig{SIPCodec: pcmu, NetCodec: pcmu, SIPDTMF: &te101, NetDTMF: &te96})
	seq := uint16(1)
	for i := 0; i < 3; i++ {
		sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(160 * i), SSRC: 7}, ulawPayload(uint32(i)))
		seq++
	}
	evts := dtmfPackets(t, '5', 480)
	for _, p := range evts {
		sip.push(t, rtp.Header{PayloadType: 101, SequenceNumber: seq, Timestamp: p.Timestamp, SSRC: 7, Marker: p.Marker}, p.Payload[:])
		seq++
	}
	sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: 480 + 160*uint32(len(evts)), SSRC: 7}, ulawPayload(99))
	out := netEP.waitN(t, 3+len(evts)+1)
	checkContinuous(t, out, 0)
	for i := 3; i < 3+len(evts); i++ {
		if out[i].PayloadType != 96 || out[i].Timestamp != out[3].Timestamp {
			t.Fatalf("event packet %d: PT %d ts %d", i, out[i].PayloadType, out[i].Timestamp)
		}
	}
	if got := detectDigits(out, 96); len(got) != 1 || got[0] != '5' {
		t.Errorf("network side detects %q, want one '5'", string(got))
	}
	if d := recvDigit(t, r); d.Digit != '5' {
		t.Errorf("reported %q", d.Digit)
	}
	if len(r.DTMF()) != 0 {
		t.Errorf("digit reported more than once")
	}
	// Toward a side without telephone-event: dropped, still reported.
	r.Update(RelayConfig{SIPCodec: pcmu, NetCodec: pcmu, SIPDTMF: &te101})
	for _, p := range dtmfPackets(t, '#', 9000) {
		sip.push(t, rtp.Header{PayloadType: 101, SequenceNumber: seq, Timestamp: p.Timestamp, SSRC: 7, Marker: p.Marker}, p.Payload[:])
		seq++
	}
	if d := recvDigit(t, r); d.Digit != '#' {
		t.Errorf("reported %q", d.Digit)
	}
	if err := r.SendDTMFToNet('1', 0); !errors.Is(err, ErrNoDTMF) {
		t.Errorf("SendDTMFToNet without telephone-event: %v", err)
	}
}

func TestRelaySendDTMF(t *testing.T) {
	r, sip, netEP := relayPair(t, RelayConfig{SIPCodec: pcmu, NetCodec: pcma, SIPDTMF: &te101, NetDTMF: &te96})
	for i := 0; i < 3; i++ {
		sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 7}, ulawPayload(uint32(i)))
	}
	netEP.waitN(t, 3)
	if err := r.SendDTMFToNet('x', 0); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("invalid digit: %v", err)
	}
	if err := r.SendDTMFToNet('9', 60*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// 3 updates (60 ms / 20 ms) + 3 end packets.
	out := netEP.waitN(t, 3+6)
	for i := 3; i < 9; i++ {
		if out[i].PayloadType != 96 || out[i].Timestamp != out[3].Timestamp {
			t.Fatalf("injected packet %d: PT %d ts %d", i, out[i].PayloadType, out[i].Timestamp)
		}
	}
	if !out[3].Marker || int32(out[3].Timestamp-out[2].Timestamp) <= 0 {
		t.Errorf("event start: marker %v, ts %d after audio ts %d", out[3].Marker, out[3].Timestamp, out[2].Timestamp)
	}
	if got := detectDigits(out, 96); len(got) != 1 || got[0] != '9' {
		t.Errorf("detected %q, want one '9'", string(got))
	}
	// Audio after the digit: next sequence number, timestamp past the event.
	sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: 3, Timestamp: 480, SSRC: 7}, ulawPayload(3))
	out = netEP.waitN(t, 10)
	checkContinuous(t, out, 0)
	if out[9].PayloadType != 8 || out[9].Timestamp-out[3].Timestamp < 480 {
		t.Errorf("audio after the digit: PT %d, ts %d ticks after the event start", out[9].PayloadType, out[9].Timestamp-out[3].Timestamp)
	}
	if st := r.Stats().SIPToNet; st.DigitsSent != 1 || st.DTMF != 6 {
		t.Errorf("stats %+v", st)
	}
	// Toward SIP with nothing flowing yet.
	if err := r.SendDTMFToSIP('*', 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	toSIP := sip.waitN(t, 4)
	checkContinuous(t, toSIP, 0)
	if got := detectDigits(toSIP, 101); len(got) != 1 || got[0] != '*' {
		t.Errorf("SIP side detected %q", string(got))
	}
}

func TestRelayDropsUnknownAndStopsOnReadError(t *testing.T) {
	r, sip, netEP := relayPair(t, RelayConfig{SIPCodec: pcmu, NetCodec: pcmu})
	sip.push(t, rtp.Header{PayloadType: 13, SequenceNumber: 1, SSRC: 1}, []byte{0x40}) // CN
	sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: 2, SSRC: 1}, ulawPayload(0))
	netEP.waitN(t, 1)
	if got := r.Stats().SIPToNet.Dropped; got != 1 {
		t.Errorf("dropped %d, want 1", got)
	}
	sip.Close()
	select {
	case <-r.Done():
	case <-time.After(testTimeout):
		t.Fatal("relay did not report the read error")
	}
	if !errors.Is(r.Err(), net.ErrClosed) {
		t.Errorf("Err = %v", r.Err())
	}
}

func TestRelayIncompatibleCodecsDropAudio(t *testing.T) {
	r, sip, netEP := relayPair(t, RelayConfig{SIPCodec: pcmu, NetCodec: opus})
	sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: 1, SSRC: 1}, ulawPayload(0))
	eventuallyTrue(t, "dropped packet", func() bool { return r.Stats().SIPToNet.Dropped == 1 })
	// Switch to a relayable pair; the next packet goes through.
	r.Update(RelayConfig{SIPCodec: pcmu, NetCodec: pcma})
	sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: 2, SSRC: 1}, ulawPayload(1))
	out := netEP.waitN(t, 1)
	if out[0].PayloadType != 8 || payloadCounter(bytesAlawToUlaw(out[0].Payload)) != 1 {
		t.Errorf("got PT %d", out[0].PayloadType)
	}
	if r.Stats().SIPToNet.Dropped != 1 {
		t.Errorf("stats %+v", r.Stats().SIPToNet)
	}
}

func TestRelayDigitChannelDropsOldest(t *testing.T) {
	r := NewRelay(newMemEndpoint(), newMemEndpoint(), RelayConfig{SIPCodec: pcmu, NetCodec: pcmu})
	for i := 0; i < digitChanLen+5; i++ {
		r.pushDigit(DTMFDigit{Timestamp: uint32(i)})
	}
	if got := r.Stats().DigitsDropped; got != 5 {
		t.Errorf("dropped %d, want 5", got)
	}
	if d := <-r.DTMF(); d.Timestamp != 5 {
		t.Errorf("oldest kept digit %d, want 5", d.Timestamp)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.SendDTMFToNet('1', 0); err == nil {
		t.Error("SendDTMFToNet after Close succeeded")
	}
}

// discardEndpoint marshals written packets into a buffer, as a real leg does.
type discardEndpoint struct {
	buf [relayBufSize]byte
	n   int
}

func (d *discardEndpoint) ReadRTP(*rtp.Packet, []byte) (int, error) { return 0, net.ErrClosed }
func (d *discardEndpoint) WriteRTP(p *rtp.Packet) error {
	n, err := p.MarshalTo(d.buf[:])
	d.n = n
	return err
}

func TestRelayForwardDoesNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		name string
		net  Codec
	}{{"map", Codec{Name: "PCMU", PayloadType: 96, ClockRate: 8000}}, {"transcode", pcma}} {
		r := NewRelay(&discardEndpoint{}, &discardEndpoint{}, RelayConfig{SIPCodec: pcmu, NetCodec: tc.net, SIPDTMF: &te101, NetDTMF: &te96})
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, Payload: make([]byte, 160)}
		dtmf := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SSRC: 5}, Payload: []byte{5, 10, 0, 160}}
		late := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, Payload: make([]byte, 160)}
		allocs := testing.AllocsPerRun(500, func() {
			p.SequenceNumber++
			p.Timestamp += 160
			r.s2n.forward(&p, r.now())
			r.n2s.forward(&p, r.now())
			dtmf.SequenceNumber = p.SequenceNumber
			r.s2n.forward(&dtmf, r.now())
			// A lone late packet: held back, dropped by the next one.
			late.SequenceNumber, late.Timestamp = p.SequenceNumber-500, p.Timestamp-500*160
			r.n2s.forward(&late, r.now())
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per packet, want 0", tc.name, allocs)
		}
		_ = r.Close()
	}
}

// phone is a plain UDP socket standing in for a SIP phone's RTP.
type phone struct {
	t    *testing.T
	conn *net.UDPConn
	leg  *Leg
	seq  uint16
	ts   uint32
	ssrc uint32
}

func (ph *phone) send(pt uint8, marker bool, ts uint32, payload []byte) {
	ph.t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, Marker: marker, SequenceNumber: ph.seq, Timestamp: ts, SSRC: ph.ssrc}, Payload: payload}).Marshal()
	if err != nil {
		ph.t.Fatal(err)
	}
	ph.seq++
	if _, err := ph.conn.WriteToUDPAddrPort(b, ph.leg.LocalAddr()); err != nil {
		ph.t.Fatal(err)
	}
}

func (ph *phone) read() rtp.Packet {
	ph.t.Helper()
	buf := make([]byte, 1500)
	if err := ph.conn.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		ph.t.Fatal(err)
	}
	n, err := ph.conn.Read(buf)
	if err != nil {
		ph.t.Fatalf("phone read: %v", err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		ph.t.Fatal(err)
	}
	return p
}

func (ph *phone) readN(n int) []rtp.Packet {
	out := make([]rtp.Packet, n)
	for i := range out {
		out[i] = ph.read()
	}
	return out
}

// TestRelayEndToEnd relays between a plain RTP phone and a pion WebRTC peer:
// on pion's SRTP path (fast path off), and on the SRTP fast path with the
// leg on its own ICE port and on the shared UDP mux, with both SRTP profiles.
func TestRelayEndToEnd(t *testing.T) {
	for _, mode := range []struct {
		name      string
		fast, mux bool
		profiles  []dtls.SRTPProtectionProfile
	}{
		{"pion path", false, false, nil},
		{"own port fast path GCM", true, false, nil},
		{"own port fast path AES-CM", true, false, []dtls.SRTPProtectionProfile{dtls.SRTP_AES128_CM_HMAC_SHA1_80}},
		{"UDP mux fast path GCM", true, true, nil},
		{"UDP mux fast path AES-CM", true, true, []dtls.SRTPProtectionProfile{dtls.SRTP_AES128_CM_HMAC_SHA1_80}},
	} {
		testRelayEndToEnd(t, mode.name, mode.fast, mode.mux, mode.profiles)
	}
}

func testRelayEndToEnd(t *testing.T, mode string, fast, mux bool, profiles []dtls.SRTPProtectionProfile) {
	for _, tc := range []struct {
		name      string
		netCodecs []Codec // the WebRTC leg's list (the network offers browserCodecs)
		netPT     uint8
	}{
		{"PCMU both sides, telephone-event 101 ⇄ 96", []Codec{pcmu}, 0},
		{"PCMU phone, PCMA network (transcoded)", []Codec{pcma}, 8},
	} {
		t.Run(mode+"/"+tc.name, func(t *testing.T) {
			pc := udpPeer(t)
			sipLeg := newTestLeg(t, func(c *LegConfig) { c.Remote = addrOf(pc) })
			ph := &phone{t: t, conn: pc, leg: sipLeg, seq: 65450, ts: 123456, ssrc: 0x1111}

			e := newTestEngine(t, func(c *WebRTCConfig) {
				if mux {
					c.UDPMuxPort = -1
				}
				c.DisableFastPath = !fast
			})
			netLeg := newTestWebRTCLeg(t, e, tc.netCodecs)
			peer := newNetPeer(t, browserCodecs, profiles...)
			connectInbound(t, netLeg, peer)
			if c := netLeg.Codec(); c.PayloadType != tc.netPT || netLeg.DTMF() == nil || netLeg.DTMF().PayloadType != 96 {
				t.Fatalf("network codec %v DTMF %v", c, netLeg.DTMF())
			}
			if err := CheckRelay(pcmu, netLeg.Codec()); err != nil {
				t.Fatal(err)
			}
			relay := NewRelay(sipLeg, netLeg, RelayConfig{
				SIPCodec: pcmu, SIPDTMF: &te101, NetCodec: netLeg.Codec(), NetDTMF: netLeg.DTMF(),
				Logger: zaptest.NewLogger(t),
			})
			relay.Start()
			t.Cleanup(func() {
				_ = netLeg.Close()
				_ = sipLeg.Close()
				if err := relay.Close(); err != nil {
					t.Error(err)
				}
			})
			toNet := func(p []byte) []byte {
				if tc.netPT == 8 {
					out := make([]byte, len(p))
					TranscodeUlawToAlaw(out, p)
					return out
				}
				return p
			}
			toSIP := func(p []byte) []byte {
				if tc.netPT == 8 {
					out := make([]byte, len(p))
					TranscodeAlawToUlaw(out, p)
					return out
				}
				return p
			}

			// Phone → network: 200 packets across the sequence wrap.
			const n = 200
			for i := 0; i < n; i++ {
				ph.send(0, i == 0, ph.ts, ulawPayload(uint32(i)))
				ph.ts += 160
			}
			got := peer.waitPackets("200 relayed packets", atLeast(n))
			checkContinuous(t, got[:n], 160)
			for i, p := range got[:n] {
				if p.PayloadType != tc.netPT || !bytes.Equal(p.Payload, toNet(ulawPayload(uint32(i)))) {
					t.Fatalf("network packet %d: PT %d payload %x…", i, p.PayloadType, p.Payload[:8])
				}
			}

			// Network → phone.
			for i := 0; i < n; i++ {
				peer.send(tc.netPT, i == 0, peer.ts, toNet(ulawPayload(uint32(i))))
				peer.ts += 160
			}
			back := ph.readN(n)
			checkContinuous(t, back, 160)
			for i, p := range back {
				if p.PayloadType != 0 || !bytes.Equal(p.Payload, toSIP(toNet(ulawPayload(uint32(i))))) {
					t.Fatalf("phone packet %d: PT %d payload %x…", i, p.PayloadType, p.Payload[:8])
				}
			}

			// DTMF phone → network: PT 101 becomes 96, detected once on each end.
			before := len(peer.packets())
			evts := dtmfPackets(t, '5', ph.ts)
			for _, p := range evts {
				ph.send(101, p.Marker, p.Timestamp, p.Payload[:])
			}
			ph.ts += 800
			got = peer.waitPackets("DTMF packets", atLeast(before+len(evts)))
			if d := detectDigits(got[before:], 96); len(d) != 1 || d[0] != '5' {
				t.Errorf("network detected %q, want one '5'", string(d))
			}
			if d := recvDigit(t, relay); d.Digit != '5' {
				t.Errorf("relay reported %q", d.Digit)
			}
			checkContinuous(t, got, 0)

			// DTMF network → phone: PT 96 becomes 101.
			evts = dtmfPackets(t, '7', peer.ts)
			for _, p := range evts {
				peer.send(96, p.Marker, p.Timestamp, p.Payload[:])
			}
			peer.ts += 800
			dp := ph.readN(len(evts))
			if d := detectDigits(dp, 101); len(d) != 1 || d[0] != '7' {
				t.Errorf("phone detected %q, want one '7'", string(d))
			}
			if d := recvDigit(t, relay); d.Digit != '7' {
				t.Errorf("relay reported %q", d.Digit)
			}
			checkContinuous(t, append(back, dp...), 0)

			// SIP INFO → RFC 4733 toward the network.
			before = len(peer.packets())
			if err := relay.SendDTMFToNet('9', 40*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			got = peer.waitPackets("injected digit", atLeast(before+5)) // 2 updates + 3 end packets
			if d := detectDigits(got[before:], 96); len(d) != 1 || d[0] != '9' {
				t.Errorf("network detected %q, want one '9'", string(d))
			}

			// The phone's source changes SSRC and sequence (e.g. a transfer):
			// the network keeps seeing one continuous stream.
			ph.ssrc, ph.seq, ph.ts = 0x2222, 7, 42
			before = len(peer.packets())
			for i := 0; i < 20; i++ {
				ph.send(0, i == 0, ph.ts, ulawPayload(uint32(1000+i)))
				ph.ts += 160
			}
			got = peer.waitPackets("packets after the SSRC change", atLeast(before+20))
			checkContinuous(t, got, 0)
			if last := got[len(got)-1]; !bytes.Equal(last.Payload, toNet(ulawPayload(1019))) {
				t.Errorf("last packet payload %x…", last.Payload[:8])
			}
			st := settledStats(relay, func(st RelayStats) bool {
				return st.NetToSIP.Packets+st.NetToSIP.WriteErrors >= uint64(n+len(evts))
			})
			if st.SIPToNet.Resyncs < 1 || st.NetToSIP.Packets != uint64(n+len(evts)) || st.DigitsDropped != 0 {
				t.Errorf("relay stats %+v", st)
			}
			if tc.netPT == 8 && st.SIPToNet.Transcoded != n+20 {
				t.Errorf("transcoded %d", st.SIPToNet.Transcoded)
			}
			in, fallback := e.FastPathStats()
			if fast && (netLeg.fast.Load() == nil || in < uint64(n+len(evts)) || fallback != 0) {
				t.Errorf("fast path: on %v, %d packets decrypted, %d handed to pion; want on, >= %d, 0",
					netLeg.fast.Load() != nil, in, fallback, n+len(evts))
			}
			t.Logf("%s: fast path decrypted %d, handed to pion %d, SRTP profile %s", mode, in, fallback, netLeg.Stats().SRTPProfile)
		})
	}
}

// seqRun is n source packets of one SSRC from sequence number seq and
// timestamp ts (20 ms apart), carrying payload counters from counter.
type seqRun struct {
	ssrc    uint32
	seq     uint16
	ts      uint32
	n       int
	counter uint32
}

func TestRelaySequenceDiscontinuities(t *testing.T) {
	for _, tc := range []struct {
		name    string
		runs    []seqRun
		want    []uint32 // payload counters forwarded, in order
		resyncs uint64
		dropped uint64
	}{
		{
			name: "one packet 150 late is dropped, stream not shifted",
			runs: []seqRun{{1, 1000, 160000, 50, 0}, {1, 1049 - 150, 160000 + 49*160 - 150*160, 1, 999}, {1, 1050, 160000 + 50*160, 20, 50}},
			want: counters(0, 70), dropped: 1,
		},
		{
			name: "one packet 3000 late across the wrap is dropped",
			runs: []seqRun{{1, 65500, 1000, 50, 0}, {1, 65549 - 3000, 1000, 1, 999}, {1, 14, 1000 + 50*160, 20, 50}},
			want: counters(0, 70), dropped: 1,
		},
		{
			name: "one stray packet far ahead is dropped",
			runs: []seqRun{{1, 1000, 160000, 50, 0}, {1, 1049 + 5000, 160000 + 5000*160, 1, 999}, {1, 1050, 160000 + 50*160, 20, 50}},
			want: counters(0, 70), dropped: 1,
		},
		{
			name: "two late packets, not consecutive, are dropped",
			runs: []seqRun{{1, 1000, 160000, 50, 0}, {1, 800, 160000, 1, 998}, {1, 1050, 168000, 1, 50}, {1, 700, 160000, 1, 999}, {1, 1051, 168160, 19, 51}},
			want: counters(0, 70), dropped: 2,
		},
		{
			name: "sustained restart backwards re-bases, nothing lost",
			runs: []seqRun{{1, 30000, 500000, 10, 0}, {1, 5, 0, 10, 10}},
			want: counters(0, 20), resyncs: 1,
		},
		{
			name: "sustained jump ahead re-bases, nothing lost",
			runs: []seqRun{{1, 100, 8000, 10, 0}, {1, 100 + 10 + 5000, 8000 + 1600 + 800000, 10, 10}},
			want: counters(0, 20), resyncs: 1,
		},
		{
			name: "sustained timestamp jump re-bases",
			runs: []seqRun{{1, 100, 8000, 10, 0}, {1, 110, 8000 + 1600 + 8000*40, 10, 10}},
			want: counters(0, 20), resyncs: 1,
		},
		{
			name: "new SSRC re-bases at once",
			runs: []seqRun{{1, 100, 8000, 10, 0}, {2, 100, 8000, 10, 10}},
			want: counters(0, 20), resyncs: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, sip, netEP := relayPair(t, RelayConfig{SIPCodec: pcmu, NetCodec: pcmu})
			total := 0
			for _, run := range tc.runs {
				for i := 0; i < run.n; i++ {
					sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: run.seq + uint16(i), Timestamp: run.ts + uint32(160*i), SSRC: run.ssrc}, ulawPayload(run.counter+uint32(i)))
					total++
				}
			}
			// Every packet has been handled once the counters add up.
			eventuallyTrue(t, "all packets handled", func() bool {
				st := r.Stats().SIPToNet
				return st.Packets+st.Dropped == uint64(total)
			})
			out := netEP.written()
			if tc.resyncs == 0 {
				checkContinuous(t, out, 160) // as if the stray packets never came
			} else {
				checkContinuous(t, out, 0)
			}
			var got []uint32
			for _, p := range out {
				got = append(got, payloadCounter(p.Payload))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("forwarded counters %v, want %v", got, tc.want)
			}
			if st := r.Stats().SIPToNet; st.Resyncs != tc.resyncs || st.Dropped != tc.dropped {
				t.Errorf("resyncs %d dropped %d, want %d and %d", st.Resyncs, st.Dropped, tc.resyncs, tc.dropped)
			}
		})
	}
}

// counters returns from, from+1, ..., from+n-1.
func counters(from uint32, n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = from + uint32(i)
	}
	return out
}
