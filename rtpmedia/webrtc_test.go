package rtpmedia

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap/zaptest"
)

var (
	pcmu    = Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}
	pcma    = Codec{Name: "PCMA", PayloadType: 8, ClockRate: 8000}
	g722    = Codec{Name: "G722", PayloadType: 9, ClockRate: 8000}
	opus    = Codec{Name: "opus", PayloadType: 111, ClockRate: 48000, Channels: 2, Fmtp: "minptime=10;useinbandfec=1"}
	te101   = Codec{Name: "telephone-event", PayloadType: 101, ClockRate: 8000, Fmtp: "0-16"}
	te96    = Codec{Name: "telephone-event", PayloadType: 96, ClockRate: 8000, Fmtp: "0-16"}
	te48110 = Codec{Name: "telephone-event", PayloadType: 110, ClockRate: 48000, Fmtp: "0-16"}
)

// browserCodecs is what the network (a browser-like peer) offers: opus
// first, then G722, PCMU, PCMA, telephone-event (fact sheet §10.3).
var browserCodecs = []Codec{opus, g722, pcmu, pcma, te48110, te96}

const testTimeout = 15 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func newTestEngine(t *testing.T, mod func(*WebRTCConfig)) *WebRTCEngine {
	t.Helper()
	cfg := WebRTCConfig{AllowLoopback: true, Logger: zaptest.NewLogger(t)}
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewWebRTCEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func newTestWebRTCLeg(t *testing.T, e *WebRTCEngine, codecs []Codec) *WebRTCLeg {
	t.Helper()
	l, err := e.NewLeg(codecs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("leg close: %v", err)
		}
	})
	return l
}

// netPeer is a plain pion PeerConnection standing in for the network's
// media gateway. It records every RTP packet it receives.
type netPeer struct {
	t         testing.TB
	discard   bool // count received packets only (benchmarks: no allocation per packet)
	received  atomic.Uint64
	pc        *webrtc.PeerConnection
	sender    *webrtc.RTPSender
	track     *legTrack
	connected chan struct{}
	connOnce  sync.Once
	notify    chan struct{}

	mu     sync.Mutex
	closed bool
	pkts   []rtp.Packet
	wg     sync.WaitGroup
	local  string
	legSeq uint16 // next sequence number the test writes on the leg
	seq    uint16
	ts     uint32
}

// newNetPeer creates the peer; profiles restricts the SRTP profiles (nil =
// GCM preferred, as a browser).
func newNetPeer(t testing.TB, codecs []Codec, profiles ...dtls.SRTPProtectionProfile) *netPeer {
	t.Helper()
	me := &webrtc.MediaEngine{}
	for _, c := range codecs {
		if err := me.RegisterCodec(codecParams(c), webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetInterfaceFilter(isLoopbackInterface)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if len(profiles) == 0 {
		profiles = []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80}
	}
	se.SetSRTPProtectionProfiles(profiles...)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &netPeer{t: t, pc: pc, track: &legTrack{}, connected: make(chan struct{}), notify: make(chan struct{}, 1),
		seq: 1000, ts: 50000}
	sender, err := pc.AddTrack(p.track)
	if err != nil {
		t.Fatal(err)
	}
	p.sender = sender
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			p.connOnce.Do(func() { close(p.connected) })
		}
	})
	pc.OnTrack(p.onTrack)
	t.Cleanup(p.close)
	return p
}

func (p *netPeer) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	if p.discard {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil && !errors.Is(err, webrtc.ErrCodecNotFound) {
				return
			}
			p.received.Add(1)
		}
	}
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			if errors.Is(err, webrtc.ErrCodecNotFound) {
				continue
			}
			return
		}
		p.mu.Lock()
		p.pkts = append(p.pkts, *pkt)
		p.mu.Unlock()
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
}

func (p *netPeer) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	if err := p.pc.GracefulClose(); err != nil {
		p.t.Errorf("peer close: %v", err)
	}
	p.wg.Wait()
}

func (p *netPeer) gather(d webrtc.SessionDescription) string {
	p.t.Helper()
	done := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(d); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(testTimeout):
		p.t.Fatal("peer ICE gathering timed out")
	}
	p.local = p.pc.LocalDescription().SDP
	return p.local
}

// answer answers our leg's offer.
func (p *netPeer) answer(offer string) string {
	p.t.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		p.t.Fatal(err)
	}
	a, err := p.pc.CreateAnswer(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.gather(a)
}

// offer makes the network's offer.
func (p *netPeer) offer() string {
	p.t.Helper()
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.gather(o)
}

func (p *netPeer) setAnswer(a string) {
	p.t.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a}); err != nil {
		p.t.Fatal(err)
	}
}

// send writes one packet on the peer's track (PT as given).
func (p *netPeer) send(pt uint8, marker bool, ts uint32, payload []byte) {
	p.t.Helper()
	b := p.track.binding.Load()
	if b == nil {
		p.t.Fatal("peer track not bound")
	}
	p.mu.Lock()
	h := rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: p.seq, Timestamp: ts, SSRC: b.ssrc, Marker: marker}
	p.seq++
	p.mu.Unlock()
	if _, err := b.writer.WriteRTP(&h, payload); err != nil {
		p.t.Fatal(err)
	}
}

// sendAudio sends n audio packets of 160 bytes with a counter marker.
func (p *netPeer) sendAudio(pt uint8, n int, first uint32) {
	for i := 0; i < n; i++ {
		p.send(pt, i == 0, p.ts, markedPayload(first+uint32(i), 160))
		p.ts += 160
	}
}

// packets returns a copy of what the peer received so far.
func (p *netPeer) packets() []rtp.Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]rtp.Packet(nil), p.pkts...)
}

// waitPackets waits until cond holds for the received packets.
func (p *netPeer) waitPackets(what string, cond func([]rtp.Packet) bool) []rtp.Packet {
	p.t.Helper()
	deadline := time.After(testTimeout)
	for {
		if pk := p.packets(); cond(pk) {
			return pk
		}
		select {
		case <-p.notify:
		case <-deadline:
			p.t.Fatalf("timed out waiting for %s (have %d packets)", what, len(p.packets()))
		}
	}
}

func atLeast(n int) func([]rtp.Packet) bool {
	return func(p []rtp.Packet) bool { return len(p) >= n }
}

// markedPayload is a G.711-sized payload whose first 4 bytes are a counter.
func markedPayload(counter uint32, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, counter)
	for i := 4; i < size; i++ {
		b[i] = byte(counter + uint32(i))
	}
	return b
}

func payloadCounter(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func waitChan(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// legReader reads packets from a leg in a goroutine until it fails.
type legReader struct {
	ch   chan rtp.Packet
	done chan struct{}
}

func readLeg(ep Endpoint) *legReader {
	r := &legReader{ch: make(chan rtp.Packet, 1024), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		var p rtp.Packet
		buf := make([]byte, 1500)
		for {
			if _, err := ep.ReadRTP(&p, buf); err != nil {
				return
			}
			r.ch <- *p.Clone()
		}
	}()
	return r
}

func (r *legReader) next(t *testing.T) rtp.Packet {
	t.Helper()
	select {
	case p := <-r.ch:
		return p
	case <-time.After(testTimeout):
		t.Fatal("no packet from the leg")
	}
	return rtp.Packet{}
}

// connect runs CreateOffer → peer answer → SetAnswer and waits for both sides.
func connectOutbound(t *testing.T, l *WebRTCLeg, p *netPeer) (offer, answer string) {
	t.Helper()
	offer, err := l.CreateOffer(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	answer = p.answer(offer)
	if err := l.SetAnswer(answer); err != nil {
		t.Fatal(err)
	}
	waitChan(t, l.Connected(), "leg connected")
	waitChan(t, p.connected, "peer connected")
	return offer, answer
}

func connectInbound(t *testing.T, l *WebRTCLeg, p *netPeer) (offer, answer string) {
	t.Helper()
	offer = p.offer()
	answer, err := l.AcceptOffer(testCtx(t), offer)
	if err != nil {
		t.Fatal(err)
	}
	p.setAnswer(answer)
	waitChan(t, l.Connected(), "leg connected")
	waitChan(t, p.connected, "peer connected")
	return offer, answer
}

func mustParse(t *testing.T, s string) *webrtcMedia {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(s); err != nil {
		t.Fatalf("pion cannot parse our SDP: %v\n%s", err, s)
	}
	m, err := parseWebRTCSDP(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// exchange sends n packets each way and checks order, payload type and content.
func exchange(t *testing.T, l *WebRTCLeg, p *netPeer, rd *legReader, pt uint8, n int) {
	t.Helper()
	before := len(p.packets())
	for i := 0; i < n; i++ {
		// SRTP replay protection: sequence numbers must keep increasing.
		p.legSeq++
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: p.legSeq, Timestamp: uint32(160 * p.legSeq), SSRC: 0xdead}, Payload: markedPayload(uint32(i), 160)}
		if err := l.WriteRTP(&pkt); err != nil {
			t.Fatal(err)
		}
	}
	got := p.waitPackets("leg→peer packets", atLeast(before+n))[before:]
	localSSRC := l.Stats().LocalSSRC
	for i, g := range got[:n] {
		if g.PayloadType != pt || payloadCounter(g.Payload) != uint32(i) || g.SSRC != localSSRC {
			t.Fatalf("peer packet %d: pt %d counter %d ssrc %x, want pt %d counter %d ssrc %x", i, g.PayloadType, payloadCounter(g.Payload), g.SSRC, pt, i, localSSRC)
		}
	}
	p.sendAudio(pt, n, 0)
	for i := 0; i < n; i++ {
		g := rd.next(t)
		if g.PayloadType != pt || payloadCounter(g.Payload) != uint32(i) || len(g.Payload) != 160 {
			t.Fatalf("leg packet %d: pt %d counter %d len %d", i, g.PayloadType, payloadCounter(g.Payload), len(g.Payload))
		}
	}
}

func TestWebRTCOutboundOfferAnswer(t *testing.T) {
	e := newTestEngine(t, nil)
	l := newTestWebRTCLeg(t, e, []Codec{pcma, pcmu, te101})
	p := newNetPeer(t, []Codec{pcmu, pcma, te96})
	offer, answer := connectOutbound(t, l, p)

	om := mustParse(t, offer)
	if got := codecList(om.Codecs); !strings.Contains(got, "PCMA/8000(8) PCMU/8000(0) telephone-event/8000(101)") {
		t.Errorf("offer codecs %s, want our order PCMA, PCMU, telephone-event", got)
	}
	for _, want := range []string{"a=sendrecv", "a=setup:actpass", "a=ice-ufrag:", "a=fingerprint:", "a=candidate:", "a=rtcp-mux", "c=IN IP4 127.0.0.1"} {
		if !strings.Contains(offer, want) {
			t.Errorf("offer lacks %q:\n%s", want, offer)
		}
	}
	if strings.Contains(offer, "a=end-of-candidates") == false && strings.Contains(offer, "trickle") {
		t.Errorf("offer signals trickle ICE")
	}
	if err := l.SetAnswer(answer); err != nil {
		t.Errorf("repeated identical answer: %v", err)
	}
	if c := l.Codec(); c.Name != "PCMA" || c.PayloadType != 8 {
		t.Errorf("codec %v, want PCMA(8) (our first choice)", c)
	}
	if d := l.DTMF(); d == nil || d.PayloadType != 101 {
		t.Errorf("DTMF %v, want telephone-event(101) from our offer", d)
	}
	rd := readLeg(l)
	exchange(t, l, p, rd, 8, 50)

	st := l.Stats()
	if st.SRTPProfile != "SRTP_AEAD_AES_128_GCM" {
		t.Errorf("SRTP profile %q, want SRTP_AEAD_AES_128_GCM", st.SRTPProfile)
	}
	if st.PacketsOut != 50 || st.PacketsIn != 50 || st.Direction != SendRecv || st.DTLSState != "connected" || st.ICEState != "connected" {
		t.Errorf("stats %+v", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	waitChan(t, rd.done, "ReadRTP to return after Close")
	if !errors.Is(l.Err(), net.ErrClosed) {
		t.Errorf("Err after Close = %v, want net.ErrClosed", l.Err())
	}
	var pk rtp.Packet
	if _, err := l.ReadRTP(&pk, make([]byte, 1500)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadRTP after Close = %v", err)
	}
}

func TestWebRTCSRTPFallbackProfile(t *testing.T) {
	e := newTestEngine(t, nil)
	l := newTestWebRTCLeg(t, e, []Codec{pcmu})
	p := newNetPeer(t, []Codec{pcmu, te101}, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	connectOutbound(t, l, p)
	if got := l.Stats().SRTPProfile; got != "SRTP_AES128_CM_HMAC_SHA1_80" {
		t.Errorf("SRTP profile %q with a peer without GCM, want SRTP_AES128_CM_HMAC_SHA1_80", got)
	}
}

func TestWebRTCInboundAcceptOffer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ours    []Codec
		want    string
		wantPT  uint8
		wantTE  uint8
		network []Codec
	}{
		{"our first choice PCMA over the network's order", []Codec{pcma, pcmu}, "PCMA", 8, 96, browserCodecs},
		{"PCMU", []Codec{pcmu, te101}, "PCMU", 0, 96, browserCodecs},
		{"G722 before G.711", []Codec{g722, pcmu}, "G722", 9, 96, browserCodecs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, nil)
			l := newTestWebRTCLeg(t, e, tc.ours)
			p := newNetPeer(t, tc.network)
			_, answer := connectInbound(t, l, p)
			am := mustParse(t, answer)
			if len(am.Codecs) != 2 || am.Codecs[0].Name != tc.want || am.Codecs[0].PayloadType != tc.wantPT || !am.Codecs[1].IsDTMF() || am.Codecs[1].PayloadType != tc.wantTE {
				t.Fatalf("answer formats %s, want %s(%d) + telephone-event(%d)", codecList(am.Codecs), tc.want, tc.wantPT, tc.wantTE)
			}
			if am.Direction != SendRecv || am.Setup != "active" {
				t.Errorf("answer direction %v setup %q", am.Direction, am.Setup)
			}
			if c := l.Codec(); c.Name != tc.want || c.PayloadType != tc.wantPT {
				t.Errorf("Codec() = %v", c)
			}
			rd := readLeg(l)
			exchange(t, l, p, rd, tc.wantPT, 20)
			if got := l.Stats().SRTPProfile; got != "SRTP_AEAD_AES_128_GCM" {
				t.Errorf("SRTP profile %q", got)
			}
		})
	}
}

func TestWebRTCNoCommonCodec(t *testing.T) {
	e := newTestEngine(t, nil)
	l := newTestWebRTCLeg(t, e, []Codec{pcmu, pcma})
	p := newNetPeer(t, []Codec{opus, g722, te48110})
	_, err := l.AcceptOffer(testCtx(t), p.offer())
	if !errors.Is(err, ErrNoCommonCodec) {
		t.Fatalf("AcceptOffer = %v, want ErrNoCommonCodec", err)
	}
	var se interface{ SIPStatus() int }
	if !errors.As(err, &se) || se.SIPStatus() != 488 {
		t.Errorf("error %v does not map to 488", err)
	}
}

// peerReanswer builds the network's answer to our re-offer from its current
// local description (a hold/resume exchange changes only the direction).
func peerReanswer(t *testing.T, p *netPeer, l *WebRTCLeg, offer string, dir Direction) string {
	t.Helper()
	pm := mustParse(t, p.local)
	setup := pm.Setup
	if setup == "actpass" {
		setup = "passive" // we answered active
	}
	formats := []Codec{l.Codec()}
	if d := l.DTMF(); d != nil {
		formats = append(formats, *d)
	}
	a := mustRewrite(t, p.local, formats, dir, setup)
	p.local = a
	return a
}

func TestWebRTCHoldResumeReoffer(t *testing.T) {
	e := newTestEngine(t, nil)
	l := newTestWebRTCLeg(t, e, []Codec{pcmu, te101})
	p := newNetPeer(t, []Codec{pcmu, te101})
	offer, _ := connectOutbound(t, l, p)
	rd := readLeg(l)
	exchange(t, l, p, rd, 0, 10)
	ufrag := mustParse(t, offer).Ufrag

	for _, step := range []struct {
		ours, theirs Direction
		sends, recvs bool
	}{
		{SendOnly, RecvOnly, true, false},
		{Inactive, Inactive, false, false},
		{SendRecv, SendRecv, true, true},
	} {
		re, err := l.Reoffer(testCtx(t), step.ours)
		if err != nil {
			t.Fatal(err)
		}
		rm := mustParse(t, re)
		if rm.Direction != step.ours || rm.Ufrag != ufrag || rm.Setup != "actpass" || len(rm.Codecs) != 2 || rm.Codecs[0].Name != "PCMU" {
			t.Fatalf("re-offer %v: direction %v ufrag %q setup %q codecs %s", step.ours, rm.Direction, rm.Ufrag, rm.Setup, codecList(rm.Codecs))
		}
		if err := l.SetReofferAnswer(peerReanswer(t, p, l, re, step.theirs)); err != nil {
			t.Fatal(err)
		}
		if got := l.Direction(); got != step.ours {
			t.Fatalf("direction after %v re-offer = %v", step.ours, got)
		}
		// Sending: the peer gets our packets only when we send.
		outBefore := l.Stats().PacketsOut
		p.legSeq++
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: p.legSeq}, Payload: markedPayload(4242, 160)}
		if err := l.WriteRTP(&pkt); err != nil {
			t.Fatal(err)
		}
		if sent := l.Stats().PacketsOut - outBefore; (sent == 1) != step.sends {
			t.Errorf("%v: wrote %d packets, sends=%v", step.ours, sent, step.sends)
		}
		if step.sends {
			seq := p.legSeq
			p.waitPackets("packet sent while "+step.ours.String(), func(pk []rtp.Packet) bool {
				for _, x := range pk {
					if x.SequenceNumber == seq && payloadCounter(x.Payload) == 4242 {
						return true
					}
				}
				return false
			})
		}
		// Receiving: while we do not receive, the peer's packets are dropped.
		dropBefore := l.Stats().Dropped
		p.sendAudio(0, 1, 9000)
		if step.recvs {
			if g := rd.next(t); payloadCounter(g.Payload) != 9000 {
				t.Errorf("received counter %d", payloadCounter(g.Payload))
			}
		} else {
			eventuallyTrue(t, "peer packet dropped while not receiving", func() bool { return l.Stats().Dropped > dropBefore })
		}
	}
	exchange(t, l, p, rd, 0, 10)
}

// eventuallyTrue waits for cond, re-checking whenever time passes (the leg
// gives no event for a dropped packet).
func eventuallyTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(testTimeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestWebRTCAnswerReoffer(t *testing.T) {
	e := newTestEngine(t, nil)
	l := newTestWebRTCLeg(t, e, []Codec{pcma, pcmu})
	p := newNetPeer(t, browserCodecs)
	_, answer := connectInbound(t, l, p)
	ourSetup := mustParse(t, answer).Setup
	rd := readLeg(l)
	exchange(t, l, p, rd, 8, 5)

	for _, tc := range []struct {
		offered, want Direction
	}{
		{SendOnly, RecvOnly},
		{Inactive, Inactive},
		{RecvOnly, SendOnly},
		{SendRecv, SendRecv},
	} {
		// The network's hold/resume re-offer: its description with the full
		// codec list again, a=setup:actpass, a new direction (fact sheet §18.2).
		reoffer := mustRewrite(t, p.local, browserCodecs, tc.offered, "actpass")
		ans, remote, err := l.AnswerReoffer(testCtx(t), reoffer)
		if err != nil {
			t.Fatal(err)
		}
		am := mustParse(t, ans)
		if remote != tc.offered || am.Direction != tc.want || l.Direction() != tc.want {
			t.Errorf("offered %v: remote %v, answered %v, leg %v; want answer %v", tc.offered, remote, am.Direction, l.Direction(), tc.want)
		}
		if am.Setup != ourSetup || len(am.Codecs) != 2 || am.Codecs[0].PayloadType != 8 {
			t.Errorf("answer setup %q (want %q) codecs %s", am.Setup, ourSetup, codecList(am.Codecs))
		}
	}
	exchange(t, l, p, rd, 8, 5)

	// An ICE restart (new credentials) is refused.
	restart := strings.Replace(p.local, "a=ice-ufrag:"+mustParse(t, p.local).Ufrag, "a=ice-ufrag:restartXYZ", 1)
	if _, _, err := l.AnswerReoffer(testCtx(t), restart); !errors.Is(err, ErrRenegotiation) {
		t.Errorf("ICE restart re-offer: %v, want ErrRenegotiation", err)
	}
	// A re-offer without any of our codecs is a 488.
	noCodec := mustRewrite(t, p.local, []Codec{opus}, SendRecv, "actpass")
	if _, _, err := l.AnswerReoffer(testCtx(t), noCodec); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("re-offer without our codecs: %v", err)
	}
}

func TestWebRTCStateErrors(t *testing.T) {
	e := newTestEngine(t, nil)
	l := newTestWebRTCLeg(t, e, []Codec{pcmu})
	if err := l.SetAnswer("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n"); !errors.Is(err, ErrWebRTCState) {
		t.Errorf("SetAnswer without offer: %v", err)
	}
	if _, err := l.Reoffer(testCtx(t), SendOnly); !errors.Is(err, ErrWebRTCState) {
		t.Errorf("Reoffer before negotiation: %v", err)
	}
	if _, err := l.AcceptOffer(testCtx(t), "garbage"); !errors.Is(err, ErrMalformedSDP) {
		t.Errorf("AcceptOffer garbage: %v", err)
	}
	if _, err := e.NewLeg([]Codec{te101}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewLeg without audio: %v", err)
	}
	if _, err := NewWebRTCEngine(WebRTCConfig{NAT1To1IPs: []string{"not-an-ip"}}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad NAT IP: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateOffer(testCtx(t)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("CreateOffer after Close: %v", err)
	}
}

func TestWebRTCPeerClosesEndsLeg(t *testing.T) {
	e := newTestEngine(t, func(c *WebRTCConfig) { c.ICEFailedTimeout = 2 * time.Second })
	l := newTestWebRTCLeg(t, e, []Codec{pcmu})
	p := newNetPeer(t, []Codec{pcmu})
	connectOutbound(t, l, p)
	rd := readLeg(l)
	p.close()
	waitChan(t, l.Done(), "leg Done after the peer closed")
	if !errors.Is(l.Err(), ErrWebRTCFailed) {
		t.Errorf("Err = %v, want ErrWebRTCFailed", l.Err())
	}
	// The owner reacts to Done by closing the leg, which ends ReadRTP.
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	waitChan(t, rd.done, "ReadRTP to fail")
}

func TestWebRTCUDPMux(t *testing.T) {
	e := newTestEngine(t, func(c *WebRTCConfig) { c.UDPMuxPort = -1 })
	mux := e.UDPMuxAddr()
	if !mux.IsValid() || mux.Port() == 0 {
		t.Fatalf("mux addr %v", mux)
	}
	for i := 0; i < 2; i++ {
		l := newTestWebRTCLeg(t, e, []Codec{pcmu})
		p := newNetPeer(t, []Codec{pcmu})
		offer, _ := connectOutbound(t, l, p)
		if om := mustParse(t, offer); om.Port != int(mux.Port()) {
			t.Errorf("leg %d: offer port %d, want the shared mux port %d", i, om.Port, mux.Port())
		}
		rd := readLeg(l)
		exchange(t, l, p, rd, 0, 5)
	}
}

func TestRewriteAudioSDP(t *testing.T) {
	in := "v=0\r\no=- 123 7 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
		"m=audio 5000 UDP/TLS/RTP/SAVPF 111 0 8 101\r\nc=IN IP4 1.2.3.4\r\na=mid:0\r\na=ice-ufrag:abc\r\na=setup:actpass\r\n" +
		"a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10\r\na=rtcp-fb:111 transport-cc\r\na=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\na=ssrc:1 cname:x\r\n"
	out := mustRewrite(t, in, []Codec{pcmu, te101}, SendOnly, "active")
	for _, want := range []string{"o=- 123 8 IN IP4 1.2.3.4", "m=audio 5000 UDP/TLS/RTP/SAVPF 0 101", "a=rtpmap:0 PCMU/8000", "a=fmtp:101 0-16", "a=sendonly", "a=setup:active", "a=ssrc:1 cname:x", "a=group:BUNDLE 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	for _, bad := range []string{"opus", "rtcp-fb:111", "PCMA", "sendrecv", "actpass"} {
		if strings.Contains(out, bad) {
			t.Errorf("still has %q:\n%s", bad, out)
		}
	}
	m := mustParse(t, out)
	if m.Direction != SendOnly || m.Ufrag != "abc" || len(m.Codecs) != 2 {
		t.Errorf("parsed %+v", m)
	}
	if got := mustSetDirection(t, in, Inactive); !strings.Contains(got, "a=inactive") || strings.Contains(got, "a=sendrecv") {
		t.Errorf("setDirectionSDP:\n%s", got)
	}
}

// TestWebRTCReceiverReports checks that the leg's RTCP receiver reports
// (pion's report interceptor fed by the zero-allocation header interceptor)
// describe the peer's stream correctly.
func TestWebRTCReceiverReports(t *testing.T) {
	t.Run("pion interceptors", func(t *testing.T) {
		testWebRTCReceiverReports(t, func(c *WebRTCConfig) { c.DisableFastPath = true })
	})
	// On the SRTP fast path the leg sends its own reports.
	t.Run("own reports on the fast path", func(t *testing.T) {
		testWebRTCReceiverReports(t, func(c *WebRTCConfig) { c.RTCPInterval = 200 * time.Millisecond })
	})
	t.Run("own reports on the fast path, UDP mux", func(t *testing.T) {
		testWebRTCReceiverReports(t, func(c *WebRTCConfig) { c.UDPMuxPort, c.RTCPInterval = -1, 200*time.Millisecond })
	})
}

func testWebRTCReceiverReports(t *testing.T, mod func(*WebRTCConfig)) {
	e := newTestEngine(t, mod)
	l := newTestWebRTCLeg(t, e, []Codec{pcmu})
	p := newNetPeer(t, []Codec{pcmu})
	connectOutbound(t, l, p)
	rd := readLeg(l)
	p.sendAudio(0, 30, 0)
	for i := 0; i < 30; i++ {
		rd.next(t)
	}
	peerSSRC := p.track.binding.Load().ssrc
	lastSeq := p.seq - 1
	if err := p.sender.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	for {
		pkts, _, err := p.sender.ReadRTCP()
		if err != nil {
			t.Fatalf("no receiver report about the peer's stream: %v", err)
		}
		for _, pk := range pkts {
			var reports []rtcp.ReceptionReport
			switch r := pk.(type) {
			case *rtcp.ReceiverReport:
				reports = r.Reports
			case *rtcp.SenderReport:
				reports = r.Reports
			}
			for _, rr := range reports {
				if rr.SSRC != peerSSRC {
					continue
				}
				if uint16(rr.LastSequenceNumber) != lastSeq || rr.TotalLost != 0 {
					t.Fatalf("report: highest seq %d (want %d), lost %d", rr.LastSequenceNumber, lastSeq, rr.TotalLost)
				}
				return
			}
		}
	}
}

// TestWebRTCReofferAcceptedByPion applies our hold/resume re-offers to a real
// WebRTC stack: pion must accept them as a subsequent offer (same ICE and
// DTLS parameters). pion's own answer directions are not RFC 3264 compliant
// (it answers a sendonly offer with sendrecv), so only acceptance is checked.
func TestWebRTCReofferAcceptedByPion(t *testing.T) {
	e := newTestEngine(t, nil)
	l := newTestWebRTCLeg(t, e, []Codec{pcmu, te101})
	p := newNetPeer(t, []Codec{pcmu, te101})
	connectOutbound(t, l, p)
	for _, d := range []Direction{SendOnly, Inactive, SendRecv} {
		re, err := l.Reoffer(testCtx(t), d)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: re}); err != nil {
			t.Fatalf("pion rejects our %v re-offer: %v\n%s", d, err, re)
		}
		a, err := p.pc.CreateAnswer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.pc.SetLocalDescription(a); err != nil {
			t.Fatal(err)
		}
		if err := l.SetReofferAnswer(p.pc.LocalDescription().SDP); err != nil {
			t.Fatalf("%v: our leg rejects pion's answer: %v", d, err)
		}
	}
	if s := p.pc.ConnectionState(); s != webrtc.PeerConnectionStateConnected {
		t.Errorf("peer state after re-offers: %v", s)
	}
}

func FuzzParseWebRTCSDP(f *testing.F) {
	f.Add("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0 101\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=setup:actpass\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendonly\r\n")
	f.Add("v=0\no=- 1 1 IN IP4 1.1.1.1\ns=-\nt=0 0\nm=video 9 RTP/AVP 96\nm=audio 0 RTP/AVP 8\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseWebRTCSDP(s)
		if err != nil {
			return
		}
		for _, c := range m.Codecs {
			_ = c.String()
		}
		_, _ = m.chooseOurs([]Codec{pcmu, pcma, opus})
		_, _ = rewriteAudioSDP(s, m.Codecs, Inactive, "active")
		_, _ = setDirectionSDP(s, SendOnly)
		_ = withDefaultCandidate(s)
	})
}
