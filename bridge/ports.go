package bridge

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"go.uber.org/zap"
)

// The interfaces below are what the call logic uses of the SIP side, the media and the
// clock, defined here where they are used. Production wires them to package sip,
// rtpmedia and time (the adapters in this file, chosen by New); the unit tests wire
// fakes (fakes_test.go). The YNA side is netAPI (netapi.go).

// sipSide is the gateway's SIP server (*sip.Server behind sipServer).
type sipSide interface {
	SetHandler(h sip.Handler)
	Contacts(user string) []sip.Contact
	UserSRTP(nameOrAOR string) string
	Dial(ctx context.Context, req sip.DialRequest) (sipFork, error)
}

// sipInvite is the INVITE of an outbound call: the phone's (*sip.InboundCall behind
// inviteAdapter).
type sipInvite interface {
	CallID() string
	Offer() []byte
	SRTP() string
	Secure() bool
	Transport() string
	Progress(ctx context.Context, code int, sdp []byte) error
	RejectWithReason(code int, reasonHeader string) error
	RejectWithWarning(code int, reasonHeader string, warnCode int, text string) error
	Reject(code int, reason string) error
	// Answer sends the 200 OK and waits for the ACK.
	Answer(ctx context.Context, sdp []byte) (sipDialog, error)
	// Done is closed when the INVITE transaction ended (CANCEL, answer, reject).
	Done() <-chan struct{}
	Err() error
}

// sipDialog is an established SIP dialog (*sip.Dialog).
type sipDialog interface {
	CallID() string
	Events() <-chan sip.Event
	RemoteSDP() []byte
	Hangup(ctx context.Context, reason string) error
	ReInvite(ctx context.Context, sdp []byte) ([]byte, error)
}

// sipFork is the fork of an inbound call toward the phones (*sip.OutboundCall behind
// forkAdapter).
type sipFork interface {
	Events() <-chan sip.ForkEvent
	Cancel(reason string)
	Done() <-chan struct{}
	Branches() []sip.BranchResult
	// Dialog is the dialog of the branch that answered.
	Dialog(e *sip.AnsweredEvent) sipDialog
}

// phoneLeg is the SIP-side RTP leg (*rtpmedia.Leg).
type phoneLeg interface {
	rtpmedia.Endpoint
	LocalAddr() netip.AddrPort
	LocalRTCPAddr() netip.AddrPort
	SetRemote(addr netip.AddrPort)
	SetRemoteRTCP(addr netip.AddrPort)
	SetDirection(d rtpmedia.Direction)
	SetSRTP(k *rtpmedia.SRTPKeys) error
	Stats() rtpmedia.LegStats
	Close() error
}

// clock gives the time and timers (a fake in unit tests).
type clock interface {
	Now() time.Time
	NewTimer(d time.Duration) timer
}

type timer interface {
	C() <-chan time.Time
	Stop() bool
}

// parts are the implementations a Gateway's calls run on.
type parts struct {
	sip      sipSide
	api      netAPI
	clock    clock
	newLeg   func(cfg rtpmedia.LegConfig) (phoneLeg, error)
	newRelay func(sip phoneLeg, net NetLeg, p RelayParams, log *zap.Logger) Relay
	// jitter returns a random duration in [0, d) (RFC 3261 §14.1 timers).
	jitter func(d time.Duration) time.Duration
}

// productionParts wires parts to the real packages.
func productionParts(srv *sip.Server, api netAPI) parts {
	return parts{
		sip: sipServer{srv}, api: api, clock: realClock{},
		newLeg: func(cfg rtpmedia.LegConfig) (phoneLeg, error) {
			l, err := rtpmedia.NewLeg(cfg)
			if err != nil {
				return nil, err
			}
			return l, nil
		},
		newRelay: newRelay,
		jitter: func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		},
	}
}

// sipServer adapts *sip.Server to sipSide.
type sipServer struct{ s *sip.Server }

func (a sipServer) SetHandler(h sip.Handler)           { a.s.SetHandler(h) }
func (a sipServer) Contacts(user string) []sip.Contact { return a.s.Contacts(user) }
func (a sipServer) UserSRTP(user string) string        { return a.s.UserSRTP(user) }
func (a sipServer) Dial(ctx context.Context, req sip.DialRequest) (sipFork, error) {
	oc, err := a.s.Dial(ctx, req)
	if err != nil {
		return nil, err
	}
	return forkAdapter{oc}, nil
}

// forkAdapter adapts *sip.OutboundCall to sipFork.
type forkAdapter struct{ *sip.OutboundCall }

func (forkAdapter) Dialog(e *sip.AnsweredEvent) sipDialog { return e.Dialog }

// inviteAdapter adapts *sip.InboundCall to sipInvite.
type inviteAdapter struct{ *sip.InboundCall }

func (a inviteAdapter) Answer(ctx context.Context, sdp []byte) (sipDialog, error) {
	d, err := a.InboundCall.Answer(ctx, sdp)
	if d == nil {
		return nil, err
	}
	return d, err
}

// realClock is the clock of package time.
type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

var (
	_ sipDialog = (*sip.Dialog)(nil)
	_ phoneLeg  = (*rtpmedia.Leg)(nil)
)
