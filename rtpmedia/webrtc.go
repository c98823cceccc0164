package rtpmedia

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"
)

// Defaults for WebRTCConfig fields left zero.
const (
	DefaultICEGatherTimeout = 5 * time.Second
	DefaultICEFailedTimeout = 15 * time.Second
)

// WebRTCConfig configures the WebRTCEngine.
type WebRTCConfig struct {
	// AllowLoopback includes loopback candidates and restricts gathering to
	// loopback IPv4 addresses (tests).
	AllowLoopback bool
	// NAT1To1IPs are the advertised host IPs (1:1 NAT): host candidates carry
	// them instead of the local addresses.
	NAT1To1IPs []string
	// IPFilter, when set, keeps only local addresses it returns true for.
	IPFilter func(netip.Addr) bool
	// UDPPortMin/UDPPortMax restrict the ephemeral UDP ports (0 = any).
	UDPPortMin, UDPPortMax uint16
	// UDPMuxPort serves every leg on one shared UDP port (ICE UDP mux);
	// 0 = off, < 0 = a kernel-chosen port (tests; see UDPMuxAddr).
	UDPMuxPort int
	// STUNServers are "stun:host:port" URLs for server-reflexive candidates.
	STUNServers []string
	// ICEGatherTimeout bounds full ICE gathering before SDP is produced (no
	// trickle); on timeout the SDP is used as it stands. 0 = 5s.
	ICEGatherTimeout time.Duration
	// ICEFailedTimeout: without ICE consent (no STUN responses) for this
	// long the leg fails and Done is closed; also how a peer that closed
	// DTLS is noticed. 0 = 15s.
	ICEFailedTimeout time.Duration
	// DisableRTCPReports turns off the RTCP sender/receiver reports pion
	// generates (on by default, as a real endpoint sends them).
	DisableRTCPReports bool
	// DisableFastPath keeps SRTP in pion's packet path (see fastpath.go; A/B
	// comparisons and a fallback for operators).
	DisableFastPath bool
	// RTCPInterval is the report interval of legs that send their own RTCP
	// (fast-path engines, webrtc_rtcp.go); 0 = 5s.
	RTCPInterval time.Duration
	Logger       *zap.Logger
}

// WebRTC leg errors.
var (
	// ErrWebRTCClosed: the leg was closed (wraps net.ErrClosed).
	ErrWebRTCClosed = fmt.Errorf("rtpmedia: WebRTC leg closed: %w", net.ErrClosed)
	// ErrWebRTCFailed: ICE failed or the peer closed DTLS.
	ErrWebRTCFailed = errors.New("rtpmedia: WebRTC connection failed")
	// ErrWebRTCState: the operation does not fit the offer/answer state.
	ErrWebRTCState = errors.New("rtpmedia: WebRTC offer/answer state")
	// ErrRenegotiation: a re-offer/answer changes the transport (ICE restart), unsupported (SIP 488).
	ErrRenegotiation = errors.New("rtpmedia: unsupported WebRTC renegotiation")
)

// muxSocketBuffer is the receive and send buffer asked for the shared ICE UDP
// socket (the kernel caps it at net.core.rmem_max / wmem_max).
const muxSocketBuffer = 4 << 20

// WebRTCEngine holds what all WebRTC legs of a gateway share: the pion
// setting engine (ICE/DTLS-SRTP settings, AEAD_AES_128_GCM preferred) and
// the optional ICE UDP mux. Each leg gets its own media engine.
type WebRTCEngine struct {
	cfg     WebRTCConfig
	log     *zap.Logger
	se      webrtc.SettingEngine
	ice     []webrtc.ICEServer
	muxConn *net.UDPConn
	mux     ice.UDPMux
	fast    *fastEngine // nil: no fast path

	certMu sync.Mutex
	cert   *webrtc.Certificate // the DTLS certificate all legs share (certificate)
}

// certRenewBefore: a shared certificate this close to its expiry (pion makes
// them valid for a month) is replaced for new legs.
const certRenewBefore = 24 * time.Hour

// certificate returns the DTLS certificate of new legs: one ECDSA P-256
// self-signed certificate for all of them (what browsers do per origin),
// instead of pion generating a key pair and certificate per PeerConnection
// at every call set-up.
func (e *WebRTCEngine) certificate() (webrtc.Certificate, error) {
	e.certMu.Lock()
	defer e.certMu.Unlock()
	if e.cert == nil || time.Until(e.cert.Expires()) < certRenewBefore {
		sk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("rtpmedia: DTLS key: %w", err)
		}
		c, err := webrtc.GenerateCertificate(sk)
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("rtpmedia: DTLS certificate: %w", err)
		}
		e.cert = c
	}
	return *e.cert, nil
}

// NewWebRTCEngine validates cfg and prepares the shared settings.
func NewWebRTCEngine(cfg WebRTCConfig) (*WebRTCEngine, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ICEGatherTimeout <= 0 {
		cfg.ICEGatherTimeout = DefaultICEGatherTimeout
	}
	if cfg.ICEFailedTimeout <= 0 {
		cfg.ICEFailedTimeout = DefaultICEFailedTimeout
	}
	e := &WebRTCEngine{cfg: cfg, log: cfg.Logger}
	se := &e.se
	if !cfg.DisableFastPath {
		sn, err := stdnet.NewNet()
		if err != nil {
			return nil, fmt.Errorf("rtpmedia: network interfaces: %w", err)
		}
		e.fast = newFastEngine(e.log)
		se.SetNet(&fastNet{Net: sn, fe: e.fast})
		se.SetDTLSKeyLogWriter(e.fast)
	}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	// pion closes the PeerConnection from a goroutine of its own when the
	// peer sends DTLS close_notify, which races (go test -race) with
	// GetStats. The leg closes it only in Close; a peer that went away is
	// noticed by ICE consent failure (ICEFailedTimeout) and reported on Done.
	se.DisableCloseByDTLS(true)
	se.SetICETimeouts(min(5*time.Second, cfg.ICEFailedTimeout/2), cfg.ICEFailedTimeout, time.Second)
	filter := cfg.IPFilter
	if cfg.AllowLoopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(isLoopbackInterface)
		user := filter
		filter = func(a netip.Addr) bool { return a.IsLoopback() && a.Is4() && (user == nil || user(a)) }
	}
	if filter != nil {
		se.SetIPFilter(func(ip net.IP) bool {
			a, ok := netip.AddrFromSlice(ip)
			return ok && filter(a.Unmap())
		})
	}
	if len(cfg.NAT1To1IPs) > 0 {
		for _, ip := range cfg.NAT1To1IPs {
			if _, err := netip.ParseAddr(ip); err != nil {
				return nil, newError(ErrInvalidConfig, 500, "NAT1To1IPs: %q is not an IP address", ip)
			}
		}
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.NAT1To1IPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, newError(ErrInvalidConfig, 500, "NAT1To1IPs: %v", err)
		}
	}
	if cfg.UDPPortMin != 0 || cfg.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, newError(ErrInvalidConfig, 500, "UDP port range %d-%d: %v", cfg.UDPPortMin, cfg.UDPPortMax, err)
		}
	}
	for _, s := range cfg.STUNServers {
		e.ice = append(e.ice, webrtc.ICEServer{URLs: []string{s}})
	}
	if cfg.UDPMuxPort != 0 {
		ip := net.IPv4zero
		if cfg.AllowLoopback {
			ip = net.IPv4(127, 0, 0, 1)
		}
		port := max(cfg.UDPMuxPort, 0)
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: port})
		if err != nil {
			return nil, fmt.Errorf("rtpmedia: ICE UDP mux on port %d: %w", port, err)
		}
		// One socket carries every call's media: a reader that falls behind
		// for a few ms must not overflow the default ~200 KiB buffer (about
		// 200 packets; 400 calls send 20000/s).
		if err := conn.SetReadBuffer(muxSocketBuffer); err != nil {
			e.log.Warn("ICE UDP mux: cannot enlarge the receive buffer", zap.Error(err))
		}
		if err := conn.SetWriteBuffer(muxSocketBuffer); err != nil {
			e.log.Warn("ICE UDP mux: cannot enlarge the send buffer", zap.Error(err))
		}
		e.muxConn = conn
		var pc net.PacketConn = conn
		if e.fast != nil {
			pc = e.fast.wrap(conn)
		}
		e.mux = webrtc.NewICEUDPMux(nil, pc)
		se.SetICEUDPMux(e.mux)
	}
	return e, nil
}

// UDPMuxAddr returns the local address of the shared ICE UDP port (invalid if off).
func (e *WebRTCEngine) UDPMuxAddr() netip.AddrPort {
	if e.muxConn == nil {
		return netip.AddrPort{}
	}
	return e.muxConn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// FastPathStats are the SRTP packets the fast path decrypted itself (In) and
// those from an established leg's address it handed to pion (Fallback).
func (e *WebRTCEngine) FastPathStats() (in, fallback uint64) {
	if e.fast == nil {
		return 0, 0
	}
	return e.fast.fastIn.Load(), e.fast.fallbackIn.Load()
}

// Close releases the shared UDP mux. Legs should be closed first.
func (e *WebRTCEngine) Close() error {
	if e.mux != nil {
		return e.mux.Close()
	}
	return nil
}

// isLoopbackInterface is pion's interface filter with AllowLoopback. pion
// calls it for every interface at every gathering (each call set-up); the
// answer is cached per name, as net.InterfaceByName dumps the routing
// netlink tables each time (about 100 KiB of allocations per call).
func isLoopbackInterface(name string) bool {
	if v, ok := loopbackIfaces.Load(name); ok {
		return v.(bool)
	}
	ifc, err := net.InterfaceByName(name)
	lo := err == nil && ifc.Flags&net.FlagLoopback != 0
	if err == nil {
		loopbackIfaces.Store(name, lo)
	}
	return lo
}

var loopbackIfaces sync.Map // interface name → bool

// legState is the offer/answer state of a WebRTCLeg.
type legState int

const (
	legIdle        legState = iota
	legOffered              // our initial offer is out
	legEstablished          // stable
	legReoffered            // our hold/resume re-offer is out
	legFailed               // initial negotiation failed
)

// WebRTCStats is a snapshot of a WebRTCLeg.
type WebRTCStats struct {
	PacketsIn, PacketsOut uint64
	BytesIn, BytesOut     uint64 // RTP payload bytes
	Dropped               uint64 // received but not returned (malformed, not receiving)
	Codec                 Codec
	DTMF                  *Codec
	Direction             Direction // our negotiated direction
	ICEState              string
	DTLSState             string
	PeerState             string // PeerConnection state: new, connecting, connected, failed, closed
	SRTPProfile           string // negotiated DTLS-SRTP profile, e.g. "SRTP_AEAD_AES_128_GCM", once connected
	RemoteSSRC            uint32
	LocalSSRC             uint32
	RTCPIn                uint64 // SRTCP packets the fast path took (pion's path does not count them)
}

// WebRTCLeg is the DTLS-SRTP media of one call toward the network's media
// gateway: one pion PeerConnection with one audio transceiver (BUNDLE,
// rtcp-mux), fully gathered SDP (no trickle). Hold and resume are offered
// and answered by rewriting the direction of the current local description,
// leaving ICE, DTLS and SSRCs untouched (pion does not implement RFC 3264
// direction changes); ICE restarts are refused with ErrRenegotiation.
// ReadRTP must be called from one goroutine; everything else is safe for
// concurrent use.
type WebRTCLeg struct {
	e      *WebRTCEngine
	log    *zap.Logger
	codecs []Codec // ours: audio in preference order + telephone-event
	track  *legTrack

	mu          sync.Mutex
	closed      bool
	pc          *webrtc.PeerConnection
	dtls        *webrtc.DTLSTransport
	state       legState
	localSDP    string
	lastAnswer  string // last remote answer applied (SetAnswer idempotency)
	remoteUfrag string
	dtlsRole    string // our DTLS role: "active" or "passive"
	want        Direction
	pendingDir  Direction
	codec       Codec
	dtmf        *Codec
	srtpProfile string

	dir        atomic.Int32 // our current Direction (hot path gating)
	remote     atomic.Pointer[webrtc.TrackRemote]
	trackReady chan struct{}
	trackOnce  sync.Once

	connected chan struct{}
	connOnce  sync.Once
	done      chan struct{}
	doneOnce  sync.Once
	errMu     sync.Mutex
	err       error
	wg        sync.WaitGroup

	wmu   sync.Mutex
	whdr  rtp.Header
	wsrtp rtp.Header                            // fast path SRTP scratch, under wmu
	wbuf  [maxPacketSize + srtpMaxOverhead]byte // fast path send buffer, under wmu

	// SRTP fast path (fastpath.go): fast is set once DTLS is up and the keys
	// are known; push is the receiver the relay registered (setPush).
	fast       atomic.Pointer[fastLeg]
	push       atomic.Pointer[func(*rtp.Packet)]
	remoteSSRC atomic.Uint32
	// While the fast path pushes every packet, ReadRTP returns errPushing
	// and the relay's reader goroutine stops; needRead (the relay's) is
	// called when ReadRTP may have packets again or the leg ended. wake is
	// closed (and replaced) when a blocked ReadRTP must re-check.
	needRead atomic.Pointer[func()]
	wake     atomic.Pointer[chan struct{}]

	// pion's RTCP readers (sender, receiver) and whether they are drained.
	rtcpReaders []func([]byte) (int, interceptor.Attributes, error) // set under mu before Connected
	drainMu     sync.Mutex
	draining    bool
	drainClosed bool // Close: no more drains start
	rtcpIn      atomic.Uint64

	// Own RTCP (webrtc_rtcp.go): reports is set under mu.
	smu     sync.Mutex
	rtcpSt  webrtcRTCP
	reports *periodicTimer

	packetsIn, packetsOut, bytesIn, bytesOut, dropped atomic.Uint64
}

// NewLeg prepares a leg that will carry the given codecs (preference order,
// e.g. the SIP phone's list) plus telephone-event (added at 8000 Hz, and at
// 48000 Hz when a 48 kHz codec is listed, unless present). Nothing is bound
// until CreateOffer or AcceptOffer.
func (e *WebRTCEngine) NewLeg(codecs []Codec) (*WebRTCLeg, error) {
	codecs = codecsOrDefault(codecs)
	var list []Codec
	used := map[uint8]bool{}
	rates := map[uint32]bool{}
	dtmfRates := map[uint32]bool{}
	for _, c := range codecs {
		if c.Name == "" || c.ClockRate == 0 {
			continue
		}
		if used[c.PayloadType] {
			return nil, newError(ErrInvalidConfig, 500, "payload type %d used twice", c.PayloadType)
		}
		used[c.PayloadType] = true
		if c.IsDTMF() {
			dtmfRates[c.ClockRate] = true
		} else {
			rates[c.ClockRate] = true
		}
		list = append(list, c)
	}
	if len(rates) == 0 {
		return nil, newError(ErrInvalidConfig, 500, "no audio codec for the WebRTC leg")
	}
	for _, rate := range []uint32{8000, 48000} {
		if (rate == 8000 || rates[rate]) && !dtmfRates[rate] {
			pt := freePT(used, 101)
			used[pt] = true
			list = append(list, Codec{Name: telephoneEvent, PayloadType: pt, ClockRate: rate, Fmtp: "0-16"})
		}
	}
	l := &WebRTCLeg{
		e: e, log: e.log, codecs: list, track: &legTrack{},
		trackReady: make(chan struct{}), done: make(chan struct{}), connected: make(chan struct{}),
	}
	wake := make(chan struct{})
	l.wake.Store(&wake)
	l.rtcpSt.epoch, l.rtcpSt.clock = time.Now(), DefaultClockRate
	return l, nil
}

// freePT returns the first unused dynamic payload type from pref on.
func freePT(used map[uint8]bool, pref uint8) uint8 {
	for pt := pref; pt <= 127; pt++ {
		if !used[pt] {
			return pt
		}
	}
	for pt := uint8(96); pt < pref; pt++ {
		if !used[pt] {
			return pt
		}
	}
	return pref
}

// codecParams converts a Codec to pion's representation.
func codecParams(c Codec) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType:    "audio/" + c.Name,
			ClockRate:   c.ClockRate,
			Channels:    c.Channels,
			SDPFmtpLine: c.Fmtp,
		},
		PayloadType: webrtc.PayloadType(c.PayloadType),
	}
}

// newPCLocked creates the PeerConnection for formats. Called with l.mu held.
func (l *WebRTCLeg) newPCLocked(formats []Codec) error {
	me := &webrtc.MediaEngine{}
	for _, c := range formats {
		if err := me.RegisterCodec(codecParams(c), webrtc.RTPCodecTypeAudio); err != nil {
			return fmt.Errorf("rtpmedia: register %s: %w", c, err)
		}
	}
	reg := &interceptor.Registry{}
	if !l.e.cfg.DisableRTCPReports && !l.ownRTCP() {
		// Registered first = innermost: it hands the report interceptor a
		// reused, pre-parsed header so receiving does not allocate.
		reg.Add(headerAttrFactory{})
		if err := webrtc.ConfigureRTCPReports(reg); err != nil {
			return fmt.Errorf("rtpmedia: RTCP reports: %w", err)
		}
	}
	cert, err := l.e.certificate()
	if err != nil {
		return err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(l.e.se), webrtc.WithInterceptorRegistry(reg))
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		Certificates: []webrtc.Certificate{cert},
		ICEServers:   l.e.ice,
		// Neither the browser SDK nor the network use RFC 9335 cryptex.
		RTPHeaderEncryptionPolicy: webrtc.RTPHeaderEncryptionPolicyDisable,
	})
	if err != nil {
		return fmt.Errorf("rtpmedia: new peer connection: %w", err)
	}
	sender, err := pc.AddTrack(l.track)
	if err != nil {
		_ = pc.Close()
		return fmt.Errorf("rtpmedia: add track: %w", err)
	}
	pc.OnConnectionStateChange(l.onConnectionState)
	pc.OnTrack(l.onTrack)
	if tr := sender.Transport(); tr != nil {
		tr.OnStateChange(l.onDTLSState)
		l.dtls = tr
		if it := tr.ICETransport(); it != nil && l.e.fast != nil {
			it.OnSelectedCandidatePairChange(l.onPairChange)
		}
	}
	l.pc = pc
	var receiver *webrtc.RTPReceiver
	for _, t := range pc.GetTransceivers() {
		if t.Sender() == sender {
			receiver = t.Receiver()
		}
	}
	l.rtcpReaders = append(l.rtcpReaders[:0], sender.Read)
	if receiver != nil {
		l.rtcpReaders = append(l.rtcpReaders, receiver.Read)
	}
	if l.e.fast == nil {
		l.startDrains()
	}
	return nil
}

// startDrains starts reading the RTCP pion receives (its buffers would fill
// otherwise). Legs on the fast path take their SRTCP themselves and need no
// such goroutines; this runs when a leg does not get onto it, or leaves it.
func (l *WebRTCLeg) startDrains() {
	l.drainMu.Lock()
	defer l.drainMu.Unlock()
	if l.draining || l.drainClosed {
		return
	}
	l.draining = true
	for _, read := range l.rtcpReaders {
		l.wg.Add(1)
		go l.drainRTCP(read)
	}
	// Off the fast path: received packets take pion's path to ReadRTP.
	defer l.wantReader()
}

// drainRTCP reads incoming RTCP so the report interceptors see it, until the
// PeerConnection closes.
func (l *WebRTCLeg) drainRTCP(read func([]byte) (int, interceptor.Attributes, error)) {
	defer l.wg.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := read(buf); err != nil {
			return
		}
	}
}

// onConnectionState runs in a goroutine pion starts.
func (l *WebRTCLeg) onConnectionState(s webrtc.PeerConnectionState) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return
	}
	l.log.Debug("webrtc connection state", zap.String("state", s.String()))
	switch s {
	case webrtc.PeerConnectionStateConnected:
		l.captureTransportStats()
		l.activateFastPath()
		l.startReports()
		l.connOnce.Do(func() { close(l.connected) })
	case webrtc.PeerConnectionStateFailed:
		l.finish(fmt.Errorf("%w: ICE/DTLS failed", ErrWebRTCFailed))
	case webrtc.PeerConnectionStateClosed:
		l.finish(fmt.Errorf("%w: closed by the peer (DTLS)", ErrWebRTCFailed))
	}
}

// captureTransportStats records the negotiated SRTP profile once, when the
// connection is up. It runs under l.mu and not after Close started: pion's
// GetStats must not run concurrently with its close (it reads statsGetter
// after releasing its lock).
func (l *WebRTCLeg) captureTransportStats() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.pc == nil || l.srtpProfile != "" {
		return
	}
	for _, st := range l.pc.GetStats() {
		if ts, ok := st.(webrtc.TransportStats); ok && ts.SRTPCipher != "" {
			l.srtpProfile = ts.SRTPCipher
		}
	}
}

// onDTLSState reports a DTLS transport closed or failed by the peer.
func (l *WebRTCLeg) onDTLSState(s webrtc.DTLSTransportState) {
	switch s {
	case webrtc.DTLSTransportStateClosed, webrtc.DTLSTransportStateFailed:
		l.finish(fmt.Errorf("%w: DTLS %s", ErrWebRTCFailed, s))
	}
}

// onTrack publishes the remote track to ReadRTP.
func (l *WebRTCLeg) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	l.remote.Store(t)
	l.trackOnce.Do(func() { close(l.trackReady) })
}

func (l *WebRTCLeg) finish(err error) {
	l.errMu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.errMu.Unlock()
	l.doneOnce.Do(func() { close(l.done) })
	l.wantReader() // ReadRTP reports the end
}

// Connected is closed once ICE and DTLS are up (media can flow).
func (l *WebRTCLeg) Connected() <-chan struct{} { return l.connected }

// Done is closed when the leg ends: ICE failed, DTLS closed, or Close.
func (l *WebRTCLeg) Done() <-chan struct{} { return l.done }

// Err returns why the leg ended (nil while it runs).
func (l *WebRTCLeg) Err() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

// setLocalAndGatherLocked applies desc, waits for ICE gathering to complete
// (or the gather timeout) and returns the local SDP. Called with l.mu held.
func (l *WebRTCLeg) setLocalAndGatherLocked(ctx context.Context, desc webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(l.pc)
	if err := l.pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("rtpmedia: set local description: %w", err)
	}
	timer := time.NewTimer(l.e.cfg.ICEGatherTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		l.log.Warn("ICE gathering timed out; using the SDP as it stands")
	case <-ctx.Done():
		return "", fmt.Errorf("rtpmedia: waiting for ICE gathering: %w", ctx.Err())
	}
	return withDefaultCandidate(l.pc.LocalDescription().SDP), nil
}

// CreateOffer makes our initial offer (outbound call): every codec of the
// leg plus telephone-event, sendrecv, fully gathered.
func (l *WebRTCLeg) CreateOffer(ctx context.Context) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(legIdle); err != nil {
		return "", err
	}
	l.state = legFailed // until the offer is complete; Close releases the PC
	if err := l.newPCLocked(l.codecs); err != nil {
		return "", err
	}
	off, err := l.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("rtpmedia: create offer: %w", err)
	}
	local, err := l.setLocalAndGatherLocked(ctx, off)
	if err != nil {
		return "", err
	}
	l.localSDP, l.want, l.state = local, SendRecv, legOffered
	l.dir.Store(int32(SendRecv))
	return local, nil
}

func (l *WebRTCLeg) usableLocked(want legState) error {
	if l.closed {
		return ErrWebRTCClosed
	}
	if l.state != want {
		return fmt.Errorf("%w: not allowed in state %d", ErrWebRTCState, l.state)
	}
	return nil
}

// SetAnswer applies the network's answer to CreateOffer (from a 183 or the
// 200). Applying an identical answer again is a no-op; a different answer
// with the same ICE credentials updates codec and direction.
func (l *WebRTCLeg) SetAnswer(answer string) error {
	m, err := parseWebRTCSDP(answer)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrWebRTCClosed
	}
	switch l.state {
	case legEstablished:
		if answer == l.lastAnswer {
			return nil
		}
		if m.Ufrag != l.remoteUfrag {
			return newError(ErrRenegotiation, 488, "a second answer with new ICE credentials")
		}
		return l.applyAnswerLocked(m, answer, l.want)
	case legReoffered:
		return l.setReofferAnswerLocked(m, answer)
	case legOffered:
	default:
		return fmt.Errorf("%w: no offer outstanding", ErrWebRTCState)
	}
	codec, ok := m.chooseOurs(l.codecs)
	if !ok {
		return newError(ErrNoCommonCodec, 488, "answer has none of our codecs")
	}
	// pion sees our fmtp for our formats (webrtc_fmtp.go).
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: alignAnswerFmtp(answer, l.codecs)}); err != nil {
		return fmt.Errorf("rtpmedia: apply answer: %w", err)
	}
	l.remoteUfrag = m.Ufrag
	l.dtlsRole = "active"
	if m.Setup == "active" {
		l.dtlsRole = "passive"
	}
	l.codec = codec
	return l.applyAnswerLocked(m, answer, l.want)
}

// applyAnswerLocked takes codec, DTMF and direction from an answer to our offer.
func (l *WebRTCLeg) applyAnswerLocked(m *webrtcMedia, answer string, want Direction) error {
	codec, ok := m.find(l.codec)
	if !ok {
		if codec, ok = m.chooseOurs(l.codecs); !ok {
			return newError(ErrNoCommonCodec, 488, "answer has none of our codecs")
		}
	}
	l.codec = codec
	l.dtmf = m.dtmfAt(codec.ClockRate)
	l.want = want
	l.dir.Store(int32(want.Intersect(m.Direction.Answer())))
	l.lastAnswer = answer
	l.state = legEstablished
	return nil
}

// AcceptOffer answers the network's initial offer (inbound call) with the
// first codec of OUR list that the offer has (plus telephone-event at its
// clock rate if offered). With none the error wraps ErrNoCommonCodec (SIP 488).
func (l *WebRTCLeg) AcceptOffer(ctx context.Context, offer string) (string, error) {
	m, err := parseWebRTCSDP(offer)
	if err != nil {
		return "", err
	}
	codec, ok := m.chooseOurs(l.codecs)
	if !ok {
		return "", newError(ErrNoCommonCodec, 488, "network offered %s", codecList(m.Codecs))
	}
	formats := []Codec{codec}
	dtmf := m.dtmfAt(codec.ClockRate)
	if dtmf != nil {
		formats = append(formats, *dtmf)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(legIdle); err != nil {
		return "", err
	}
	l.state = legFailed
	if err := l.newPCLocked(formats); err != nil {
		return "", err
	}
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("rtpmedia: apply offer: %w", err)
	}
	ans, err := l.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("rtpmedia: create answer: %w", err)
	}
	local, err := l.setLocalAndGatherLocked(ctx, ans)
	if err != nil {
		return "", err
	}
	dir := SendRecv.Intersect(m.Direction.Answer())
	if dir != SendRecv {
		if local, err = setDirectionSDP(local, dir); err != nil {
			return "", err
		}
	}
	lm, err := parseWebRTCSDP(local)
	if err != nil {
		return "", err
	}
	l.dtlsRole = lm.Setup
	l.remoteUfrag = m.Ufrag
	l.codec, l.dtmf = codec, dtmf
	l.want = SendRecv
	l.dir.Store(int32(dir))
	l.localSDP = local
	l.state = legEstablished
	return local, nil
}

// formatsLocked is the negotiated codec plus telephone-event.
func (l *WebRTCLeg) formatsLocked() []Codec {
	f := []Codec{l.codec}
	if l.dtmf != nil {
		f = append(f, *l.dtmf)
	}
	return f
}

// Reoffer makes our hold/resume re-offer toward the network: direction dir
// (SendOnly to hold, Inactive, SendRecv to resume), the negotiated codec and
// telephone-event, same ICE/DTLS, a=setup:actpass. Sending or receiving stops
// at once when dir does not allow it; SetReofferAnswer sets the final direction.
func (l *WebRTCLeg) Reoffer(ctx context.Context, dir Direction) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(legEstablished); err != nil {
		return "", err
	}
	offer, err := rewriteAudioSDP(l.localSDP, l.formatsLocked(), dir, "actpass")
	if err != nil {
		return "", err
	}
	l.localSDP = offer
	l.pendingDir = dir
	l.dir.Store(int32(Direction(l.dir.Load()).Intersect(dir)))
	l.state = legReoffered
	return offer, nil
}

// SetReofferAnswer applies the network's answer to Reoffer.
func (l *WebRTCLeg) SetReofferAnswer(answer string) error {
	m, err := parseWebRTCSDP(answer)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(legReoffered); err != nil {
		return err
	}
	return l.setReofferAnswerLocked(m, answer)
}

func (l *WebRTCLeg) setReofferAnswerLocked(m *webrtcMedia, answer string) error {
	if m.Ufrag != l.remoteUfrag {
		return newError(ErrRenegotiation, 488, "re-offer answer changes ICE credentials")
	}
	return l.applyAnswerLocked(m, answer, l.pendingDir)
}

// AnswerReoffer answers a network re-offer (hold/resume): our direction is
// the offered one answered per RFC 3264 §6.1 (sendonly → recvonly, inactive →
// inactive, sendrecv → sendrecv), limited by our own hold from Reoffer; the
// negotiated codec is kept when offered (its payload type may change), else
// the first of our codecs offered is taken (check Codec() afterwards and
// update the relay). It returns the direction the network offered.
// The answer is an edit of our previous local SDP, not pion's renegotiation:
// pion v4 answers hold offers with the wrong direction and refuses a
// corrected answer (TestPionRenegotiationLimits).
func (l *WebRTCLeg) AnswerReoffer(ctx context.Context, offer string) (string, Direction, error) {
	if err := ctx.Err(); err != nil {
		return "", SendRecv, err
	}
	m, err := parseWebRTCSDP(offer)
	if err != nil {
		return "", SendRecv, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(legEstablished); err != nil {
		return "", SendRecv, err
	}
	if m.Ufrag != l.remoteUfrag {
		return "", SendRecv, newError(ErrRenegotiation, 488, "re-offer changes ICE credentials (ICE restart)")
	}
	codec, ok := m.find(l.codec)
	if !ok {
		if codec, ok = m.chooseOurs(l.codecs); !ok {
			return "", SendRecv, newError(ErrNoCommonCodec, 488, "re-offer has none of our codecs: %s", codecList(m.Codecs))
		}
	}
	dtmf := m.dtmfAt(codec.ClockRate)
	formats := []Codec{codec}
	if dtmf != nil {
		formats = append(formats, *dtmf)
	}
	dir := l.want.Intersect(m.Direction.Answer())
	answer, err := rewriteAudioSDP(l.localSDP, formats, dir, l.dtlsRole)
	if err != nil {
		return "", SendRecv, err
	}
	l.codec, l.dtmf = codec, dtmf
	l.localSDP = answer
	l.dir.Store(int32(dir))
	return answer, m.Direction, nil
}

// Codec returns the negotiated audio codec (network payload type).
func (l *WebRTCLeg) Codec() Codec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.codec
}

// DTMF returns the negotiated telephone-event format, nil if none.
func (l *WebRTCLeg) DTMF() *Codec {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dtmf == nil {
		return nil
	}
	d := *l.dtmf
	return &d
}

// Direction returns our current direction.
func (l *WebRTCLeg) Direction() Direction { return Direction(l.dir.Load()) }

// LocalDescription returns the last local SDP handed out.
func (l *WebRTCLeg) LocalDescription() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.localSDP
}

// ReadRTP blocks until an RTP packet from the network arrives, unmarshals it
// into p (p.Payload aliases buf) and returns its size. Packets arriving while
// our direction does not receive are dropped. After Close or a failure it
// returns an error (ErrWebRTCClosed / ErrWebRTCFailed). It does not allocate.
func (l *WebRTCLeg) ReadRTP(p *rtp.Packet, buf []byte) (int, error) {
	for {
		wake := *l.wake.Load()
		if l.pushesAll() {
			return 0, errPushing
		}
		select {
		case <-l.trackReady:
		case <-l.done:
			return 0, l.Err()
		case <-wake:
			continue
		}
		t := l.remote.Load()
		n, _, err := t.Read(buf)
		if err != nil && (n == 0 || !errors.Is(err, webrtc.ErrCodecNotFound)) {
			if errors.Is(err, io.EOF) && l.remote.Load() != t {
				continue // a newer track replaced this one
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				_ = t.SetReadDeadline(time.Time{}) // woken (wakeReader): re-check
				continue
			}
			select {
			case <-l.done:
				return 0, l.Err()
			default:
			}
			return 0, fmt.Errorf("rtpmedia: webrtc read: %w", err)
		}
		if err := p.Unmarshal(buf[:n]); err != nil {
			l.dropped.Add(1)
			continue
		}
		if !Direction(l.dir.Load()).Receives() {
			l.dropped.Add(1)
			continue
		}
		l.packetsIn.Add(1)
		l.bytesIn.Add(uint64(len(p.Payload)))
		l.noteRecv(p, n)
		return n, nil
	}
}

// WriteRTP sends p toward the network on our track: the SSRC is replaced by
// the track's (signalled) SSRC, everything else (payload type, sequence,
// timestamp, marker) is sent as given. Packets are dropped silently while
// our direction does not send or before DTLS is up. It does not allocate.
func (l *WebRTCLeg) WriteRTP(p *rtp.Packet) error {
	if !Direction(l.dir.Load()).Sends() {
		return nil
	}
	b := l.track.binding.Load()
	if b == nil {
		return nil
	}
	if fl := l.fast.Load(); fl != nil {
		return l.writeFast(fl, p, b.ssrc)
	}
	l.wmu.Lock()
	l.whdr = p.Header
	l.whdr.SSRC = b.ssrc
	n, err := b.writer.WriteRTP(&l.whdr, p.Payload)
	l.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("rtpmedia: webrtc write: %w", err)
	}
	l.noteSent(&l.whdr, len(p.Payload), n)
	l.packetsOut.Add(1)
	l.bytesOut.Add(uint64(len(p.Payload)))
	return nil
}

// Stats returns a snapshot of the counters and transport state.
func (l *WebRTCLeg) Stats() WebRTCStats {
	s := WebRTCStats{
		PacketsIn: l.packetsIn.Load(), PacketsOut: l.packetsOut.Load(),
		BytesIn: l.bytesIn.Load(), BytesOut: l.bytesOut.Load(), Dropped: l.dropped.Load(),
		RTCPIn:    l.rtcpIn.Load(),
		Direction: l.Direction(),
	}
	if b := l.track.binding.Load(); b != nil {
		s.LocalSSRC = b.ssrc
	}
	if t := l.remote.Load(); t != nil {
		s.RemoteSSRC = uint32(t.SSRC())
	} else {
		s.RemoteSSRC = l.remoteSSRC.Load()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s.Codec = l.codec
	if l.dtmf != nil {
		d := *l.dtmf
		s.DTMF = &d
	}
	s.SRTPProfile = l.srtpProfile
	pc := l.pc
	if pc == nil {
		return s
	}
	s.ICEState = pc.ICEConnectionState().String()
	s.PeerState = pc.ConnectionState().String()
	if l.dtls != nil {
		s.DTLSState = l.dtls.State().String()
	}
	return s
}

// Close closes the PeerConnection and waits for its goroutines (ours and
// pion's). ReadRTP returns ErrWebRTCClosed. Idempotent.
func (l *WebRTCLeg) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	pc := l.pc
	reports := l.reports
	l.mu.Unlock()
	if reports != nil {
		reports.stop()
	}
	l.drainMu.Lock()
	l.drainClosed = true
	l.drainMu.Unlock()
	if fl := l.fast.Swap(nil); fl != nil {
		fl.conn.deactivate(fl)
	}
	l.finish(ErrWebRTCClosed)
	var err error
	if pc != nil {
		err = pc.GracefulClose()
	}
	l.wg.Wait()
	return err
}

// legTrack is a webrtc.TrackLocal that sends packets with the payload type
// the caller sets. pion's TrackLocalStaticRTP overwrites every packet's
// payload type with the bound codec's, which rules out RFC 4733
// telephone-event on the same SSRC.
type legTrack struct {
	binding atomic.Pointer[trackBinding]
}

type trackBinding struct {
	writer webrtc.TrackLocalWriter
	ssrc   uint32
}

func (t *legTrack) ID() string                { return "audio" }
func (t *legTrack) RID() string               { return "" }
func (t *legTrack) StreamID() string          { return "ynagw" }
func (t *legTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// Bind picks the first negotiated audio codec that is not telephone-event.
func (t *legTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, "audio/"+telephoneEvent) {
			t.binding.Store(&trackBinding{writer: ctx.WriteStream(), ssrc: uint32(ctx.SSRC())})
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func (t *legTrack) Unbind(webrtc.TrackLocalContext) error {
	t.binding.Store(nil)
	return nil
}

// rtpHeaderAttrKey is interceptor's (unexported) attribute key under which
// Attributes.GetRTPHeader caches a parsed header, discovered once at start-up.
var rtpHeaderAttrKey = func() any {
	a := interceptor.Attributes{}
	raw := []byte{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}
	if _, err := a.GetRTPHeader(raw); err != nil {
		return nil
	}
	for k := range a {
		return k
	}
	return nil
}()

// headerAttrFactory creates headerAttrInterceptor.
type headerAttrFactory struct{}

func (headerAttrFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &headerAttrInterceptor{}, nil
}

// headerAttrInterceptor sits directly above the SRTP reader and returns, per
// remote stream, a reused Attributes map holding a reused *rtp.Header parsed
// from the packet. pion's RTCP receiver-report interceptor otherwise
// allocates a map and a header for every received packet. Each remote stream
// is read by one goroutine, and the attributes are only used during the Read.
type headerAttrInterceptor struct{ interceptor.NoOp }

func (headerAttrInterceptor) BindRemoteStream(_ *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	if rtpHeaderAttrKey == nil {
		return reader
	}
	attr := interceptor.Attributes{}
	hdr := &rtp.Header{}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, got, err := reader.Read(b, a)
		if err != nil || got != nil {
			return n, got, err
		}
		if _, err := hdr.Unmarshal(b[:n]); err != nil {
			return n, nil, nil
		}
		attr[rtpHeaderAttrKey] = hdr
		return n, attr, nil
	})
}
