package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestLeaseLifecycle: a free line goes to the first node; the other node is
// refused while the lease is live and told who holds it; renewals keep the
// epoch; after the TTL passes (database clock) the other node takes it with
// a higher epoch and the old holder's renewal is refused; a release hands it
// over at once.
func TestLeaseLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newPG(t)
	const ttl = 300 * time.Millisecond
	l, held, err := s.AcquireLease(ctx, "1", "a", "127.0.0.1:5060", ttl)
	if err != nil || !held || l.Holder != "a" || l.Epoch != 1 || l.Prev != "" {
		t.Fatalf("a acquire = %+v %v %v; want held by a, epoch 1, no prev", l, held, err)
	}
	l, held, err = s.AcquireLease(ctx, "1", "b", "127.0.0.1:5070", ttl)
	if err != nil || held || l.Holder != "a" || l.NodeAddr != "127.0.0.1:5060" {
		t.Fatalf("b acquire while a holds = %+v %v %v; want refused, holder a", l, held, err)
	}
	l, held, err = s.AcquireLease(ctx, "1", "a", "127.0.0.1:5060", ttl)
	if err != nil || !held || l.Epoch != 1 || l.Prev != "a" {
		t.Fatalf("a renew = %+v %v %v; want held, epoch 1", l, held, err)
	}
	// Wait (on the database clock) until a's lease has passed its expiry.
	deadline := time.Now().Add(5 * time.Second)
	for {
		now, err := s.DBNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if now.After(l.ExpiresAt) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("database clock never passed the lease expiry")
		}
		time.Sleep(20 * time.Millisecond) // polling the database clock, not synchronising goroutines
	}
	l, held, err = s.AcquireLease(ctx, "1", "b", "127.0.0.1:5070", ttl)
	if err != nil || !held || l.Holder != "b" || l.Epoch != 2 || l.Prev != "a" {
		t.Fatalf("b takeover = %+v %v %v; want held by b, epoch 2, prev a", l, held, err)
	}
	if l, held, _ = s.AcquireLease(ctx, "1", "a", "127.0.0.1:5060", ttl); held || l.Holder != "b" {
		t.Fatalf("a renew after takeover = %+v held=%v; want refused", l, held)
	}
	if err := s.ReleaseLease(ctx, "1", "a"); err != nil { // not a's: no effect
		t.Fatal(err)
	}
	if _, held, _ = s.AcquireLease(ctx, "1", "a", "x", time.Minute); held {
		t.Fatal("a took the line after releasing a lease it did not hold")
	}
	if err := s.ReleaseLease(ctx, "1", "b"); err != nil {
		t.Fatal(err)
	}
	if l, held, err = s.AcquireLease(ctx, "1", "a", "x", time.Minute); err != nil || !held || l.Epoch != 3 || l.Prev != "" {
		t.Fatalf("a after b released = %+v %v %v; want held, epoch 3, no prev (released, not died)", l, held, err)
	}
	ls, err := s.Leases(ctx)
	if err != nil || len(ls) != 1 || ls[0].Holder != "a" {
		t.Fatalf("Leases = %+v %v", ls, err)
	}
}

// TestLeaseExclusive: many nodes racing for free lines: each line ends with
// exactly one holder.
func TestLeaseExclusive(t *testing.T) {
	ctx := context.Background()
	s := newPG(t)
	lines := []string{"1", "2", "3"}
	nodes := []string{"a", "b", "c", "d"}
	var mu sync.Mutex
	holders := map[string][]string{}
	var wg sync.WaitGroup
	for _, n := range nodes {
		for _, m := range lines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, held, err := s.AcquireLease(ctx, m, n, n, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if held {
					mu.Lock()
					holders[m] = append(holders[m], n)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for _, m := range lines {
		if len(holders[m]) != 1 {
			t.Errorf("line %s held by %v, want exactly one node", m, holders[m])
		}
	}
}

func TestRegistrations(t *testing.T) {
	ctx := context.Background()
	s := newPG(t)
	exp := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	if err := s.PutRegistration(ctx, Registration{User: "alice", URI: "sip:alice@10.0.0.1", Node: "a", Binding: []byte(`{"x":1}`), Expires: exp}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRegistration(ctx, Registration{User: "alice", URI: "sip:alice@10.0.0.1", Node: "b", Binding: []byte(`{"x":2}`), Expires: exp}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRegistration(ctx, Registration{User: "alice", URI: "sip:alice@10.0.0.2", Node: "a", Binding: []byte(`{}`), Expires: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	rs, err := s.LookupRegistrations(ctx, "alice")
	if err != nil || len(rs) != 1 || rs[0].Node != "b" || string(rs[0].Binding) != `{"x":2}` || !rs[0].Expires.Equal(exp) {
		t.Fatalf("Lookup = %+v %v; want the one live binding, rewritten by b", rs, err)
	}
	if err := s.DeleteRegistration(ctx, "alice", "sip:alice@10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRegistration(ctx, "alice", "sip:nobody"); err != nil {
		t.Fatalf("delete of a missing binding: %v", err)
	}
	if rs, _ := s.LookupRegistrations(ctx, "alice"); len(rs) != 0 {
		t.Fatalf("after delete: %+v", rs)
	}
	if err := s.PutRegistration(ctx, Registration{URI: "x"}); err == nil {
		t.Fatal("registration without user accepted")
	}
}

// TestHeartbeat: live nodes are those whose heartbeat has not expired (by the
// database clock); a second process with a live node's id is refused (ErrNodeInUse),
// one whose heartbeat expired may take the id over; Leave removes a node at once.
func TestHeartbeat(t *testing.T) {
	ctx := context.Background()
	s := newPG(t)
	if _, err := s.Heartbeat(ctx, "a", "ia", "127.0.0.1:5060", time.Minute); err != nil {
		t.Fatal(err)
	}
	ns, err := s.Heartbeat(ctx, "b", "ib", "127.0.0.1:5070", time.Minute)
	if err != nil || len(ns) != 2 || ns[0].ID != "a" || ns[1].SIPAddr != "127.0.0.1:5070" {
		t.Fatalf("nodes = %+v %v; want a and b", ns, err)
	}
	if _, err := s.Heartbeat(ctx, "c", "ic", "", time.Microsecond); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Heartbeat(ctx, "a", "other-process", "127.0.0.1:5061", time.Minute); !errors.Is(err, ErrNodeInUse) {
		t.Fatalf("second process with node id a: %v, want ErrNodeInUse", err)
	}
	if _, err := s.Heartbeat(ctx, "c", "c-restarted", "", time.Minute); err != nil {
		t.Fatalf("restart of c after its heartbeat expired: %v", err)
	}
	if err := s.Leave(ctx, "a", "other-process"); err != nil {
		t.Fatal(err)
	}
	if err := s.Leave(ctx, "a", "ia"); err != nil {
		t.Fatal(err)
	}
	ns, err = s.Heartbeat(ctx, "b", "ib", "127.0.0.1:5070", time.Minute)
	if err != nil || len(ns) != 2 || ns[0].ID != "b" || ns[1].ID != "c" {
		t.Fatalf("nodes after a left = %+v %v; want b and the restarted c", ns, err)
	}
}
