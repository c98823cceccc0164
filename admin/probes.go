package admin

import (
	"context"
	"net/http"
	"time"
)

// readyTimeout bounds Backend.Ready for one /readyz.
const readyTimeout = 5 * time.Second

// handleHealthz answers 200 "ok" while the process runs.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReadyz answers 200 "ready" (and the backend's ReadyNotes, one a line) when not
// draining and Backend.Ready is nil, else 503 with the reason.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: draining\n"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.b.Ready(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
	if n, ok := s.b.(ReadyNoter); ok {
		for _, note := range n.ReadyNotes() {
			_, _ = w.Write([]byte(note + "\n"))
		}
	}
}

// ReadyNoter is optionally implemented by a Backend: lines added to a 200 /readyz body
// after "ready" (e.g. "restart pending: sip.domain"); they do not make it fail.
type ReadyNoter interface {
	ReadyNotes() []string
}
