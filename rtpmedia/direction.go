package rtpmedia

// Direction is the SDP media direction attribute (RFC 3264 §5.1, §6.1).
// The zero value is SendRecv.
type Direction int

// Media directions.
const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	Inactive
)

// String returns the SDP attribute name ("sendrecv", ...).
func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "sendrecv"
}

// ParseDirection parses an SDP direction attribute name.
func ParseDirection(s string) (Direction, bool) {
	switch s {
	case "sendrecv":
		return SendRecv, true
	case "sendonly":
		return SendOnly, true
	case "recvonly":
		return RecvOnly, true
	case "inactive":
		return Inactive, true
	}
	return SendRecv, false
}

// Answer returns the direction an answerer uses for an offer with direction d,
// per RFC 3264 §6.1: sendonly → recvonly, recvonly → sendonly, inactive →
// inactive, sendrecv → sendrecv (the answerer may narrow it further with
// Intersect).
func (d Direction) Answer() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// Sends reports whether a side with direction d sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether a side with direction d receives media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

// Intersect returns the direction that allows only what both d and o allow
// (both are directions of the same side).
func (d Direction) Intersect(o Direction) Direction {
	return directionOf(d.Sends() && o.Sends(), d.Receives() && o.Receives())
}

func directionOf(send, recv bool) Direction {
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	}
	return Inactive
}
