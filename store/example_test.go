package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ynagw/ynagw/store"
)

// Example shows the call-path ordering the durability contract expects.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "ynagw-example")
	defer os.RemoveAll(dir)

	key, _ := store.ParseKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	s, err := store.OpenSQLite(ctx, filepath.Join(dir, "ynagw.db"), key)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	// At startup: close what a crash left open (after DELETE /call/end on YNA).
	orphans, _ := s.OpenCalls(ctx)
	for _, c := range orphans {
		_ = s.CloseCall(ctx, c.ID, store.CallEnd{Result: "orphaned", Reason: "restart"})
	}

	_ = s.PutLine(ctx, store.Line{MSISDN: "14155550100", AccessToken: "AT", RefreshToken: "RT", ExpiresAt: time.Now().Add(24 * time.Hour)})

	// INVITE from a phone: record before starting the YNA call.
	_ = s.OpenCall(ctx, store.CDR{ID: "c1", Direction: store.Outbound, Line: "14155550100", SIPCallID: "abc@phone"})
	_ = s.UpdateCall(ctx, store.CDR{ID: "c1", YNACallID: "yna-42"})
	// Far end answered: commit, then send 200 OK.
	_ = s.UpdateCall(ctx, store.CDR{ID: "c1", AnswerAt: time.Now(), SIPCode: 200})
	// BYE.
	_ = s.CloseCall(ctx, "c1", store.CallEnd{Result: "answered", Reason: "BYE", Stats: store.Stats{PacketsSIPIn: 1500}})

	c, _ := s.GetCall(ctx, "c1")
	fmt.Println(c.Result, c.YNACallID, c.SIPCode, c.Open())
	// Output: answered yna-42 200 false
}
