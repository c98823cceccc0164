package sip

// HoldState is what an SDP offer says about hold.
type HoldState int

const (
	NotHeld      HoldState = iota // sendrecv (or recvonly)
	HeldByRemote                  // a=sendonly (or c=0.0.0.0): peer holds us, we may still send music
	Inactive                      // a=inactive or all streams disabled (port 0)
)

// Direction is an SDP media direction attribute.
type Direction int

const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	DirInactive
)

// DetectHold tells whether sdp puts the call on hold.
func DetectHold(sdp []byte) (HoldState, error) { return NotHeld, nil }

// AnswerDirection returns the direction an answer must use for an offer direction (RFC 3264 §6.1).
func AnswerDirection(offer Direction) Direction { return SendRecv }
