package bridge

import (
	"context"
	"time"

	"github.com/ynagw/ynagw/rtpmedia"
)

// NetLeg is the network-side (WebRTC) media leg of a call; *rtpmedia.WebRTCLeg in
// production (see WebRTCMedia). Used only by the call goroutine, except Done/Err.
type NetLeg interface {
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

// Relay moves media between the SIP leg and the network leg.
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
	// NetStats returns the network leg's counters.
	NetStats() LegStats
	Close()
}

// MediaFactory creates network legs and relays. WebRTCMedia is the production one.
type MediaFactory interface {
	NewNetLeg(codecs []rtpmedia.Codec) (NetLeg, error)
	NewRelay(sip *rtpmedia.Leg, net NetLeg, p RelayParams) (Relay, error)
}
