package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// listenerRequester is s.client's TxRequester: every UDP request the client sends
// (in-dialog BYE/re-INVITE/UPDATE/ACK, keep-alive OPTIONS, fork INVITE/CANCEL)
// leaves from the UDP listener socket, the address phones registered to and
// latched onto through their NAT, never from a throwaway socket (whose reply
// path a NAT would not open, and whose reader sipgo may leave running).
// Requests over TCP/TLS and requests that already chose a local address are
// passed through unchanged; a UDP request over 1300 bytes goes over TCP when it
// can (requestOverTCP).
type listenerRequester struct{ s *Server }

func (r listenerRequester) Request(ctx context.Context, req *sip.Request) (sip.ClientTransaction, error) {
	if tx, ok, err := r.s.requestOverTCP(ctx, req); ok || err != nil {
		return tx, err // a large request moved to TCP (RFC 3261 §18.1.1)
	}
	if err := r.s.bindUDPListener(req); err != nil {
		return nil, err
	}
	if req.IsAck() { // Client.WriteRequest: no transaction
		return nil, r.s.ua.TransportLayer().WriteMsg(req)
	}
	tx, err := r.s.ua.TransactionLayer().Request(ctx, req)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return tx, nil
}

// udpListener is the local address of the UDP listener socket as sipgo's
// connection pool knows it, and the advertised sent-by for Via.
type udpListener struct {
	laddr   sip.Addr
	key     string // pool key: the socket's LocalAddr().String()
	viaHost string
	viaPort int
}

// errListenerNotServed: a UDP request while sipgo does not serve the listener
// (before Start finished); sending it would bind a throwaway socket.
var errListenerNotServed = errors.New("sip: udp listener not served")

// bindUDPListener sets req.Laddr to the UDP listener (and the Via sent-by to the
// advertised address) when req goes over UDP and has no local address yet. It
// fails rather than let sipgo bind a new socket for a target the listener can
// reach.
func (s *Server) bindUDPListener(req *sip.Request) error {
	if sip.NetworkToLower(req.Transport()) != "udp" || req.Laddr.Port != 0 {
		return nil
	}
	s.mu.Lock()
	l := s.udpListen
	s.mu.Unlock()
	if l == nil {
		return nil
	}
	if !l.canReach(req.Destination()) {
		return nil // e.g. an IPv6 target and an IPv4 listener: let sipgo pick a socket
	}
	// only while sipgo serves the socket (or after Close, a closedUDPConn)
	c, err := s.ua.TransportLayer().GetConnection("udp", l.key)
	if err != nil {
		return fmt.Errorf("%w: %s", errListenerNotServed, l.key)
	}
	_, _ = c.TryClose() // undo GetConnection's reference
	l.laddr.Copy(&req.Laddr)
	if via := req.Via(); via != nil && l.viaPort != 0 && via.Port == 0 && (via.Host == "" || via.Host == l.viaHost) {
		via.Host, via.Port = l.viaHost, l.viaPort
	}
	return nil
}

// newUDPListener describes the UDP listener bound to local and advertised as adv
// ("host:port"; empty when not configured).
func newUDPListener(local *net.UDPAddr, adv string) *udpListener {
	l := &udpListener{
		laddr: sip.Addr{IP: append(net.IP(nil), local.IP...), Port: local.Port, Hostname: local.IP.String()},
		key:   local.String(),
	}
	if adv == "" {
		return l // sipgo fills Via sent-by from the socket's address
	}
	host, portS, err := net.SplitHostPort(adv)
	if p, perr := strconv.Atoi(portS); err == nil && perr == nil && host != "" && p > 0 {
		l.viaHost, l.viaPort = host, p
	}
	return l
}

// canReach reports whether the listener socket can send to dest ("host:port"): an
// IPv4 listener cannot reach an IPv6 address. Host names are assumed reachable.
func (l *udpListener) canReach(dest string) bool {
	host, _, err := net.SplitHostPort(dest)
	if err != nil {
		host = dest
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return true
	}
	v4Listener := l.laddr.IP.To4() != nil
	return !v4Listener || ip.Unmap().Is4()
}
