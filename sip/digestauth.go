package sip

import (
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// Auth failure reasons (AuthObserver.AuthFailure, metric label values).
const (
	AuthFailPassword    = "password"     // known user, wrong response
	AuthFailUnknownUser = "unknown_user" // username not configured
	AuthFailReplay      = "replay"       // nonce-count used before: a replayed header
	AuthFailNonce       = "nonce"        // nonce not ours, tampered, or issued to another address
	AuthFailBlocked     = "blocked"      // (source, user) blocked after repeated failures
	AuthFailMalformed   = "malformed"    // unparseable header, no qop=auth, bad nc
)

// AuthObserver is an optional extension of Observer for digest authentication.
type AuthObserver interface {
	// AuthFailure counts one refused credential by reason (AuthFail*).
	AuthFailure(reason string)
	// AuthBlocked reports the number of (source, username) keys blocked now.
	AuthBlocked(n int)
}

func (s *Server) authFailure(reason string) {
	if o, ok := s.obs.(AuthObserver); ok {
		o.AuthFailure(reason)
	}
}

func (s *Server) reportBlocked(now time.Time) {
	if o, ok := s.obs.(AuthObserver); ok {
		o.AuthBlocked(s.guard.blockedCount(now))
	}
}

// allowListed reports whether a trunk's AllowFrom admits ip: such a source is
// never blocked by digest failures.
func (s *Server) allowListed(ip netip.Addr) bool { return len(s.trunkCandidates(ip)) > 0 }

// digestAuth checks the (Proxy-)Authorization of req against passwords. On
// success it returns the username. Otherwise it has already answered (401/407
// challenge, or 403) and returns ok=false.
//
// A credential is accepted only with qop=auth, a nonce we issued to this
// source address within NonceTTL, and a nonce-count not used before with that
// nonce (RFC 7616 §3.3-3.4). A correct response with a stale nonce is
// re-challenged with stale=true; a replayed or foreign nonce is re-challenged.
// Wrong passwords count towards a block of (source, username) (authGuard).
func (s *Server) digestAuth(req *sip.Request, tx sip.ServerTransaction, proxy bool, password func(user string) (string, bool)) (string, bool) {
	hdrName, chalName, code := "Authorization", "WWW-Authenticate", 401
	if proxy {
		hdrName, chalName, code = "Proxy-Authorization", "Proxy-Authenticate", 407
	}
	src := s.clientAddr(req) // behind a proxy of Config.Proxies: the phone (proxysrc.go)
	ip := src.Addr()
	now := s.now()
	stale := false
	log := s.log.With(zap.String("sip_call_id", callIDOf(req)), zap.Stringer("src", src))
	for _, h := range req.GetHeaders(hdrName) {
		creds, err := parseDigestCreds(h.Value())
		if err != nil {
			s.authFailure(AuthFailMalformed)
			log.Info("digest auth: malformed credentials", zap.Error(err))
			continue
		}
		if creds.Realm != s.cfg.Domain {
			continue
		}
		verdict, key, issued := s.nonces.check(creds.Nonce, ip, now)
		if verdict == nonceInvalid {
			// not ours, or issued to another address (a copied header), or from
			// before a restart: challenge again, no failure count
			s.authFailure(AuthFailNonce)
			log.Info("digest auth: unknown nonce", zap.String("user", creds.Username))
			continue
		}
		pw, known := password(creds.Username)
		gk := guardKey{ip: ip, user: creds.Username}
		if !known {
			gk.user = ""
		}
		allow := s.allowListed(sourceAddr(req).Addr()) // the real source: a client cannot claim a trunk's address
		if !allow {
			if until, blocked := s.guard.blockedUntil(gk, now); blocked {
				s.authFailure(AuthFailBlocked)
				log.Debug("digest auth: blocked", zap.String("user", creds.Username), zap.Time("until", until))
				s.respond(req, tx, 403, "Blocked", nil)
				return "", false
			}
		}
		nc, ncOK := parseNC(creds.NC)
		if !strings.EqualFold(creds.QOP, "auth") || !ncOK || creds.CNonce == "" {
			s.authFailure(AuthFailMalformed)
			log.Info("digest auth: qop=auth with nc and cnonce required", zap.String("user", creds.Username))
			continue
		}
		if !known || !verifyDigest(creds, string(req.Method), pw) {
			reason := AuthFailPassword
			if !known {
				reason = AuthFailUnknownUser
			}
			s.authFailure(reason)
			log.Info("digest auth failed", zap.String("user", creds.Username), zap.String("reason", reason))
			if !allow {
				if until, strikes, blocked := s.guard.fail(gk, now); blocked {
					log.Warn("SIP source blocked after repeated auth failures", zap.String("user", gk.user),
						zap.Time("until", until), zap.Duration("for", until.Sub(now)), zap.Int("strikes", strikes))
					s.reportBlocked(now)
				}
			}
			s.respond(req, tx, 403, "Forbidden", nil)
			return "", false
		}
		if verdict == nonceStale {
			stale = true
			continue
		}
		switch s.ncs.use(key, nc, issued.Add(s.cfg.NonceTTL)) {
		case ncReplay:
			s.authFailure(AuthFailReplay)
			log.Warn("digest auth: nonce-count reused (replayed credentials)", zap.String("user", creds.Username),
				zap.String("nc", creds.NC))
			continue
		case ncFull:
			log.Warn("digest auth: nonce tracker full; client asked for a new nonce", zap.Int("max", s.ncs.max))
			stale = true
			continue
		}
		s.guard.success(gk)
		return creds.Username, true
	}
	res := sip.NewResponseFromRequest(req, code, StatusText(code), nil)
	nonce := s.nonces.make(now, ip)
	for _, alg := range s.digestAlgs {
		res.AppendHeader(sip.NewHeader(chalName, challenge(s.cfg.Domain, nonce, alg, stale)))
	}
	s.send(tx, res)
	return "", false
}

func callIDOf(req *sip.Request) string {
	if c := req.CallID(); c != nil {
		return c.Value()
	}
	return ""
}

// AuthBlocks lists the (source, username) keys that digest failures block now.
func (s *Server) AuthBlocks() []AuthBlock { return s.guard.list(s.now()) }

// Unblock lifts the blocks of src: of user only, or of every username when
// user is "*". It returns how many blocks it lifted.
func (s *Server) Unblock(src netip.Addr, user string) int {
	n := s.guard.unblock(src, user, user == "*")
	if n > 0 {
		s.log.Warn("SIP auth block lifted by operator", zap.Stringer("src", src), zap.String("user", user), zap.Int("keys", n))
	}
	s.reportBlocked(s.now())
	return n
}
