package admin

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCallsAPIWithoutSupport: a Backend without CallHanger / CDRLister answers 501 (the
// route exists, with the same auth as the rest of the API).
func TestCallsAPIWithoutSupport(t *testing.T) {
	h := newHarness(t, nil)
	for _, r := range []req{{method: http.MethodDelete, path: "/api/v1/calls/c1"}, {method: http.MethodGet, path: "/api/v1/cdrs"}} {
		r.auth = "none"
		if w := h.do(r); w.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials: %d", r.method, r.path, w.Code)
		}
		r.auth = "bearer"
		if w := h.do(r); w.Code != http.StatusNotImplemented {
			t.Errorf("%s %s: %d %s, want 501", r.method, r.path, w.Code, w.Body)
		}
	}
}

// TestCDRsAPI: limit and format are checked; the CSV quotes fields with commas and
// quotes and gives the answered duration in seconds.
func TestCDRsAPI(t *testing.T) {
	hb := &hangupBackend{fakeBackend: &fakeBackend{}, cdrs: []CDRView{{ID: "c1", Direction: "inbound", Line: "14255550100",
		From: "12065550199", SetupAt: t0, AnswerAt: t0.Add(2 * time.Second), EndAt: t0.Add(92 * time.Second),
		Result: "answered", EndReason: `BYE "from phone", normal`, SIPCode: 200}}}
	h := newHarness(t, nil)
	h.s.b = hb
	for _, q := range []string{"limit=0", "limit=x", "limit=10001", "format=xml"} {
		if w := h.do(req{method: http.MethodGet, path: "/api/v1/cdrs?" + q, auth: "bearer"}); w.Code != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", q, w.Code)
		}
	}
	w := h.do(req{method: http.MethodGet, path: "/api/v1/cdrs?format=csv&limit=5", auth: "basic"})
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("csv rows %v %v", rows, err)
	}
	if got := strings.Join(rows[1], "|"); got != `c1|inbound|14255550100|12065550199||||2026-11-26T12:00:00Z|2026-11-26T12:00:02Z|2026-11-26T12:01:32Z|90|answered|BYE "from phone", normal|200` {
		t.Errorf("csv row %s", got)
	}
	if w := h.do(req{method: http.MethodDelete, path: "/api/v1/calls/nope", auth: "bearer"}); w.Code != http.StatusNotFound {
		t.Errorf("hangup of an unknown call: %d", w.Code)
	}
}
