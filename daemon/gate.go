package daemon

import (
	"context"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/ynagw/ynagw/sip"
	"go.uber.org/zap"
)

// drainReason is the reason phrase of a draining daemon's 503 (sip adds Retry-After to
// every 503).
const drainReason = "Gateway draining"

// inviteGate is the SIP handler in front of the gateway: while draining it answers new
// INVITEs 503 (with Retry-After); otherwise it hands the call to the gateway (which
// records it durably through cdrSink, a bridge.CallRecorder).
type inviteGate struct {
	gw       sip.Handler
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
