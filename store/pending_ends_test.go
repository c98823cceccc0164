package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestPendingEnds(t *testing.T) { forEachDriver(t, testPendingEnds) }

func testPendingEnds(t *testing.T, s *core) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if err := s.AddPendingEnd(ctx, PendingEnd{YNACallID: "B", Line: "14255550100", CDRID: "cdr-b", Since: at.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPendingEnd(ctx, PendingEnd{YNACallID: "A", Line: "14255550100", Since: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPendingEnd(ctx, PendingEnd{YNACallID: "B", Line: "14255550100", Since: at.Add(time.Hour)}); err != nil { // again
		t.Fatal(err)
	}
	if err := s.AddPendingEnd(ctx, PendingEnd{Line: "14255550100"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("without call id: %v", err)
	}
	got, err := s.ListPendingEnds(ctx)
	if err != nil || len(got) != 2 || got[0].YNACallID != "A" || got[1].YNACallID != "B" || got[1].CDRID != "cdr-b" || !got[1].Since.Equal(at.Add(time.Second)) {
		t.Fatalf("pending %+v %v", got, err)
	}
	if err := s.RemovePendingEnd(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemovePendingEnd(ctx, "nope"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListPendingEnds(ctx); len(got) != 1 || got[0].YNACallID != "B" {
		t.Fatalf("after remove %+v", got)
	}
}

// A pending end survives a restart (reopen of the same file).
func TestPendingEndsDurable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	s := openTest(t, path)
	if err := s.AddPendingEnd(ctx, PendingEnd{YNACallID: "X", Line: "14255550100"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	if got, err := s.ListPendingEnds(ctx); err != nil || len(got) != 1 || got[0].YNACallID != "X" {
		t.Fatalf("after reopen %+v %v", got, err)
	}
}
