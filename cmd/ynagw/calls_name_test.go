package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestCallsTableRemoteName: `ynagw calls` prints the remote party's name (remoteName of
// GET /api/v1/calls) in the NAME column, "-" when the network gave none.
func TestCallsTableRemoteName(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/calls" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`[{"id":"c1","direction":"inbound","line":"14255550100","remote":"12065550177","remoteName":"Alice Example","state":"connected","since":"2026-01-01T00:00:00Z"},
{"id":"c2","direction":"outbound","line":"14255550100","remote":"12065550123","state":"ringing","since":"2026-01-01T00:00:00Z"}]`))
	}))
	defer srv.Close()
	c, err := newAPIClient("", strings.TrimPrefix(srv.URL, "http://"), "tok")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := c.printCalls(ctx, &out, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.Contains(lines[0], "REMOTE       NAME") || !strings.Contains(lines[1], "12065550177  Alice Example  connected") ||
		!strings.Contains(lines[2], "12065550123  -") {
		t.Errorf("ynagw calls:\n%s", out.String())
	}
}
