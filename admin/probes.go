package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// readyTimeout bounds Backend.Ready for one /readyz.
const readyTimeout = 5 * time.Second

// handleHealthz answers 200 "ok" while the process runs.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReadyz answers 200 "ready" when not draining and Backend.Ready is nil, else 503
// "not ready: " and the reason; then the ReadyDetailer's notes, one a line. With
// ?format=json (or Accept: application/json) the body is a ReadyStatus instead, same
// status code. /readyz needs no credentials; a caller without them gets no line numbers
// (MSISDNs): notes say counts, lines carry name and state only. With admin credentials
// the notes and lines name each line's number and why it needs a relink.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	st := ReadyStatus{Ready: true}
	if s.draining.Load() {
		st.Ready, st.Reason = false, "draining"
	} else if err := s.b.Ready(ctx); err != nil {
		st.Ready, st.Reason = false, err.Error()
	}
	if d, ok := s.b.(ReadyDetailer); ok {
		st.Notes, st.Lines = d.ReadyDetail(ctx, s.authorized(r))
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		if !st.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(st)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !st.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + st.Reason + "\n"))
	} else {
		_, _ = w.Write([]byte("ready\n"))
	}
	for _, note := range st.Notes {
		_, _ = w.Write([]byte(note + "\n"))
	}
}

// ReadyStatus is the JSON /readyz body. /readyz is unauthenticated: without admin
// credentials lines are named by their configured name, never their number.
type ReadyStatus struct {
	Ready  bool        `json:"ready"`
	Reason string      `json:"reason,omitempty"` // why not ready
	Notes  []string    `json:"notes,omitempty"`  // e.g. "restart pending: sip.domain"
	Lines  []ReadyLine `json:"lines,omitempty"`
}

// Line health states of ReadyLine.State.
const (
	ReadyLineLinked      = "linked"
	ReadyLineNeverLinked = "never_linked"
	ReadyLineNeedsRelink = "needs_relink"
	ReadyLineUnlinked    = "unlinked"
)

// ReadyLine is one line's health in the JSON /readyz.
type ReadyLine struct {
	Name string `json:"name"`
	// MSISDN is the line's number, only for a caller with admin credentials.
	MSISDN string `json:"msisdn,omitempty"`
	// State is ReadyLineLinked, ReadyLineNeverLinked, ReadyLineNeedsRelink or ReadyLineUnlinked.
	State string `json:"state"`
	// Reason says why it needs a relink / is unlinked, only for a caller with admin
	// credentials (the texts may quote the network's answers).
	Reason string `json:"reason,omitempty"`
	// Channel is the notification channel state ("connected", "recovering", ...), empty
	// when no channel runs for the line.
	Channel string `json:"channel,omitempty"`
	// ChannelDownSince is when the line's channel was last lost (or first not up); zero
	// while it is connected or never ran.
	ChannelDownSince time.Time `json:"channelDownSince,omitzero"`
	// Owner (clustered mode) is the node holding the line's lease, whose channel carries
	// the line's inbound calls; "" when no node holds it or outside a cluster.
	Owner string `json:"owner,omitempty"`
}

// ReadyDetailer is optionally implemented by a Backend: the notes and per-line health of
// /readyz (neither makes it fail; Backend.Ready decides). full is true for a caller with
// admin credentials: only then may notes and lines name line numbers (MSISDN, Reason).
type ReadyDetailer interface {
	ReadyDetail(ctx context.Context, full bool) (notes []string, lines []ReadyLine)
}
