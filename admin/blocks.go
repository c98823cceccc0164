package admin

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// SIPBlocker is implemented by a Backend that can list and lift the SIP
// authentication blocks (sources blocked after repeated digest failures).
// A Backend without it answers 501 on /api/v1/sip/blocks.
type SIPBlocker interface {
	SIPBlocks(ctx context.Context) []BlockView
	// SIPUnblock lifts the blocks of source: of user, or all its users when
	// user is "*". It returns how many it lifted.
	SIPUnblock(ctx context.Context, source netip.Addr, user string) int
}

// BlockView is one blocked (source address, username) pair.
type BlockView struct {
	Source   string    `json:"source"`
	User     string    `json:"user"` // "" = unknown usernames from this source
	Until    time.Time `json:"until"`
	Strikes  int       `json:"strikes"` // blocks so far; the next one lasts twice as long
	Failures int       `json:"failures"`
}

// UnblockResult is the body of DELETE /api/v1/sip/blocks/{source}.
type UnblockResult struct {
	Source string `json:"source"`
	User   string `json:"user"`
	Lifted int    `json:"lifted"`
}

func (s *Server) blocker(w http.ResponseWriter) (SIPBlocker, bool) {
	b, ok := s.b.(SIPBlocker)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, apiError{Error: "this backend has no SIP authentication blocks"})
	}
	return b, ok
}

// apiBlocks: GET /api/v1/sip/blocks lists the blocked (source, user) pairs.
func (s *Server) apiBlocks(w http.ResponseWriter, r *http.Request) {
	b, ok := s.blocker(w)
	if !ok {
		return
	}
	ctx, cancel := backendCtx(r)
	defer cancel()
	writeJSON(w, http.StatusOK, nonNil(b.SIPBlocks(ctx)))
}

// apiUnblock: DELETE /api/v1/sip/blocks/{source}[?user=NAME] lifts the blocks
// of source (of one user, or of all its users without ?user).
func (s *Server) apiUnblock(w http.ResponseWriter, r *http.Request) {
	b, ok := s.blocker(w)
	if !ok {
		return
	}
	src, err := netip.ParseAddr(r.PathValue("source"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "source must be an IP address, e.g. 192.0.2.10 or 2001:db8::1"})
		return
	}
	user := "*"
	if r.URL.Query().Has("user") {
		user = r.URL.Query().Get("user")
	}
	ctx, cancel := backendCtx(r)
	defer cancel()
	n := b.SIPUnblock(ctx, src.Unmap(), user)
	s.log.Info("admin: SIP auth blocks lifted", zap.Stringer("source", src), zap.String("user", user), zap.Int("lifted", n))
	writeJSON(w, http.StatusOK, UnblockResult{Source: src.Unmap().String(), User: user, Lifted: n})
}
