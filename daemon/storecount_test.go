package daemon

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ynagw/ynagw/store"
)

// TestLineStoreErrorsCounted: a line write the store refuses (here: the database is
// closed) counts as op "line"; an unknown line does not.
func TestLineStoreErrorsCounted(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	st := openStore(t, filepath.Join(t.TempDir(), "db"), testKey(t))
	var ops []string
	s := lineStoreCounter{Store: st, onErr: func(op string) { ops = append(ops, op) }}
	if err := s.MarkNeedsRelink(ctx, "19999999999", "x"); err == nil {
		t.Fatal("unknown line marked")
	}
	if len(ops) != 0 {
		t.Fatalf("unknown line counted: %v", ops)
	}
	if err := s.PutLine(ctx, store.Line{MSISDN: tLine, AccessToken: "a", RefreshToken: "r", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	if err := s.PutLine(ctx, store.Line{MSISDN: tLine, AccessToken: "b"}); err == nil {
		t.Fatal("write to a closed store succeeded")
	}
	if len(ops) != 1 || ops[0] != "line" {
		t.Errorf("ops %v, want [line]", ops)
	}
}
