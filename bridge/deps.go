package bridge

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ynagw/ynagw/yna"
)

// TokenSource gives the current YNA access token of a line (a linked account).
// A persistent store implements it in production; StaticTokens serves tests and demos.
type TokenSource interface {
	AccessToken(ctx context.Context, line string) (string, error)
}

// TokenSetter is implemented by token sources that accept tokens at runtime (AddLine).
type TokenSetter interface {
	SetToken(line, token string)
}

// ErrNoToken is returned by StaticTokens for a line without a token.
var ErrNoToken = errors.New("bridge: no access token for line")

// StaticTokens is an in-memory TokenSource keyed by line MSISDN. Safe for concurrent use.
type StaticTokens struct {
	mu sync.Mutex
	m  map[string]string
}

// NewStaticTokens returns a StaticTokens holding tokens (line → access token).
func NewStaticTokens(tokens map[string]string) *StaticTokens {
	s := &StaticTokens{m: map[string]string{}}
	for k, v := range tokens {
		s.m[k] = v
	}
	return s
}

// AccessToken implements TokenSource.
func (s *StaticTokens) AccessToken(_ context.Context, line string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.m[line]; ok && t != "" {
		return t, nil
	}
	return "", ErrNoToken
}

// SetToken implements TokenSetter; an empty token removes the line.
func (s *StaticTokens) SetToken(line, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	if token == "" {
		delete(s.m, line)
		return
	}
	s.m[line] = token
}

// Call directions (metric label and CDR field).
const (
	DirectionOutbound = "outbound" // SIP → YNA
	DirectionInbound  = "inbound"  // YNA → SIP
)

// Metrics receives gateway metrics. Implementations must be safe for concurrent use.
// For YNA REST metrics pass YNARequest as yna.Config.Observe when building the client.
type Metrics interface {
	// CallStarted is called once per call and returns the handle of that call.
	CallStarted(direction, line string) CallMetrics
	// YNARequest observes one YNA REST exchange (signature of yna.Config.Observe).
	YNARequest(op string, status int, d time.Duration, err error)
	// ChannelState reports a line's notification channel state.
	ChannelState(line string, state yna.ChannelState)
}

// CallMetrics is the metrics handle of one call; used only by the call's goroutine.
type CallMetrics interface {
	Setup(d time.Duration) // INVITE/invitation to answer
	Answered()
	// Media reports per-leg packet counters once, at the end ("sip" or "net").
	Media(leg string, packetsIn, packetsOut uint64, lost int64)
	Ended(result string, d time.Duration) // always last
}

// ForkObserver is an optional Metrics extension: ForkBranch is called once per branch of
// an inbound call's SIP fork with its final result (sip.BranchResult.Result: answered,
// cancelled, rejected, timeout, late_2xx) once the fork is over.
type ForkObserver interface {
	ForkBranch(result string)
}

// MediaTimeoutObserver is an optional CallMetrics extension: MediaTimeout is called
// (before Ended) when the call ended because the SIP side's RTP stopped
// (rtpmedia.ErrMediaTimeout).
type MediaTimeoutObserver interface {
	MediaTimeout()
}

// OneWayObserver is an optional CallMetrics extension: OneWay is called (before Ended)
// when an answered call had media in one direction only.
type OneWayObserver interface {
	OneWay()
}

// NopMetrics discards everything.
type NopMetrics struct{}

func (NopMetrics) CallStarted(string, string) CallMetrics       { return nopCall{} }
func (NopMetrics) YNARequest(string, int, time.Duration, error) {}
func (NopMetrics) ChannelState(string, yna.ChannelState)        {}

type nopCall struct{}

func (nopCall) Setup(time.Duration)                 {}
func (nopCall) Answered()                           {}
func (nopCall) Media(string, uint64, uint64, int64) {}
func (nopCall) Ended(string, time.Duration)         {}

// LegStats are the packet counters of one media leg in a CDR.
type LegStats struct {
	PacketsIn, PacketsOut uint64
	Lost                  int64
}

// CDR is the record of one call. ID identifies the call from setup to end (a random
// UUID set by the gateway); a CallRecorder keys its open record by it.
type CDR struct {
	ID         string
	Direction  string // DirectionOutbound / DirectionInbound
	Line       string // the YNA line (MSISDN)
	Peer       string // the other party: dialled number (outbound) or caller (inbound)
	SIPUser    string // authenticated SIP user / trunk (outbound) or answering branch (inbound)
	SIPCallID  string
	YNACallID  string
	SetupAt    time.Time
	AnsweredAt time.Time // zero if never answered
	EndedAt    time.Time
	Result     string // metric result label, e.g. "answered", "busy"
	EndReason  string // human-readable
	SIPStatus  int    // final SIP status of an unanswered call (0 if answered)
	SIPMedia   LegStats
	NetMedia   LegStats
}

// CDRSink stores CDRs. Write is called from the call goroutine after the call ended.
type CDRSink interface {
	Write(ctx context.Context, cdr CDR) error
}

// CallRecorder is an optional CDRSink extension for crash recovery: a record that is
// durable while the call runs, so a restarted daemon can end the calls a crash left open.
// The call goroutine checks for it with a type assertion; without it only Write is used.
type CallRecorder interface {
	// Open records a call at setup, before the SIP fork (inbound) or POST /start
	// (outbound). An error refuses the call (outbound: 500; inbound: DELETE /end).
	Open(ctx context.Context, cdr CDR) error
	// Update records what became known: the YNA callId (outbound, after POST /start) and
	// the answer (before the 200 OK to the phone / before POST /connected). Errors are
	// logged only.
	Update(ctx context.Context, cdr CDR) error
}

// NopCDRSink discards CDRs.
type NopCDRSink struct{}

// Write implements CDRSink.
func (NopCDRSink) Write(context.Context, CDR) error { return nil }
