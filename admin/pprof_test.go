package admin

import (
	"net/http"
	"strings"
	"testing"
)

// TestPprof: admin.pprof serves Go's profiler behind the admin authentication;
// without it the routes do not exist.
func TestPprof(t *testing.T) {
	on := newHarness(t, func(c *Config) { c.Pprof = true })
	if rec := on.do(req{path: "/debug/pprof/"}); rec.Code != 200 || !strings.Contains(rec.Body.String(), "goroutine") {
		t.Fatalf("pprof index: %d %.200q", rec.Code, rec.Body)
	}
	if rec := on.do(req{path: "/debug/pprof/goroutine?debug=1", auth: "bearer"}); rec.Code != 200 || !strings.Contains(rec.Body.String(), "goroutine profile") {
		t.Fatalf("goroutine profile: %d %.200q", rec.Code, rec.Body)
	}
	if rec := on.do(req{path: "/debug/pprof/heap", auth: "none"}); rec.Code != http.StatusUnauthorized {
		t.Fatalf("pprof without credentials: %d, want 401", rec.Code)
	}
	off := newHarness(t, nil)
	if rec := off.do(req{path: "/debug/pprof/"}); rec.Code != http.StatusNotFound {
		t.Fatalf("pprof off: %d, want 404", rec.Code)
	}
}
