package sip

import (
	"context"
	"net/netip"
)

// InboundCall is a new INVITE on the UAS side, before and while it is answered.
type InboundCall struct {
	srv *Server
}

func (c *InboundCall) CallID() string         { return "" }
func (c *InboundCall) From() string           { return "" }
func (c *InboundCall) To() string             { return "" }
func (c *InboundCall) RequestURI() string     { return "" }
func (c *InboundCall) AuthUser() string       { return "" }
func (c *InboundCall) Trunk() string          { return "" }
func (c *InboundCall) Source() netip.AddrPort { return netip.AddrPort{} }
func (c *InboundCall) Offer() []byte          { return nil }

func (c *InboundCall) Progress(ctx context.Context, code int, sdp []byte) error { return nil }
func (c *InboundCall) Answer(ctx context.Context, sdp []byte) (*Dialog, error)  { return nil, nil }
func (c *InboundCall) Reject(code int, reason string) error                     { return nil }
func (c *InboundCall) Done() <-chan struct{}                                    { return nil }
func (c *InboundCall) Err() error                                               { return nil }
