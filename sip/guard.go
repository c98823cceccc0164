package sip

import (
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Brute-force defence for digest authentication.
//
// Failures are counted per (source address, username); every unknown username
// from one source shares one bucket, so enumerating names costs the attacker
// the same as guessing one password and memory stays bounded per source. A key
// that reaches the failure limit is blocked, first for the base block time,
// then each further block of the same key doubles (up to the maximum, 24 h by
// default): a dictionary attack gets about limit×log2(max/base) guesses a day.
// A blocked key gets 403 without its credentials being checked, so nothing is
// learnt during a block. Other users behind the same address (a NAT) are not
// affected, and a source that a trunk's allow-list admits is never blocked:
// UDP source addresses are easy to forge, and a forged failure must not take
// the PBX out of service.

// guardKey is what failures are counted against.
type guardKey struct {
	ip   netip.Addr
	user string // "" = any unknown username
}

type failRec struct {
	count        int       // failures since the last block or success
	last         time.Time // last failure
	blockedUntil time.Time
	strikes      int // blocks so far; the next one lasts base × 2^strikes
}

// authGuard counts digest failures and blocks keys that keep failing.
type authGuard struct {
	mu        sync.Mutex
	limit     int           // failures before a block; <= 0 = never block
	base, max time.Duration // first block, longest block
	forget    time.Duration // a key with no failure for this long starts over
	maxRecs   int           // bound on tracked keys
	recs      map[guardKey]*failRec
}

// maxGuardRecords bounds the guard's memory (≈ 120 bytes a record ≈ 6 MB).
const maxGuardRecords = 50_000

func newAuthGuard(limit int, base, max time.Duration) *authGuard {
	if max < base {
		max = base
	}
	forget := 24 * time.Hour
	if max > forget {
		forget = max
	}
	return &authGuard{limit: limit, base: base, max: max, forget: forget, maxRecs: maxGuardRecords,
		recs: map[guardKey]*failRec{}}
}

// blockedUntil reports whether k is blocked at now and until when.
func (g *authGuard) blockedUntil(k guardKey, now time.Time) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.recs[k]
	if r == nil || !now.Before(r.blockedUntil) {
		return time.Time{}, false
	}
	return r.blockedUntil, true
}

// blockFor is how long the block number strikes (1-based) lasts.
func (g *authGuard) blockFor(strikes int) time.Duration {
	d := g.base
	for i := 1; i < strikes && d < g.max; i++ {
		d *= 2
	}
	if d > g.max {
		d = g.max
	}
	return d
}

// fail records a failure of k. When it starts a block it returns the block's
// end and the number of blocks k has had.
func (g *authGuard) fail(k guardKey, now time.Time) (until time.Time, strikes int, blocked bool) {
	if g.limit <= 0 {
		return time.Time{}, 0, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.recs[k]
	if r == nil {
		if len(g.recs) >= g.maxRecs {
			g.purgeLocked(now)
		}
		if len(g.recs) >= g.maxRecs {
			// Full of live records: count the failure against the unknown-user
			// bucket of the source, which always exists for this purpose.
			k.user = ""
			if r = g.recs[k]; r == nil {
				r = &failRec{}
				g.recs[k] = r
			}
		} else {
			r = &failRec{}
			g.recs[k] = r
		}
	}
	if now.Sub(r.last) > g.forget {
		r.count, r.strikes = 0, 0
	}
	r.count++
	r.last = now
	if r.count < g.limit {
		return time.Time{}, r.strikes, false
	}
	r.strikes++
	r.count = 0
	r.blockedUntil = now.Add(g.blockFor(r.strikes))
	return r.blockedUntil, r.strikes, true
}

// success forgets the failures of k (its strikes stay until forgotten, so an
// attacker who also owns a valid account cannot reset the escalation).
func (g *authGuard) success(k guardKey) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.recs[k]; r != nil {
		r.count = 0
		if r.strikes == 0 {
			delete(g.recs, k)
		}
	}
}

func (g *authGuard) purge(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.purgeLocked(now)
}

func (g *authGuard) purgeLocked(now time.Time) {
	for k, r := range g.recs {
		if !now.Before(r.blockedUntil) && now.Sub(r.last) > g.forget {
			delete(g.recs, k)
		}
	}
}

// blockedCount is the number of keys blocked at now.
func (g *authGuard) blockedCount(now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, r := range g.recs {
		if now.Before(r.blockedUntil) {
			n++
		}
	}
	return n
}

// AuthBlock is one (source, username) that digest failures have blocked.
type AuthBlock struct {
	Source   netip.Addr `json:"source"`
	User     string     `json:"user"` // "" = unknown usernames from this source
	Until    time.Time  `json:"until"`
	Strikes  int        `json:"strikes"` // blocks so far; the next lasts twice as long
	Failures int        `json:"failures"`
}

func (g *authGuard) list(now time.Time) []AuthBlock {
	g.mu.Lock()
	var out []AuthBlock
	for k, r := range g.recs {
		if now.Before(r.blockedUntil) {
			out = append(out, AuthBlock{Source: k.ip, User: k.user, Until: r.blockedUntil, Strikes: r.strikes, Failures: r.count})
		}
	}
	g.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source.Less(out[j].Source)
		}
		return out[i].User < out[j].User
	})
	return out
}

// unblock lifts and forgets the blocks of ip (all its usernames when all is
// true, else only user). It returns how many keys it cleared.
func (g *authGuard) unblock(ip netip.Addr, user string, all bool) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for k := range g.recs {
		if k.ip == ip.Unmap() && (all || k.user == user) {
			delete(g.recs, k)
			n++
		}
	}
	return n
}
