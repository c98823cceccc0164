package admin

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// ErrNoSuchCall is what a CallHanger returns for an id that names no call in progress
// (the API answers 404).
var ErrNoSuchCall = errors.New("no such call")

// CallHanger is implemented by a Backend that can hang up a call in progress. A
// Backend without it answers 501 on DELETE /api/v1/calls/{id}.
type CallHanger interface {
	// Hangup ends the call through its normal end path (BYE toward the phone, DELETE
	// /end toward the network, the CDR). id is CallView.ID, SIPCallID or YNACallID.
	Hangup(ctx context.Context, id string) error
}

// CDRLister is implemented by a Backend that can list recent call records. A Backend
// without it answers 501 on GET /api/v1/cdrs.
type CDRLister interface {
	// CDRs returns at most limit records, newest first.
	CDRs(ctx context.Context, limit int) ([]CDRView, error)
}

// CDRView is one call detail record as GET /api/v1/cdrs lists it.
type CDRView struct {
	ID        string    `json:"id"`
	Direction string    `json:"direction"`
	Line      string    `json:"line"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	SIPCallID string    `json:"sipCallId,omitempty"`
	YNACallID string    `json:"ynaCallId,omitempty"`
	SetupAt   time.Time `json:"setupAt"`
	AnswerAt  time.Time `json:"answerAt,omitzero"`
	EndAt     time.Time `json:"endAt,omitzero"`
	Result    string    `json:"result,omitempty"`
	EndReason string    `json:"endReason,omitempty"`
	SIPCode   int       `json:"sipCode,omitempty"`
}

// HangupResult is the body of a successful DELETE /api/v1/calls/{id}.
type HangupResult struct {
	ID     string `json:"id"`
	HungUp bool   `json:"hungUp"`
}

// hangup hangs up call id for the API and the page; it returns the HTTP status and an
// error text ("" on success).
func (s *Server) hangup(r *http.Request, id, via string) (int, string) {
	h, ok := s.b.(CallHanger)
	if !ok {
		return http.StatusNotImplemented, "this backend cannot hang up calls"
	}
	if id == "" || len(id) > 256 {
		return http.StatusBadRequest, "bad call id"
	}
	ctx, cancel := backendCtx(r)
	defer cancel()
	if err := h.Hangup(ctx, id); err != nil {
		if errors.Is(err, ErrNoSuchCall) {
			return http.StatusNotFound, "no call in progress with id " + id
		}
		s.log.Error("admin: hangup failed", zap.String("call_id", id), zap.Error(err))
		return http.StatusBadGateway, "hangup failed: " + err.Error()
	}
	s.log.Info("admin: call hung up ("+via+")", zap.String("call_id", id))
	return http.StatusOK, ""
}

// apiHangup: DELETE /api/v1/calls/{id}.
func (s *Server) apiHangup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if code, msg := s.hangup(r, id, "API"); msg != "" {
		writeJSON(w, code, apiError{msg})
		return
	}
	writeJSON(w, http.StatusOK, HangupResult{ID: id, HungUp: true})
}

// apiCDRs: GET /api/v1/cdrs[?limit=N][&format=csv] lists recent CDRs, newest first.
func (s *Server) apiCDRs(w http.ResponseWriter, r *http.Request) {
	l, ok := s.b.(CDRLister)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, apiError{"this backend has no call records"})
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeJSON(w, http.StatusBadRequest, apiError{"limit must be a number from 1 to 10000"})
			return
		}
		limit = n
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		writeJSON(w, http.StatusBadRequest, apiError{"format must be json or csv"})
		return
	}
	ctx, cancel := backendCtx(r)
	defer cancel()
	cdrs, err := l.CDRs(ctx, limit)
	if err != nil {
		s.log.Error("admin: list CDRs", zap.Error(err))
		writeJSON(w, http.StatusServiceUnavailable, apiError{"call records unavailable: " + err.Error()})
		return
	}
	if format != "csv" {
		writeJSON(w, http.StatusOK, nonNil(cdrs))
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="ynagw-cdrs.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write(CDRCSVHeader)
	for _, c := range cdrs {
		_ = cw.Write(c.CSVRecord())
	}
	cw.Flush()
}

// CDRCSVHeader is the header row of the CSV export.
var CDRCSVHeader = []string{"id", "direction", "line", "from", "to", "sip_call_id", "yna_call_id",
	"setup_at", "answer_at", "end_at", "duration_s", "result", "end_reason", "sip_code"}

// CSVRecord is c as a row under CDRCSVHeader (times RFC 3339 UTC, empty when zero).
func (c CDRView) CSVRecord() []string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	dur := ""
	if !c.AnswerAt.IsZero() && !c.EndAt.IsZero() {
		dur = strconv.FormatInt(int64(c.EndAt.Sub(c.AnswerAt).Round(time.Second)/time.Second), 10)
	}
	code := ""
	if c.SIPCode != 0 {
		code = strconv.Itoa(c.SIPCode)
	}
	return []string{c.ID, c.Direction, c.Line, c.From, c.To, c.SIPCallID, c.YNACallID,
		ts(c.SetupAt), ts(c.AnswerAt), ts(c.EndAt), dur, c.Result, c.EndReason, code}
}
