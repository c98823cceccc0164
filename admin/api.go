package admin

import (
	"encoding/json"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// apiError is the JSON error body of the API: {"error":"..."}.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func (s *Server) apiLines(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := backendCtx(r)
	defer cancel()
	writeJSON(w, http.StatusOK, nonNil(s.b.Lines(ctx)))
}

func (s *Server) apiPhones(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := backendCtx(r)
	defer cancel()
	writeJSON(w, http.StatusOK, nonNil(s.b.Phones(ctx)))
}

func (s *Server) apiCalls(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := backendCtx(r)
	defer cancel()
	writeJSON(w, http.StatusOK, nonNil(s.b.Calls(ctx)))
}

// UnlinkResult is the body of a successful POST /api/v1/lines/{msisdn}/unlink.
type UnlinkResult struct {
	MSISDN   string `json:"msisdn"`
	Unlinked bool   `json:"unlinked"`
}

func (s *Server) apiUnlink(w http.ResponseWriter, r *http.Request) {
	msisdn, ok := validMSISDN(r.PathValue("msisdn"))
	if !ok {
		writeJSON(w, http.StatusBadRequest, apiError{"bad msisdn"})
		return
	}
	ctx, cancel := backendCtx(r)
	defer cancel()
	if err := s.b.Unlink(ctx, msisdn); err != nil {
		s.log.Error("admin: unlink failed", zap.String("msisdn", msisdn), zap.Error(err))
		writeJSON(w, http.StatusBadGateway, apiError{"unlink failed: " + err.Error()})
		return
	}
	s.log.Info("admin: line unlinked (API)", zap.String("msisdn", msisdn))
	writeJSON(w, http.StatusOK, UnlinkResult{MSISDN: msisdn, Unlinked: true})
}

// LinkStart is the body of GET /api/v1/link: open URL in a browser; YNA then redirects to
// RedirectURI with the code. The state is single-use, expires at ExpiresAt and, being issued
// to an API client, is not bound to a browser session.
type LinkStart struct {
	URL         string    `json:"url"`
	State       string    `json:"state"`
	RedirectURI string    `json:"redirectUri"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

func (s *Server) apiLink(w http.ResponseWriter, r *http.Request) {
	state, exp := s.sess.newState("")
	s.log.Info("admin: link started (API)")
	writeJSON(w, http.StatusOK, LinkStart{URL: s.b.LinkURL(s.redirect, state), State: state,
		RedirectURI: s.redirect, ExpiresAt: exp.UTC()})
}

// apiLogLevel serves GET/PUT /api/v1/loglevel with the body {"level":"debug"} (zap's
// AtomicLevel handler).
func (s *Server) apiLogLevel(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Level == nil {
		writeJSON(w, http.StatusNotImplemented, apiError{"run-time log level not configured"})
		return
	}
	if r.Method == http.MethodPut {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
		s.log.Info("admin: log level change requested")
	}
	s.cfg.Level.ServeHTTP(w, r)
}
