package sip

import (
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
)

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
