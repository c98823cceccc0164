package sip

import (
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// timerParams is the negotiated RFC 4028 session timer of a dialog.
type timerParams struct {
	active       bool
	interval     time.Duration
	weRefresh    bool
	peerSupports bool
}

// parseSessionExpires reads Session-Expires (or its compact form x).
func parseSessionExpires(msg sip.Message) (d time.Duration, refresher string, ok bool) {
	hs := msg.GetHeaders("Session-Expires")
	if len(hs) == 0 {
		hs = msg.GetHeaders("x")
	}
	if len(hs) == 0 {
		return 0, "", false
	}
	parts := strings.Split(hs[0].Value(), ";")
	n, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || n <= 0 || n > maxSessionExpires {
		return 0, "", false // absurd values would overflow time.Duration
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(v))
		}
	}
	return time.Duration(n) * time.Second, refresher, true
}

func peerSupportsTimer(msg sip.Message) bool {
	for _, name := range []string{"Supported", "k", "Require"} {
		for _, h := range msg.GetHeaders(name) {
			for _, t := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(t), "timer") {
					return true
				}
			}
		}
	}
	return false
}

// negotiateTimer decides the session timer for a new INVITE. code is 422 when the
// requested interval is below our Min-SE.
func (s *Server) negotiateTimer(req *sip.Request) (timerParams, int) {
	cfg := s.cfg.SessionTimer
	se, refresher, has := parseSessionExpires(req)
	t := timerParams{peerSupports: peerSupportsTimer(req)}
	if has {
		if se < cfg.MinSE {
			return t, 422
		}
		t.active = true
		t.interval = se
		switch refresher {
		case "uas":
			t.weRefresh = true
		case "uac":
			t.weRefresh = false
		default:
			t.weRefresh = !t.peerSupports
		}
		return t, 0
	}
	if !cfg.Enabled {
		return t, 0
	}
	t.active = true
	t.interval = cfg.Expires
	t.weRefresh = !t.peerSupports
	return t, 0
}

// updateFromRequest adopts the peer's Session-Expires of an in-dialog refresh request.
func (t *timerParams) updateFromRequest(req *sip.Request, minSE time.Duration) {
	se, refresher, has := parseSessionExpires(req)
	if peerSupportsTimer(req) {
		t.peerSupports = true
	}
	if !has || se < minSE {
		return
	}
	t.active = true
	t.interval = se
	switch refresher {
	case "uac":
		t.weRefresh = false // the requester refreshes
	case "uas":
		t.weRefresh = true
	}
}

// maxSessionExpires bounds Session-Expires (seconds; RFC 4028 delta-seconds).
const maxSessionExpires = 1<<31 - 1

// rfc4028MinSE is the smallest session interval RFC 4028 §4 allows anyone to ask for.
const rfc4028MinSE = 90 * time.Second

// updateFromResponse adopts Session-Expires from a 2xx to our request. An interval
// below minSE (a peer must not pick one, RFC 4028 §4) is raised to minSE: honouring
// e.g. "Session-Expires: 1" would make us refresh twice a second forever.
func (t *timerParams) updateFromResponse(res *sip.Response, minSE time.Duration) {
	se, refresher, has := parseSessionExpires(res)
	if !has {
		return
	}
	if minSE <= 0 {
		minSE = rfc4028MinSE
	}
	se = max(se, minSE)
	t.active = true
	t.interval = se
	t.peerSupports = true
	switch refresher {
	case "uac":
		t.weRefresh = true // we were the UAC of this transaction
	case "uas":
		t.weRefresh = false
	}
}

// responseHeaders are the session timer headers of a 2xx to a request from the peer.
func (t timerParams) responseHeaders() []sip.Header {
	if !t.active {
		return nil
	}
	ref := "uac"
	if t.weRefresh {
		ref = "uas"
	}
	h := []sip.Header{sip.NewHeader("Session-Expires", strconv.Itoa(int(t.interval/time.Second))+";refresher="+ref)}
	if t.peerSupports {
		h = append(h, sip.NewHeader("Require", "timer"))
	}
	return h
}

// requestHeaders are the session timer headers of a request we send in the dialog.
func (t timerParams) requestHeaders() []sip.Header {
	if !t.active {
		return nil
	}
	ref := "uas"
	if t.weRefresh {
		ref = "uac"
	}
	return []sip.Header{sip.NewHeader("Session-Expires", strconv.Itoa(int(t.interval/time.Second))+";refresher="+ref)}
}

// expiryGuard is how long before expiry a non-refresher gives up (RFC 4028 §10).
func (t timerParams) expiryGuard() time.Duration {
	g := t.interval / 3
	if g > 32*time.Second {
		g = 32 * time.Second
	}
	return g
}

// SessionTimerHeaders returns the headers an outbound INVITE should carry to ask
// for session timers (Supported: timer, Session-Expires, Min-SE); for uac.go.
func (s *Server) sessionTimerInviteHeaders() []sip.Header {
	h := []sip.Header{sip.NewHeader("Supported", supportedOpts)}
	if s.cfg.SessionTimer.Enabled {
		h = append(h,
			sip.NewHeader("Session-Expires", strconv.Itoa(int(s.cfg.SessionTimer.Expires/time.Second))+";refresher=uac"),
			sip.NewHeader("Min-SE", strconv.Itoa(int(s.cfg.SessionTimer.MinSE/time.Second))))
	}
	return h
}
