package farend

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// testClient is the client side of a test call: a real pion PeerConnection
// on loopback that sends marked G.711 (tone at hz) and records what it gets.
type testClient struct {
	t      *testing.T
	pc     *webrtc.PeerConnection
	track  *rawTrack
	hz     float64
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	connected chan struct{}
	connOnce  sync.Once
	gotSR     chan struct{} // closed on the first RTCP sender report from the far end
	srOnce    sync.Once

	mu       sync.Mutex
	sending  bool
	dtmf     dtmfSender
	tx       txState
	rx       *rxStats
	pkts     []rtp.Packet // every packet received
	local    string
	interval time.Duration
}

// newTestClient creates a client whose media engine holds exactly codecs
// (in that order; the client's offer lists them so).
func newTestClient(t *testing.T, hz float64, codecs ...string) *testClient {
	t.Helper()
	specs, err := parseCodecs(codecs)
	if err != nil {
		t.Fatal(err)
	}
	me := &webrtc.MediaEngine{}
	for _, c := range specs {
		if err := me.RegisterCodec(c.params(c.PT, c.Fmtp), webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &testClient{t: t, pc: pc, track: &rawTrack{}, hz: hz, ctx: ctx, cancel: cancel,
		connected: make(chan struct{}), gotSR: make(chan struct{}), rx: newRxStats(), sending: true, interval: 10 * time.Millisecond}
	c.tx.init(hz)
	if _, err := pc.AddTrack(c.track); err != nil {
		t.Fatal(err)
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			c.connOnce.Do(func() { close(c.connected) })
		}
	})
	pc.OnTrack(c.onTrack)
	c.wg.Add(1)
	go c.sendLoop()
	t.Cleanup(c.close)
	return c
}

func (c *testClient) close() {
	c.cancel()
	if err := c.pc.GracefulClose(); err != nil {
		c.t.Errorf("client close: %v", err)
	}
	c.wg.Wait()
}

func gather(t *testing.T, pc *webrtc.PeerConnection, d webrtc.SessionDescription) string {
	t.Helper()
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("client ICE gathering timed out")
	}
	return pc.LocalDescription().SDP
}

// offer creates the client's full (gathered) offer.
func (c *testClient) offer() string {
	c.t.Helper()
	o, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	s := gather(c.t, c.pc, o)
	c.mu.Lock()
	c.local = s
	c.mu.Unlock()
	return s
}

func (c *testClient) setAnswer(sdp string) {
	c.t.Helper()
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		c.t.Fatal(err)
	}
}

// answer applies a remote offer in pion and returns pion's gathered answer.
func (c *testClient) answer(offer string) string {
	c.t.Helper()
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		c.t.Fatal(err)
	}
	a, err := c.pc.CreateAnswer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	s := gather(c.t, c.pc, a)
	c.mu.Lock()
	c.local = s
	c.mu.Unlock()
	return s
}

// reoffer builds a hold/resume re-offer the way a browser does it: the current
// local description with a new direction and a=setup:actpass.
func (c *testClient) reoffer(dir string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.local = rewriteSDP(c.local, dir, "actpass")
	return c.local
}

func (c *testClient) setSending(on bool) {
	c.mu.Lock()
	c.sending = on
	c.mu.Unlock()
}

func (c *testClient) sendDTMF(digits string) {
	evs, err := parseDigits(digits)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.dtmf.queue = append(c.dtmf.queue, evs...)
	c.mu.Unlock()
}

func (c *testClient) sent() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tx.sent
}

func (c *testClient) waitConnected() {
	c.t.Helper()
	select {
	case <-c.connected:
	case <-time.After(15 * time.Second):
		c.t.Fatal("client did not connect")
	}
}

// sendLoop sends marked G.711 (or telephone-events) every c.interval.
func (c *testClient) sendLoop() {
	defer c.wg.Done()
	select {
	case <-c.connected:
	case <-c.ctx.Done():
		return
	}
	tk := time.NewTicker(c.interval)
	defer tk.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tk.C:
		}
		audio, te, ok := c.track.binding()
		if !ok {
			continue
		}
		c.mu.Lock()
		if !c.sending {
			c.mu.Unlock()
			continue
		}
		t := &c.tx
		ts := t.ts
		t.ts += 160
		if te != nil && (len(c.dtmf.queue) > 0 || c.dtmf.cur > 0 || c.dtmf.gap > 0) {
			if d := c.dtmf.next(ts, te.ClockRate/50); d.active {
				h := rtp.Header{Version: 2, PayloadType: uint8(te.PayloadType), SequenceNumber: t.seq, Timestamp: d.ts, Marker: d.marker}
				if c.track.write(&h, d.payload) == nil {
					t.seq++
					t.dtmfSent++
				}
				c.mu.Unlock()
				continue
			}
		}
		t.tone.fill(t.pcm)
		payload := make([]byte, 160)
		if strings.EqualFold(audio.MimeType, webrtc.MimeTypePCMA) {
			EncodeAlaw(payload, t.pcm)
		} else {
			EncodeUlaw(payload, t.pcm)
		}
		MarkPayload(payload, uint32(t.sent))
		h := rtp.Header{Version: 2, PayloadType: uint8(audio.PayloadType), SequenceNumber: t.seq, Timestamp: ts}
		if c.track.write(&h, payload) == nil {
			t.seq++
			t.sent++
		}
		c.mu.Unlock()
	}
}

func (c *testClient) onTrack(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	c.wg.Add(2)
	defer c.wg.Done()
	go func() {
		defer c.wg.Done()
		for {
			pkts, _, err := recv.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.SenderReport); ok {
					c.srOnce.Do(func() { close(c.gotSR) })
				}
			}
		}
	}()
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			if errors.Is(err, io.EOF) || c.ctx.Err() != nil {
				return
			}
			continue
		}
		c.mu.Lock()
		c.pkts = append(c.pkts, *pkt)
		c.mu.Unlock()
		switch strings.ToLower(track.Codec().MimeType) {
		case "audio/telephone-event":
			c.rx.event(pkt.SequenceNumber, pkt.Timestamp, pkt.Payload)
		case "audio/pcmu":
			c.rx.audio(pkt.SequenceNumber, pkt.Payload, "PCMU")
		case "audio/pcma":
			c.rx.audio(pkt.SequenceNumber, pkt.Payload, "PCMA")
		default:
			c.rx.audio(pkt.SequenceNumber, pkt.Payload, "")
		}
	}
}

func (c *testClient) stats() Stats {
	var st Stats
	c.rx.fill(&st)
	return st
}

func (c *testClient) waitPackets(n uint64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.rx.waitFor(ctx, func(s *rxStats) bool { return s.packets >= n }); err != nil {
		c.t.Fatalf("client: waiting for %d packets: %v (have %+v)", n, err, c.stats())
	}
}

func (c *testClient) waitDigits(n int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.rx.waitFor(ctx, func(s *rxStats) bool { return len(s.digits) >= n }); err != nil {
		c.t.Fatalf("client: waiting for %d digits: %v (have %q)", n, err, c.stats().Digits)
	}
}

// packets returns all packets received so far.
func (c *testClient) packets() []rtp.Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]rtp.Packet(nil), c.pkts...)
}
