package daemon

import (
	"context"

	"github.com/ynagw/ynagw/store"
)

// Tokens in clustered mode. Every node reads tokens from the shared store (outbound
// calls work on every node), but only a line's lease holder refreshes them: a refresh
// spends the refresh token, and two nodes refreshing at once would have the second
// one refused and the line marked needs-relink. The other nodes pick the holder's new
// token up from the store (adopt, every lease round) and, on a 401, re-read the row
// before refreshing themselves (reloadRefused).

// adopt takes a stored row that is newer than the cached one (another node linked,
// refreshed or unlinked the line); true if the cache changed.
func (t *tokenStore) adopt(l store.Line) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, ok := t.lines[l.MSISDN]
	if ok && !l.UpdatedAt.After(cur.UpdatedAt) && cur.AccessToken == l.AccessToken {
		return false
	}
	if ok && cur.AccessToken == l.AccessToken && cur.RefreshToken == l.RefreshToken && cur.State == l.State {
		cur.UpdatedAt = l.UpdatedAt
		t.lines[l.MSISDN] = cur
		return false
	}
	if t.lines == nil {
		t.lines = map[string]store.Line{}
	}
	t.lines[l.MSISDN] = l
	if l.State == store.LineLinked {
		delete(t.relinked, l.MSISDN)
	}
	if t.onExp != nil && !l.ExpiresAt.IsZero() {
		t.onExp(l.MSISDN, l.ExpiresAt)
	}
	t.relinkState(l.MSISDN, l.State == store.LineNeedsRelink)
	return true
}

// mayRefresh reports whether this node refreshes line's token (always outside a cluster).
func (t *tokenStore) mayRefresh(line string) bool { return t.owns == nil || t.owns(line) }

// reloadRefused re-reads line from the store after the network refused token; it
// returns the stored token if it is another (the holder refreshed it), else "".
func (t *tokenStore) reloadRefused(ctx context.Context, line, refused string) string {
	if t.reload == nil {
		return ""
	}
	l, err := t.reload(ctx, line)
	if err != nil || l.AccessToken == "" || l.AccessToken == refused || l.State != store.LineLinked {
		return ""
	}
	t.adopt(l)
	return l.AccessToken
}
