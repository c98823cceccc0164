package daemon

import (
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// TestClusterTokenRefreshByHolderOnly: two nodes' token caches on one store. The node
// not holding the line's lease does not refresh a due token (the refresh token would
// be spent twice); the holder does; the other node, refused its old token (401), reads
// the holder's new one from the store instead of refreshing, so the stored refresh
// token stays the holder's; adopt then has nothing new.
func TestClusterTokenRefreshByHolderOnly(t *testing.T) {
	e := newTokenEnv(t) // e.ts: the holder (tokens due within a minute)
	ctx := ctxT(t, 20*time.Second)
	e.ts.owns = func(string) bool { return true }
	e.ts.reload = e.st.GetLine
	other := &tokenStore{st: e.st, yc: e.ts.yc, log: zaptest.NewLogger(t), before: 10 * time.Minute,
		owns: func(string) bool { return false }, reload: e.st.GetLine}
	if _, err := other.load(ctx); err != nil {
		t.Fatal(err)
	}
	old, _ := other.AccessToken(ctx, tLine)

	other.refreshDue(ctx, time.Now())
	if l, _ := e.st.GetLine(ctx, tLine); l.AccessToken != old {
		t.Fatal("the node not holding the lease refreshed the token")
	}
	e.ts.refreshDue(ctx, time.Now())
	held, err := e.st.GetLine(ctx, tLine)
	if err != nil || held.AccessToken == old {
		t.Fatalf("the holder did not refresh: %+v %v", held, err)
	}
	tok, err := other.RefreshAccessToken(ctx, tLine, old)
	if err != nil || tok != held.AccessToken {
		t.Fatalf("other node after a 401: %q %v, want the holder's token", tok, err)
	}
	if l, _ := e.st.GetLine(ctx, tLine); l.RefreshToken != held.RefreshToken || l.AccessToken != held.AccessToken {
		t.Fatalf("the other node refreshed again: stored %+v, holder stored %+v", l, held)
	}
	if other.adopt(held) {
		t.Error("adopt changed the cache after the reload already took the row")
	}
}
