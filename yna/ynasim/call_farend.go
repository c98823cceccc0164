package ynasim

import (
	"context"

	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// farEnd is the media side of the simulated remote party (implemented by package farend; a
// fake in tests). One farEnd serves one call and is used only by that call's goroutine, except
// Stats, which must be safe for concurrent use.
type farEnd interface {
	// Answer answers the client's offer (outbound call).
	Answer(ctx context.Context, offer string) (answer string, err error)
	// Offer creates the network's offer (inbound call).
	Offer(ctx context.Context) (offer string, err error)
	// SetAnswer applies the client's answer to Offer or Reoffer.
	SetAnswer(answer string) error
	// Reoffer creates a network-side re-offer with direction dir ("sendrecv", "sendonly",
	// "inactive") for remote hold/resume/renegotiation.
	Reoffer(ctx context.Context, dir string) (offer string, err error)
	// AnswerReoffer answers a client re-offer (client hold/resume/renegotiate).
	AnswerReoffer(ctx context.Context, offer string) (answer string, err error)
	// SendDTMF sends RFC 4733 digits from the far end.
	SendDTMF(digits string) error
	// Stats returns the media statistics (JSON-encodable) at this moment.
	Stats() any
	// Close ends the media.
	Close() error
}

// farEndFactory creates the far end of one call with the call's codec behaviour.
type farEndFactory func(ctx context.Context, codecs CodecMode) (farEnd, error)

// realFarEnd adapts *farend.FarEnd to farEnd.
type realFarEnd struct{ *farend.FarEnd }

func (r realFarEnd) Stats() any { return r.FarEnd.Stats() }

// defaultFarEndConfig is the far-end media configuration of a new Sim: loopback only (tests
// and a gateway on the same host); change it with SetFarEndConfig.
func defaultFarEndConfig() farend.Config {
	return farend.Config{AllowLoopback: true}
}

func (cs *callStore) realFarEnd(ctx context.Context, codecs CodecMode) (farEnd, error) {
	cs.mu.Lock()
	cfg := cs.feCfg
	cs.mu.Unlock()
	if spec, ok := codecModes[codecs]; ok && len(cfg.Codecs) == 0 {
		cfg.Codecs, cfg.Prefer = spec.codecs, spec.prefer
	}
	if cfg.Logger == nil {
		cfg.Logger = cs.logger().Named("farend")
	}
	f, err := farend.New(cfg)
	if err != nil {
		return nil, err
	}
	return realFarEnd{f}, nil
}

// SetFarEndConfig sets the media configuration used by the far ends of calls created
// afterwards (e.g. AllowLoopback false and IPs for a gateway on another host). Codecs and
// Prefer, when cfg.Codecs is empty, come from the call's CodecMode.
func (s *Sim) SetFarEndConfig(cfg farend.Config) {
	s.calls.mu.Lock()
	s.calls.feCfg = cfg
	s.calls.mu.Unlock()
}
