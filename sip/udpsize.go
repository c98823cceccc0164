package sip

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// Message sizes over UDP (RFC 3261 §18.1.1, §18.2.2).
//
// sipgo refuses to write any UDP message within 200 bytes of sip.UDPMTUSize
// (1500 by default), responses included: a 200 OK that echoes a long
// Record-Route set was never sent and the call was lost after the other side
// had answered it. RFC 3261 puts no such limit on responses (they go back over
// the transport the request came on, IP fragments them) and only asks a client
// to move a request of more than 1300 bytes to a congestion-controlled
// transport. So sipgo's limit is lifted to what a UDP datagram can carry, and
// listenerRequester moves large requests to TCP itself (requestOverTCP).
const (
	maxUDPPayload = 65507 // IPv4: 65535 - 8 (UDP) - 20 (IP)
	// udpRequestLimit is the largest request sent over UDP when TCP is possible.
	udpRequestLimit = 1300
	// tcpSwitchDialTimeout bounds the TCP connection attempt of a request moved
	// off UDP for its size; on failure it goes over UDP after all.
	tcpSwitchDialTimeout = 3 * time.Second
)

func init() {
	// Set once before any sipgo transport runs: sipgo reads it on every UDP write.
	sip.UDPMTUSize = maxUDPPayload + 200
}

// largeForUDP reports whether req should leave over TCP instead of UDP: it is
// larger than udpRequestLimit, goes over UDP to a destination taken from its
// URIs (not a pinned address such as a phone's NAT binding, which only UDP
// reaches), its next hop does not say transport=udp, and we listen on TCP (the
// peer's requests and our Via need a TCP address).
func (s *Server) largeForUDP(req *sip.Request) bool {
	if req.IsAck() || sip.NetworkToLower(req.Transport()) != "udp" {
		return false
	}
	if req.Laddr.Port != 0 && !s.fromUDPListener(req.Laddr) {
		return false // the caller chose another socket
	}
	if req.MessageData.Destination() != "" {
		return false
	}
	next := req.Recipient
	if r := req.Route(); r != nil {
		next = r.Address
	}
	if next.UriParams != nil {
		if tp, ok := next.UriParams.Get("transport"); ok && strings.EqualFold(tp, "udp") {
			return false
		}
	}
	s.mu.Lock()
	_, tcp := s.advertise["tcp"]
	s.mu.Unlock()
	if !tcp {
		return false
	}
	return len(req.String()) > udpRequestLimit
}

// fromUDPListener reports whether laddr is the UDP listener socket.
func (s *Server) fromUDPListener(laddr sip.Addr) bool {
	s.mu.Lock()
	l := s.udpListen
	s.mu.Unlock()
	return l != nil && l.laddr.Port == laddr.Port && l.laddr.IP.Equal(laddr.IP)
}

// requestOverTCP sends req over TCP (Via rewritten to our TCP listener) when
// largeForUDP says so. done is false when req was not moved; when the TCP
// connection cannot be made, req is restored for UDP and done is false too
// (RFC 3261 §18.1.1: retry over UDP).
func (s *Server) requestOverTCP(ctx context.Context, req *sip.Request) (tx sip.ClientTransaction, done bool, err error) {
	if !s.largeForUDP(req) {
		return nil, false, nil
	}
	via := req.Via()
	if via == nil {
		return nil, false, nil
	}
	s.mu.Lock()
	adv := s.advertise["tcp"]
	s.mu.Unlock()
	host, portS, _ := net.SplitHostPort(adv)
	port, _ := strconv.Atoi(portS)
	oldTransport, oldHost, oldPort, oldTP, oldLaddr := via.Transport, via.Host, via.Port, req.MessageData.Transport(), req.Laddr
	via.Transport, via.Host, via.Port = "TCP", host, port
	req.Laddr = sip.Addr{}
	req.SetTransport("TCP")
	dctx, cancel := context.WithTimeout(ctx, tcpSwitchDialTimeout)
	defer cancel()
	ctx2, err := s.ua.TransactionLayer().Request(dctx, req)
	if err == nil {
		s.log.Debug("large request sent over TCP", zap.String("method", string(req.Method)), zap.Int("size", len(req.String())))
		return ctx2, true, nil // not a typed nil: err == nil means a transaction
	}
	s.log.Info("large request: TCP failed, sending it over UDP", zap.String("method", string(req.Method)),
		zap.String("destination", req.Destination()), zap.Error(err))
	via.Transport, via.Host, via.Port = oldTransport, oldHost, oldPort
	req.SetTransport(oldTP)
	req.Laddr = oldLaddr
	return nil, false, nil
}
