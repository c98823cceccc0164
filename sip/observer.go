package sip

import (
	"github.com/emiago/sipgo/sip"
)

// Observer receives metrics hooks (Config.Observer); it lets a metrics package
// count SIP traffic without this package importing one. Implementations must be
// safe for concurrent use and cheap: Request runs on the transport read loop.
type Observer interface {
	// Request is called for every SIP request received and parsed, whatever
	// happens to it next: new and in-dialog requests, ACK and CANCEL (also those
	// absorbed by a transaction), and retransmissions.
	Request(method string)
	// Response is called once for every response we send: 1xx (including 100
	// Trying), 2xx and errors, including the 200 to a CANCEL and the 487 it causes.
	// Retransmissions of a final response are not counted again. (The 100 Trying
	// that sipgo sends on its own for a re-INVITE unanswered after 200 ms is not seen.)
	Response(code int)
}

type nopObserver struct{}

func (nopObserver) Request(string) {}
func (nopObserver) Response(int)   {}

// observeMessages is the transport-layer hook that reports received requests.
func (s *Server) observeMessages(msg sip.Message) {
	if req, ok := msg.(*sip.Request); ok {
		s.obs.Request(string(req.Method))
	}
}
