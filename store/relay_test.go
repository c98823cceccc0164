package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRelayed: a listening node is notified of what another node publishes, in
// order, and reads the payload (larger than a NOTIFY payload may be); ending the
// listener's context ends ListenRelayed without error; purged rows are not found.
func TestRelayed(t *testing.T) {
	s := newPG(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lctx, lcancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	ids := make(chan int64, 8)
	done := make(chan error, 1)
	go func() { done <- s.ListenRelayed(lctx, func() { close(ready) }, func(id int64) { ids <- id }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("listen: %v", err)
	}
	big := make([]byte, 20000)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	for _, p := range [][]byte{[]byte("first"), big} {
		if err := s.PublishRelayed(ctx, "node-a", p); err != nil {
			t.Fatal(err)
		}
	}
	var got []Relayed
	for len(got) < 2 {
		select {
		case id := <-ids:
			r, err := s.GetRelayed(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		case <-ctx.Done():
			t.Fatalf("notified of %d of 2", len(got))
		}
	}
	if string(got[0].Payload) != "first" || len(got[1].Payload) != len(big) || got[1].Origin != "node-a" || got[0].ID >= got[1].ID {
		t.Fatalf("relayed out of order or altered: %d %q / %d bytes", got[0].ID, got[0].Payload, len(got[1].Payload))
	}
	lcancel()
	if err := <-done; err != nil {
		t.Fatalf("ListenRelayed after cancel: %v", err)
	}
	// Published while nobody listens: RelayedSince finds it after the last seen id.
	if err := s.PublishRelayed(ctx, "node-b", []byte("missed")); err != nil {
		t.Fatal(err)
	}
	missed, err := s.RelayedSince(ctx, got[1].ID)
	if err != nil || len(missed) != 1 || missed[0] <= got[1].ID {
		t.Fatalf("RelayedSince(%d) = %v %v; want the one missed row", got[1].ID, missed, err)
	}
	if _, err := s.w.ExecContext(ctx, "UPDATE relayed_status SET at = now() - interval '2 minutes'"); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeRelayed(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRelayed(ctx, got[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("purged row: %v, want ErrNotFound", err)
	}
}
