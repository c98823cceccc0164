package daemon

import (
	"context"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/sip"
	"go.uber.org/zap"
)

// unroutedLine is the Line of a CDR opened at INVITE time, before bridge routed the call
// (the store wants a line; bridge's final CDR overwrites it).
const unroutedLine = "unrouted"

// DrainRetryAfter is what a draining daemon's 503 asks callers to wait (sip adds
// Retry-After: 30 to every 503).
const drainReason = "Gateway draining"

// inviteGate is the SIP handler in front of the gateway: while draining it answers new
// INVITEs 503 (with Retry-After); otherwise it records the call (OpenCall, durable before
// the call goes anywhere) and hands it to the gateway.
type inviteGate struct {
	gw       sip.Handler
	cdr      *cdrSink
	log      *zap.Logger
	draining atomic.Bool
}

// HandleInvite implements sip.Handler.
func (h *inviteGate) HandleInvite(ctx context.Context, ic *sip.InboundCall) {
	if h.draining.Load() {
		h.log.Info("INVITE refused while draining", zap.String("sip_call_id", ic.CallID()))
		_ = ic.Reject(503, drainReason)
		return
	}
	user := ic.AuthUser()
	if user == "" {
		user = ic.Trunk()
	}
	rec := bridge.CDR{Direction: bridge.DirectionOutbound, Line: unroutedLine, SIPCallID: ic.CallID(), SIPUser: user, Peer: uriUser(ic.RequestURI())}
	if err := h.cdr.Open(ctx, rec); err != nil {
		h.log.Error("cannot record the call; refusing it", zap.String("sip_call_id", ic.CallID()), zap.Error(err))
		_ = ic.Reject(500, "CDR store unavailable")
		return
	}
	h.gw.HandleInvite(ctx, ic)
}

func uriUser(u string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(u, "sips:"), "sip:")
	s = strings.TrimPrefix(s, "tel:")
	if i := strings.IndexAny(s, "@;?"); i >= 0 {
		s = s[:i]
	}
	if v, err := url.PathUnescape(s); err == nil {
		return v
	}
	return s
}
