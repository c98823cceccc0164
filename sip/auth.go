package sip

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// authGuard counts digest failures per source address and blocks abusive sources.
type authGuard struct {
	mu       sync.Mutex
	limit    int
	blockFor time.Duration
	recs     map[netip.Addr]*failRec
}

type failRec struct {
	count        int
	last         time.Time
	blockedUntil time.Time
}

func newAuthGuard(limit int, blockFor time.Duration) *authGuard {
	return &authGuard{limit: limit, blockFor: blockFor, recs: map[netip.Addr]*failRec{}}
}

func (g *authGuard) blocked(ip netip.Addr, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.recs[ip]
	return r != nil && now.Before(r.blockedUntil)
}

// fail records a failure; it returns true when the source just became blocked.
func (g *authGuard) fail(ip netip.Addr, now time.Time) bool {
	if g.limit <= 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.recs[ip]
	if r == nil {
		r = &failRec{}
		g.recs[ip] = r
	}
	if now.Sub(r.last) > g.blockFor {
		r.count = 0
	}
	r.count++
	r.last = now
	if r.count >= g.limit {
		r.blockedUntil = now.Add(g.blockFor)
		r.count = 0
		return true
	}
	return false
}

func (g *authGuard) success(ip netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.recs, ip)
}

func (g *authGuard) purge(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ip, r := range g.recs {
		if now.After(r.blockedUntil) && now.Sub(r.last) > g.blockFor {
			delete(g.recs, ip)
		}
	}
}

// digestAuth checks the (Proxy-)Authorization of req against passwords. On success
// it returns the username. Otherwise it has already answered (401/407 challenge or
// 403) and returns ok=false.
func (s *Server) digestAuth(req *sip.Request, tx sip.ServerTransaction, proxy bool, password func(user string) (string, bool)) (string, bool) {
	hdrName, chalName, code := "Authorization", "WWW-Authenticate", 401
	if proxy {
		hdrName, chalName, code = "Proxy-Authorization", "Proxy-Authenticate", 407
	}
	src := sourceAddr(req)
	now := time.Now()
	stale := false
	for _, h := range req.GetHeaders(hdrName) {
		creds, err := parseDigestCreds(h.Value())
		if err != nil {
			continue
		}
		if creds.Realm != s.cfg.Domain {
			continue
		}
		valid, isStale := s.nonces.check(creds.Nonce, now)
		if !valid {
			// not our nonce: (re)challenge, no failure count (e.g. after restart)
			continue
		}
		pw, known := password(creds.Username)
		if !known || !verifyDigest(creds, string(req.Method), pw) {
			s.log.Info("digest auth failed", zap.String("user", creds.Username), zap.Stringer("src", src))
			if s.guard.fail(src.Addr(), now) {
				s.log.Warn("source blocked after repeated auth failures", zap.Stringer("src", src))
			}
			s.respond(req, tx, 403, "Forbidden", nil)
			return "", false
		}
		if isStale {
			stale = true
			continue
		}
		s.guard.success(src.Addr())
		return creds.Username, true
	}
	res := sip.NewResponseFromRequest(req, code, StatusText(code), nil)
	nonce := s.nonces.make(now)
	for _, alg := range s.digestAlgs {
		res.AppendHeader(sip.NewHeader(chalName, challenge(s.cfg.Domain, nonce, alg, stale)))
	}
	s.send(tx, res)
	return "", false
}

// identity is who sent a request.
type identity struct {
	user  *User
	trunk *Trunk
}

// trunksFrom returns trunks whose AllowFrom contains ip, and trunks without AllowFrom
// that use digest.
func (s *Server) trunkCandidates(ip netip.Addr) (byIP []*Trunk) {
	for i := range s.cfg.Trunks {
		t := &s.cfg.Trunks[i]
		for _, p := range t.AllowFrom {
			if p.Contains(ip.Unmap()) {
				byIP = append(byIP, t)
				break
			}
		}
	}
	return byIP
}

// authenticateInvite identifies the caller of a new INVITE: a trunk by IP allow-list
// (with optional digest), else a user or digest trunk by 407 proxy digest.
func (s *Server) authenticateInvite(req *sip.Request, tx sip.ServerTransaction) (identity, bool) {
	ip := sourceAddr(req).Addr()
	byIP := s.trunkCandidates(ip)
	for _, t := range byIP {
		if t.Username == "" {
			return identity{trunk: t}, true
		}
	}
	// digest: users, trunks allowed by IP (with digest) and trunks without allow-list
	name, ok := s.digestAuth(req, tx, true, func(u string) (string, bool) {
		for _, t := range byIP {
			if t.Username == u {
				return t.Password, true
			}
		}
		for i := range s.cfg.Trunks {
			t := &s.cfg.Trunks[i]
			if len(t.AllowFrom) == 0 && t.Username == u && t.Username != "" {
				return t.Password, true
			}
		}
		if usr := s.userByName(u); usr != nil {
			return usr.Password, true
		}
		return "", false
	})
	if !ok {
		return identity{}, false
	}
	for _, t := range byIP {
		if t.Username == name {
			return identity{trunk: t}, true
		}
	}
	for i := range s.cfg.Trunks {
		t := &s.cfg.Trunks[i]
		if len(t.AllowFrom) == 0 && t.Username == name {
			return identity{trunk: t}, true
		}
	}
	usr := s.userByName(name)
	if usr == nil { // removed by SetUsers while we checked
		s.respond(req, tx, 403, "Forbidden", nil)
		return identity{}, false
	}
	return identity{user: usr}, true
}

func sourceAddr(req *sip.Request) netip.AddrPort {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func headerHasToken(req sip.Message, name, token string) bool {
	for _, h := range req.GetHeaders(name) {
		for _, t := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
