package farend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"
)

// Config configures one far end.
type Config struct {
	// AllowLoopback includes loopback candidates and restricts gathering to
	// loopback addresses (tests).
	AllowLoopback bool
	// IPs are optional NAT 1:1 / advertised IPs for host candidates.
	IPs []string
	// ToneHz is the frequency of the tone this far end sends (default 1000).
	ToneHz float64
	// Codecs are offered/accepted in this order; default DefaultCodecs.
	// Entries: "PCMU", "PCMU/8000", "opus/48000/2", "telephone-event/8000", ...
	Codecs []string
	// Prefer names codecs (as in Codecs) that Answer picks, in this order,
	// when the offer lists them; otherwise Answer picks the offer's first
	// supported codec (the offerer's preference, RFC 3264 §6.1).
	Prefer []string
	// ICEGatherTimeout bounds full ICE gathering before SDP is returned
	// (no trickle); default 5s. On timeout the SDP is returned as it stands.
	ICEGatherTimeout time.Duration
	Logger           *zap.Logger
}

// Errors.
var (
	// ErrNoCommonCodec: the remote SDP has no audio or no codec we support.
	ErrNoCommonCodec = errors.New("farend: no common audio codec")
	// ErrState: the call is not in a state that allows the operation.
	ErrState = errors.New("farend: operation not allowed in this state")
	// ErrRenegotiation: a re-offer/answer changes more than the direction (e.g. ICE restart).
	ErrRenegotiation = errors.New("farend: unsupported renegotiation")
	// ErrClosed: the far end was closed.
	ErrClosed = errors.New("farend: closed")
	// ErrBadDirection: Reoffer was given an unknown direction.
	ErrBadDirection = errors.New("farend: invalid direction")
	// ErrConnectionFailed: the PeerConnection failed or closed before connecting.
	ErrConnectionFailed = errors.New("farend: peer connection failed")
)

type sigState int

const (
	stIdle        sigState = iota
	stOffered              // initial offer out, waiting for SetAnswer
	stEstablished          // stable
	stReoffered            // re-offer out, waiting for SetAnswer
	stFailed               // initial negotiation failed; only Close is useful
)

// FarEnd is the network side of one simulated call. Its methods are safe for
// concurrent use.
type FarEnd struct {
	cfg    Config
	codecs []codecSpec
	prefer []codecSpec
	log    *zap.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// statsMu keeps pion's GetStats and PeerConnection close apart: GetStats reads
	// the PeerConnection's stats getter without pion's lock while close clears it.
	statsMu sync.Mutex
	track   *rawTrack
	rx      *rxStats

	connected chan struct{} // closed on PeerConnectionStateConnected
	failed    chan struct{} // closed on Failed/Closed
	connOnce  sync.Once
	failOnce  sync.Once

	mu          sync.Mutex
	closed      bool
	pc          *webrtc.PeerConnection
	sender      *webrtc.RTPSender
	state       sigState
	localSDP    string // last local SDP handed out
	remoteUfrag string
	dtlsRole    string // our established a=setup role: active or passive
	want        string // direction we want (Reoffer), default sendrecv
	dir         string // current direction
	pendingDir  string // direction of an outstanding Reoffer
	srtpProfile string // read once after connecting
	tx          txState
	dtmf        dtmfSender
}

// New validates cfg and returns an idle far end; the PeerConnection is
// created by Answer or Offer.
func New(cfg Config) (*FarEnd, error) {
	codecs, err := parseCodecs(cfg.Codecs)
	if err != nil {
		return nil, err
	}
	var prefer []codecSpec
	if len(cfg.Prefer) > 0 {
		if prefer, err = parseCodecs(cfg.Prefer); err != nil {
			return nil, err
		}
	}
	hasAudio := false
	for _, c := range codecs {
		hasAudio = hasAudio || !c.isTE()
	}
	if !hasAudio {
		return nil, fmt.Errorf("%w: Config.Codecs has no audio codec", ErrUnknownCodec)
	}
	for _, ip := range cfg.IPs {
		if net.ParseIP(ip) == nil {
			return nil, fmt.Errorf("farend: invalid IP %q", ip)
		}
	}
	if cfg.ToneHz <= 0 {
		cfg.ToneHz = 1000
	}
	if cfg.ICEGatherTimeout <= 0 {
		cfg.ICEGatherTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &FarEnd{
		cfg: cfg, codecs: codecs, prefer: prefer, log: cfg.Logger, ctx: ctx, cancel: cancel,
		track: &rawTrack{}, rx: newRxStats(),
		connected: make(chan struct{}), failed: make(chan struct{}),
		want: DirSendRecv, dir: DirSendRecv,
	}
	f.tx.init(cfg.ToneHz)
	f.wg.Add(1)
	go f.sendLoop()
	return f, nil
}

// newPC creates the PeerConnection with the given codecs and our track.
// Called with f.mu held.
func (f *FarEnd) newPCLocked(me *webrtc.MediaEngine) error {
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if f.cfg.AllowLoopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(isLoopbackInterface)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	}
	if len(f.cfg.IPs) > 0 {
		se.SetNAT1To1IPs(f.cfg.IPs, webrtc.ICECandidateTypeHost)
	}
	// RTCP sender/receiver reports like a real media gateway; no NACK/TWCC.
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return fmt.Errorf("farend: rtcp reports: %w", err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(reg))
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		// Neither the browser SDK nor the real network use RFC 9335 cryptex.
		RTPHeaderEncryptionPolicy: webrtc.RTPHeaderEncryptionPolicyDisable,
	})
	if err != nil {
		return fmt.Errorf("farend: new peer connection: %w", err)
	}
	sender, err := pc.AddTrack(f.track)
	if err != nil {
		_ = pc.Close()
		return fmt.Errorf("farend: add track: %w", err)
	}
	pc.OnConnectionStateChange(f.onConnectionState)
	pc.OnTrack(f.onTrack)
	f.pc, f.sender = pc, sender
	f.wg.Add(1)
	go f.drainRTCP(sender)
	return nil
}

// onConnectionState runs in a goroutine pion starts and does not wait for;
// it works under f.mu and does nothing once Close has begun, so nothing
// (e.g. a test logger) is touched after Close returns.
// drainRTCP reads the RTCP arriving for our sender (so the report
// interceptor sees it) until the PeerConnection closes.
func (f *FarEnd) drainRTCP(sender *webrtc.RTPSender) {
	defer f.wg.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := sender.Read(buf); err != nil {
			return
		}
	}
}

func isLoopbackInterface(name string) bool {
	ifc, err := net.InterfaceByName(name)
	return err == nil && ifc.Flags&net.FlagLoopback != 0
}

func (f *FarEnd) onConnectionState(s webrtc.PeerConnectionState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.log.Debug("far end connection state", zap.String("state", s.String()))
	switch s {
	case webrtc.PeerConnectionStateConnected:
		f.connOnce.Do(func() { close(f.connected) })
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		f.failOnce.Do(func() { close(f.failed) })
	}
}

// Answer answers the client's initial offer (outbound call). It picks the
// first codec of the offer that we support, plus telephone-event if offered.
func (f *FarEnd) Answer(ctx context.Context, offer string) (string, error) {
	sec, err := parseAudio(offer)
	if err != nil {
		return "", err
	}
	audio, te, spec, err := chooseAnswerCodecs(f.codecs, sec.Codecs, f.prefer)
	if err != nil {
		return "", err
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(*audio, webrtc.RTPCodecTypeAudio); err != nil {
		return "", fmt.Errorf("farend: register %s: %w", spec, err)
	}
	if te != nil {
		if err := me.RegisterCodec(*te, webrtc.RTPCodecTypeAudio); err != nil {
			return "", fmt.Errorf("farend: register telephone-event: %w", err)
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return "", ErrClosed
	}
	if f.state != stIdle {
		return "", fmt.Errorf("%w: Answer after the call was negotiated", ErrState)
	}
	if err := f.newPCLocked(me); err != nil {
		return "", err
	}
	f.state = stFailed // until the answer is complete; Close releases the PC
	if err := f.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("farend: apply offer: %w", err)
	}
	ans, err := f.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("farend: create answer: %w", err)
	}
	local, err := f.setLocalAndGatherLocked(ctx, ans)
	if err != nil {
		return "", err
	}
	f.remoteUfrag = sec.Ufrag
	f.dtlsRole = setupOf(local)
	f.dir = intersectDirection(f.want, sec.Direction)
	f.localSDP = local
	f.state = stEstablished
	f.log.Info("far end answered", zap.String("codec", spec.String()), zap.String("direction", f.dir))
	return local, nil
}

// Offer makes the network's initial offer (inbound call): all configured
// codecs (default opus, G722, PCMU, PCMA, telephone-event) as the real network.
func (f *FarEnd) Offer(ctx context.Context) (string, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range f.codecs {
		if err := me.RegisterCodec(c.params(c.PT, c.Fmtp), webrtc.RTPCodecTypeAudio); err != nil {
			return "", fmt.Errorf("farend: register %s: %w", c, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return "", ErrClosed
	}
	if f.state != stIdle {
		return "", fmt.Errorf("%w: Offer after the call was negotiated", ErrState)
	}
	if err := f.newPCLocked(me); err != nil {
		return "", err
	}
	f.state = stFailed // until the offer is complete; Close releases the PC
	off, err := f.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("farend: create offer: %w", err)
	}
	local, err := f.setLocalAndGatherLocked(ctx, off)
	if err != nil {
		return "", err
	}
	f.localSDP = local
	f.state = stOffered
	return local, nil
}

// setLocalAndGatherLocked applies desc and waits for ICE gathering to
// complete (or Config.ICEGatherTimeout), returning the resulting local SDP.
func (f *FarEnd) setLocalAndGatherLocked(ctx context.Context, desc webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(f.pc)
	if err := f.pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("farend: set local description: %w", err)
	}
	timer := time.NewTimer(f.cfg.ICEGatherTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		f.log.Warn("far end ICE gathering timed out; returning SDP as it stands")
	case <-ctx.Done():
		return "", fmt.Errorf("farend: waiting for ICE gathering: %w", ctx.Err())
	case <-f.ctx.Done():
		return "", ErrClosed
	}
	return withDefaultCandidate(f.pc.LocalDescription().SDP), nil
}

// SetAnswer applies the client's answer to our Offer or Reoffer.
func (f *FarEnd) SetAnswer(answer string) error {
	sec, err := parseAudio(answer)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	switch f.state {
	case stOffered:
		if !answersAudio(f.codecs, sec.Codecs) {
			// Checked before pion sees it: pion would apply the answer
			// and then fail to start the track, leaving no offer.
			return fmt.Errorf("%w: the answer has none of the offered audio codecs", ErrNoCommonCodec)
		}
		view, err := alignFmtp(answer, f.codecs)
		if err != nil {
			return err
		}
		if err := f.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: view}); err != nil {
			// pion rejects e.g. an answer without a common codec; the offer
			// stays outstanding so a corrected answer can be applied.
			return fmt.Errorf("farend: apply answer: %w", err)
		}
		f.remoteUfrag = sec.Ufrag
		switch setupOf(answer) {
		case "active":
			f.dtlsRole = "passive"
		default:
			f.dtlsRole = "active"
		}
		f.dir = intersectDirection(f.want, sec.Direction)
		f.state = stEstablished
		return nil
	case stReoffered:
		if sec.Ufrag != f.remoteUfrag {
			return fmt.Errorf("%w: answer changes ICE credentials", ErrRenegotiation)
		}
		f.want = f.pendingDir
		f.dir = intersectDirection(f.pendingDir, sec.Direction)
		f.state = stEstablished
		f.log.Info("far end re-offer answered", zap.String("direction", f.dir))
		return nil
	}
	return fmt.Errorf("%w: no offer outstanding", ErrState)
}

// Reoffer makes a network-side hold/resume re-offer with direction dir
// ("sendrecv", "sendonly", "recvonly", "inactive"): the current local SDP with
// the new direction, a=setup:actpass and the o= version incremented. Sending
// follows the direction: with sendonly (network hold) the far end keeps
// sending its tone, like music on hold; with recvonly/inactive it stops at
// once. The final direction is set by SetAnswer (offered ∩ answered).
func (f *FarEnd) Reoffer(ctx context.Context, dir string) (string, error) {
	if !validDirection(dir) {
		return "", fmt.Errorf("%w: %q", ErrBadDirection, dir)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return "", ErrClosed
	}
	if f.state != stEstablished {
		return "", fmt.Errorf("%w: Reoffer needs an established call", ErrState)
	}
	offer := rewriteSDP(f.localSDP, dir, "actpass")
	f.localSDP = offer
	f.pendingDir = dir
	f.dir = makeDirection(canSend(f.dir) && canSend(dir), canRecv(f.dir) && canRecv(dir))
	f.state = stReoffered
	return offer, nil
}

// AnswerReoffer answers the client's hold/resume re-offer per RFC 3264 §6.1
// (sendonly→recvonly, inactive→inactive, sendrecv→sendrecv, recvonly→sendonly),
// limited by our own hold state from Reoffer.
func (f *FarEnd) AnswerReoffer(ctx context.Context, offer string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	sec, err := parseAudio(offer)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return "", ErrClosed
	}
	if f.state != stEstablished {
		return "", fmt.Errorf("%w: AnswerReoffer needs an established call", ErrState)
	}
	if sec.Ufrag != f.remoteUfrag {
		return "", fmt.Errorf("%w: re-offer changes ICE credentials (ICE restart)", ErrRenegotiation)
	}
	if audio, _, ok := f.track.binding(); ok {
		spec, _ := specFor(audio)
		found := false
		for _, c := range sec.Codecs {
			found = found || spec.matches(c.Name, c.Rate, c.Channels)
		}
		if !found {
			return "", fmt.Errorf("%w: re-offer drops the negotiated codec %s", ErrNoCommonCodec, spec)
		}
	}
	dir := intersectDirection(f.want, sec.Direction)
	answer := rewriteSDP(f.localSDP, dir, f.dtlsRole)
	f.localSDP = answer
	f.dir = dir
	f.log.Info("far end answered re-offer", zap.String("offered", sec.Direction), zap.String("direction", dir))
	return answer, nil
}

// WaitConnected returns when the PeerConnection is connected (ICE + DTLS).
func (f *FarEnd) WaitConnected(ctx context.Context) error {
	select {
	case <-f.connected:
		return nil
	case <-f.failed:
		return ErrConnectionFailed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitPackets returns when at least n audio packets have been received.
func (f *FarEnd) WaitPackets(ctx context.Context, n uint64) error {
	return f.rx.waitFor(ctx, func(s *rxStats) bool { return s.packets >= n })
}

// WaitDigits returns when at least n DTMF digits have been received.
func (f *FarEnd) WaitDigits(ctx context.Context, n int) error {
	return f.rx.waitFor(ctx, func(s *rxStats) bool { return len(s.digits) >= n })
}

// Stats returns a snapshot of the counters.
func (f *FarEnd) Stats() Stats {
	var st Stats
	f.rx.fill(&st)
	if audio, te, ok := f.track.binding(); ok {
		if spec, ok := specFor(audio); ok {
			st.Codec = spec.String()
		}
		st.PayloadType = uint8(audio.PayloadType)
		if te != nil {
			if spec, ok := specFor(*te); ok {
				st.TelephoneEvent = spec.String()
			}
		}
	}
	f.mu.Lock()
	st.Direction = f.dir
	st.SRTPProfile = f.srtpProfile
	st.PacketsSent = f.tx.sent
	st.DTMFPacketsSent = f.tx.dtmfSent
	pc, sender := f.pc, f.sender
	f.mu.Unlock()
	if pc != nil {
		st.ICEState = pc.ICEConnectionState().String()
	}
	if sender != nil {
		if tr := sender.Transport(); tr != nil {
			st.DTLSState = tr.State().String()
		}
	}
	return st
}

// Close stops media, closes the PeerConnection and waits for every goroutine
// (ours and pion's) to finish. It is idempotent.
func (f *FarEnd) Close() error {
	f.cancel() // first: interrupts an Answer/Offer waiting for ICE gathering under f.mu
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	pc := f.pc
	f.mu.Unlock()
	var err error
	if pc != nil {
		f.statsMu.Lock() // a readSRTPProfile in flight finishes first; later ones see closed
		err = pc.GracefulClose()
		f.statsMu.Unlock()
	}
	f.wg.Wait()
	return err
}
