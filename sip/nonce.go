package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Digest nonces (RFC 7616 §3.3, §5.4; RFC 2617 §3.2.2).
//
// A nonce is base64url(issued[8] | random[8] | mac[16]) where mac is
// HMAC-SHA256(server key, issued | random | client IP)[:16]: it carries its
// issue time and is valid only from the address it was issued to, without any
// state until it is first used. Once a request authenticates with a nonce, the
// nonce's nonce-count window is tracked (ncTracker) so a repeated or old nc is
// refused: a captured Authorization header cannot be replayed, from the same
// address or any other.

// nonceLen is the decoded size of a nonce.
const nonceLen = 8 + 8 + 16

// nonceKey identifies a nonce in the nc tracker (issued | random).
type nonceKey [16]byte

// nonceVerdict is what checking a nonce found.
type nonceVerdict int

const (
	nonceInvalid nonceVerdict = iota // not ours, tampered, or issued to another address
	nonceStale                       // ours, but older than the TTL (answer with stale=true)
	nonceFresh                       // ours and within the TTL
)

// nonceMaker issues and checks stateless nonces bound to the client address.
type nonceMaker struct {
	key []byte
	ttl time.Duration
}

func newNonceMaker(ttl time.Duration) *nonceMaker {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return &nonceMaker{key: k, ttl: ttl}
}

func (n *nonceMaker) mac(b []byte, ip netip.Addr) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write(b[:16])
	a := ip.Unmap().As16()
	m.Write(a[:])
	return m.Sum(nil)[:16]
}

// make returns a new nonce for a client at ip.
func (n *nonceMaker) make(now time.Time, ip netip.Addr) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(b[8:16])
	copy(b[16:], n.mac(b[:], ip))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// check verifies nonce for a request from ip at now. It returns the nonce's
// key and issue time when the nonce is ours.
func (n *nonceMaker) check(nonce string, ip netip.Addr, now time.Time) (nonceVerdict, nonceKey, time.Time) {
	var key nonceKey
	if base64.RawURLEncoding.DecodedLen(len(nonce)) != nonceLen {
		return nonceInvalid, key, time.Time{}
	}
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceLen {
		return nonceInvalid, key, time.Time{}
	}
	if subtle.ConstantTimeCompare(n.mac(b, ip), b[16:]) != 1 {
		return nonceInvalid, key, time.Time{}
	}
	copy(key[:], b[:16])
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	if now.Sub(issued) > n.ttl || issued.After(now.Add(time.Minute)) {
		return nonceStale, key, issued
	}
	return nonceFresh, key, issued
}

// parseNC parses a nonce-count: exactly 8 hex digits (RFC 7616 §3.4), not zero.
func parseNC(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil || v == 0 {
		return 0, false
	}
	return uint32(v), true
}

// ncWindow is how many nonce-counts below the highest one seen may still
// arrive once (requests sent in parallel with one nonce can overtake each
// other on UDP); anything older or seen before is a replay.
const ncWindow = 64

// ncEntryBytes is the approximate memory one tracked nonce costs (key, state,
// map bucket share); used for the documented bound.
const ncEntryBytes = 96

// DefaultMaxTrackedNonces bounds the nc tracker: 100 000 nonces ≈ 9.6 MB. A
// phone uses about one nonce per NonceTTL while it is active, so 10 000 phones
// need ≈ 10 000 entries ≈ 1 MB. Entries are created only by requests that
// authenticated, so an attacker without a password cannot fill it.
const DefaultMaxTrackedNonces = 100_000

type ncState struct {
	highest uint32
	seen    uint64 // bit i: highest-i was used
	expires time.Time
}

// ncTracker remembers the nonce-counts used with each nonce until it expires.
type ncTracker struct {
	mu    sync.Mutex
	max   int
	state map[nonceKey]*ncState
}

func newNCTracker(max int) *ncTracker {
	if max <= 0 {
		max = DefaultMaxTrackedNonces
	}
	return &ncTracker{max: max, state: map[nonceKey]*ncState{}}
}

// ncResult is what using a nonce-count found.
type ncResult int

const (
	ncOK     ncResult = iota
	ncReplay          // this nc (or an older one outside the window) was used before
	ncFull            // tracker full: the client must take a new nonce later (stale)
)

// use records nc for the nonce key; expires is when the nonce stops being
// accepted (its state can be dropped then).
func (t *ncTracker) use(key nonceKey, nc uint32, expires time.Time) ncResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.state[key]
	if st == nil {
		if len(t.state) >= t.max {
			return ncFull
		}
		t.state[key] = &ncState{highest: nc, seen: 1, expires: expires}
		return ncOK
	}
	switch {
	case nc > st.highest:
		shift := nc - st.highest
		if shift >= ncWindow {
			st.seen = 1
		} else {
			st.seen = st.seen<<shift | 1
		}
		st.highest = nc
		return ncOK
	case st.highest-nc >= ncWindow:
		return ncReplay
	default:
		bit := uint64(1) << (st.highest - nc)
		if st.seen&bit != 0 {
			return ncReplay
		}
		st.seen |= bit
		return ncOK
	}
}

// purge drops the state of nonces that expired.
func (t *ncTracker) purge(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, st := range t.state {
		if now.After(st.expires) {
			delete(t.state, k)
		}
	}
}

func (t *ncTracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.state)
}
