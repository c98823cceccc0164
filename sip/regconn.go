package sip

// Ringing phones on their registration connection. A phone behind NAT that
// registers over TCP or TLS can only be reached on the connection it opened:
// its Contact address is private (or its port is not listening), so a new
// connection there fails. RFC 5626 §5.3 / RFC 3261 §18: requests to such a
// contact reuse the flow the REGISTER came on, while it is open.

import (
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// reliableBinding returns the freshest unexpired binding whose Contact URI is
// uri and that was registered over a connection-oriented transport (tcp, tls)
// from a known source.
func (r *registrar) reliableBinding(uri string) (Contact, bool) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var best Contact
	found := false
	for _, bs := range r.bindings {
		for _, b := range bs {
			if b.URI != uri || !b.Expires.After(now) || b.Transport == "" ||
				!sipmsg.IsReliable(b.Transport) || !b.Source.IsValid() {
				continue
			}
			if !found || b.Expires.After(best.Expires) {
				best, found = b.Contact, true
			}
		}
	}
	return best, found
}

// registrationRoute tells how to reach target when it is a contact registered
// over TCP or TLS whose registration connection client still holds: that
// connection's network and remote address (the phone's source). ok is false
// when the target names its own Destination, is not such a contact, or the
// connection has closed (then the Contact URI is used as before).
func (s *Server) registrationRoute(client *sipgo.Client, t Target) (network, dest string, ok bool) {
	if t.Destination != "" || client == nil {
		return "", "", false
	}
	c, found := s.reg.reliableBinding(t.URI)
	if !found {
		return "", "", false
	}
	network, dest = sipmsg.NetworkToLower(c.Transport), c.Source.String()
	conn, err := client.TransportLayer().GetConnection(network, dest)
	if err != nil || conn == nil {
		return "", "", false
	}
	conn.Ref(-1) // GetConnection took a reference; we only looked
	return network, dest, true
}
