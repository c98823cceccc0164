package sip

import (
	"context"
	"net/netip"
	"time"
)

// Handler receives new inbound calls.
type Handler interface {
	// HandleInvite is called in its own goroutine for every new (authorised) INVITE.
	// It must end the call with Answer or Reject (or see it cancelled: c.Done()).
	HandleInvite(ctx context.Context, c *InboundCall)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c *InboundCall)

// HandleInvite calls f.
func (f HandlerFunc) HandleInvite(ctx context.Context, c *InboundCall) { f(ctx, c) }

// Contact is one registrar binding.
type Contact struct {
	AOR       string         // address of record, e.g. "sip:alice@ynagw"
	URI       string         // Contact URI as registered
	Source    netip.AddrPort // where the REGISTER came from (used to reach NATed phones)
	Transport string         // "udp", "tcp", "tls"
	Expires   time.Time
	CallID    string
	CSeq      uint32
	UserAgent string
}

// Server is the SIP endpoint: listeners, registrar, inbound calls and dialogs.
type Server struct {
	cfg Config
}

// NewServer validates cfg (after Init) and builds a Server. Call Start to listen.
func NewServer(cfg Config) (*Server, error) {
	cfg.Init()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg}, nil
}

// Start binds all listeners and starts serving. ctx only bounds the start-up.
func (s *Server) Start(ctx context.Context) error { return nil }

// Addr returns the actual bound address of the listener for network ("udp", "tcp", "tls").
func (s *Server) Addr(network string) netip.AddrPort { return netip.AddrPort{} }

// Close stops listeners, ends every call and dialog and waits for all goroutines.
func (s *Server) Close() error { return nil }

// SetHandler sets the inbound call handler (calls are rejected 480 without one).
func (s *Server) SetHandler(h Handler) {}

// Contacts returns the unexpired bindings of aor ("sip:alice@domain" or just "alice").
func (s *Server) Contacts(aor string) []Contact { return nil }

// Registrations returns the number of unexpired bindings.
func (s *Server) Registrations() int { return 0 }
