package sip

import "strings"

// The SRTP policy of users and trunks is media business: the sip package only
// carries the configured value and says which transport a call uses, so the
// bridge can decide whether SDES keys may go into the SDP.

// SRTP returns the srtp setting of the authenticated user or trunk the call came
// from ("" when neither has one).
func (c *InboundCall) SRTP() string {
	switch {
	case c.id.user != nil:
		return c.id.user.SRTP
	case c.id.trunk != nil:
		return c.id.trunk.SRTP
	}
	return ""
}

// Transport is the transport the INVITE arrived over: "udp", "tcp" or "tls"
// (taken from the connection, not from the Via header).
func (c *InboundCall) Transport() string { return strings.ToLower(c.req.Transport()) }

// Secure reports whether the INVITE arrived over TLS.
func (c *InboundCall) Secure() bool { return c.Transport() == "tls" }

// UserSRTP returns the srtp setting of a desk-phone account, by user name or
// AOR (its user part, as Contacts takes it); "" if none or unknown. It follows
// SetUsers.
func (s *Server) UserSRTP(nameOrAOR string) string {
	u := s.userByName(nameOrAOR)
	if u == nil {
		u = s.userByName(aorUser(nameOrAOR))
	}
	if u == nil {
		return ""
	}
	return u.SRTP
}
