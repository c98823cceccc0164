package bridge

import (
	"context"
	"time"

	"github.com/ynagw/ynagw/rtpmedia"
	"go.uber.org/zap"
)

// NetLeg is the network-side (WebRTC) media leg of a call; *rtpmedia.WebRTCLeg in
// production (see WebRTCMedia). Used only by the call goroutine, except Done/Err (and
// AcceptOffer, which a call's helper runs while the phones ring).
type NetLeg interface {
	// ReadRTP/WriteRTP carry decrypted RTP (rtpmedia.Endpoint) for the relay.
	rtpmedia.Endpoint
	// CreateOffer returns our offer for POST /start (ICE gathered, no trickle).
	CreateOffer(ctx context.Context) (string, error)
	// SetAnswer applies the network's answer to CreateOffer.
	SetAnswer(sdp string) error
	// AcceptOffer answers the network's offer of an invitation.
	AcceptOffer(ctx context.Context, offer string) (string, error)
	// Reoffer creates a re-offer with direction dir (local hold/resume).
	Reoffer(ctx context.Context, dir rtpmedia.Direction) (string, error)
	// SetReofferAnswer applies the answer to Reoffer.
	SetReofferAnswer(sdp string) error
	// AnswerReoffer answers a network re-offer; remoteDir is the offer's direction.
	AnswerReoffer(ctx context.Context, offer string) (answer string, remoteDir rtpmedia.Direction, err error)
	// Checkpoint saves the negotiated state; calling restore puts it back (a re-offer or
	// an answer to one the other side refused).
	Checkpoint() (restore func())
	// Codec and DTMF are the negotiated formats (valid after negotiation).
	Codec() rtpmedia.Codec
	DTMF() *rtpmedia.Codec
	// Done is closed when the leg failed or was closed; Err tells why.
	Done() <-chan struct{}
	Err() error
	Close() error
}

// RelayParams are the negotiated formats both legs use.
type RelayParams struct {
	SIPCodec, NetCodec rtpmedia.Codec
	SIPDTMF, NetDTMF   *rtpmedia.Codec
}

// Relay moves media between the SIP leg and the network leg (*rtpmedia.Relay behind
// rtpRelay).
type Relay interface {
	Start()
	Update(p RelayParams)
	// SetHold pauses (true) or resumes (false) each direction.
	SetHold(sipToNet, netToSIP bool)
	SendDTMFToNet(digit rune, dur time.Duration) error
	// Done is closed when the relay stopped on its own (a leg failed, e.g. a media
	// timeout); Err tells why. Not closed by Close.
	Done() <-chan struct{}
	Err() error
	// NetStats returns the network side's counters (packets in = network → SIP).
	NetStats() LegStats
	// Close stops the relay; the legs must be closed first (or concurrently).
	Close()
}

// MediaFactory creates the network-side legs. WebRTCMedia is the production one.
type MediaFactory interface {
	NewNetLeg(codecs []rtpmedia.Codec) (NetLeg, error)
}

// rtpRelay adapts *rtpmedia.Relay to Relay.
type rtpRelay struct {
	r   *rtpmedia.Relay
	log *zap.Logger
}

func newRelay(sipLeg phoneLeg, net NetLeg, p RelayParams, log *zap.Logger) Relay {
	return &rtpRelay{r: rtpmedia.NewRelay(sipLeg, net, relayConfig(p, log)), log: log}
}

func relayConfig(p RelayParams, log *zap.Logger) rtpmedia.RelayConfig {
	return rtpmedia.RelayConfig{SIPCodec: p.SIPCodec, NetCodec: p.NetCodec, SIPDTMF: p.SIPDTMF, NetDTMF: p.NetDTMF, Logger: log}
}

func (a *rtpRelay) Start()                { a.r.Start() }
func (a *rtpRelay) Update(p RelayParams)  { a.r.Update(relayConfig(p, a.log)) }
func (a *rtpRelay) SetHold(s2n, n2s bool) { a.r.SetHold(s2n, n2s) }
func (a *rtpRelay) Done() <-chan struct{} { return a.r.Done() }
func (a *rtpRelay) Err() error            { return a.r.Err() }
func (a *rtpRelay) Close()                { _ = a.r.Close() }
func (a *rtpRelay) SendDTMFToNet(d rune, dur time.Duration) error {
	return a.r.SendDTMFToNet(d, dur)
}

func (a *rtpRelay) NetStats() LegStats {
	st := a.r.Stats()
	return LegStats{PacketsIn: st.NetToSIP.Packets, PacketsOut: st.SIPToNet.Packets}
}
