package sip

import "time"

// Event is something that happened in an established dialog. Concrete types:
// *OfferEvent, *ByeEvent, *DTMFEvent, *AckEvent, *TerminatedEvent.
type Event interface{ isEvent() }

// OfferEvent is a new SDP offer from the peer (re-INVITE or UPDATE). The user MUST
// call Respond exactly once: Respond(200, answerSDP) to accept, Respond(488, nil)
// (or another 4xx-6xx) to reject. Nothing is answered from a cache.
//
// For a re-INVITE without SDP (Method "INVITE", SDP nil) the 200 must carry OUR
// offer; the peer's answer arrives later as an AckEvent.
type OfferEvent struct {
	SDP     []byte
	Hold    HoldState // DetectHold(SDP); NotHeld for empty SDP
	Method  string    // "INVITE" or "UPDATE"
	Refresh bool      // true when the SDP equals the current remote SDP (session refresh)
	Respond func(code int, sdp []byte) error
}

// ByeEvent: the peer hung up (BYE received and answered 200).
type ByeEvent struct{ Reason string }

// DTMFEvent: a digit received by SIP INFO.
type DTMFEvent struct {
	Digit    rune
	Duration time.Duration
	Source   string // "info"
}

// AckEvent: the ACK of a 2xx we sent. SDP is non-nil when the ACK carries the answer
// to an offer we put in the 2xx (late offer / offerless re-INVITE).
type AckEvent struct{ SDP []byte }

// TerminatedEvent is always the last event: the dialog ended. Err is nil for a normal
// BYE, ErrNoAck, ErrSessionExpired, ErrClosed etc. otherwise.
type TerminatedEvent struct{ Err error }

func (*OfferEvent) isEvent()      {}
func (*ByeEvent) isEvent()        {}
func (*DTMFEvent) isEvent()       {}
func (*AckEvent) isEvent()        {}
func (*TerminatedEvent) isEvent() {}
