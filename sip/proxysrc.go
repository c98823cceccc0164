package sip

// Phones behind a proxy (configs/kamailio): every request arrives from the
// proxy's address, so digest nonces and the auth guard, which key on the
// source, would lump all phones together, and one phone's (or an attacker's)
// failures would block a username for every phone. A proxy listed in
// Config.Proxies names the client in sourceHeader (it drops any copy the
// client sent); nonces and guard keys use that address. Trunk allow-lists and
// the registrar (where to send) still use the real source.

import (
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// sourceHeader carries the client's address ("sip:1.2.3.4:5060" as Kamailio's
// $su, or "1.2.3.4:5060") in requests from a proxy of Config.Proxies.
const sourceHeader = "X-Ynagw-Source"

// clientAddr is the address of the client that sent req: the real source,
// unless that is a proxy of Config.Proxies and the request names the client.
func (s *Server) clientAddr(req *sip.Request) netip.AddrPort {
	src := sourceAddr(req)
	if !src.IsValid() || !s.fromProxy(src.Addr()) {
		return src
	}
	h := req.GetHeader(sourceHeader)
	if h == nil {
		return src
	}
	if ap, ok := parseSourceValue(h.Value()); ok {
		return ap
	}
	return src
}

func (s *Server) fromProxy(ip netip.Addr) bool {
	for _, p := range s.cfg.Proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseSourceValue reads "sip:1.2.3.4:5060;transport=udp", "sip:[::1]:5060" or
// "1.2.3.4:5060".
func parseSourceValue(v string) (netip.AddrPort, bool) {
	v = strings.TrimSpace(v)
	if len(v) > 4 && strings.EqualFold(v[:4], "sip:") {
		v = v[4:]
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	ap, err := netip.ParseAddrPort(v)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}
