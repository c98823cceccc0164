package sip

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/pion/sdp/v3"
)

// HoldState is what an SDP offer says about hold.
type HoldState int

const (
	// NotHeld: the first active audio stream is sendrecv or recvonly with a real address.
	NotHeld HoldState = iota
	// HeldByRemote: a=sendonly, or the RFC 2543 style c=0.0.0.0: the peer holds us
	// (it may still send music on hold; we must not send).
	HeldByRemote
	// Inactive: a=inactive, or every stream disabled (port 0).
	Inactive
)

func (h HoldState) String() string {
	switch h {
	case NotHeld:
		return "not-held"
	case HeldByRemote:
		return "held-by-remote"
	case Inactive:
		return "inactive"
	}
	return fmt.Sprintf("HoldState(%d)", int(h))
}

// Direction is an SDP media direction attribute.
type Direction int

const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	DirInactive
)

func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case DirInactive:
		return "inactive"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// AnswerDirection returns the direction an answer must use for an offer direction
// (RFC 3264 §6.1): sendonly→recvonly, recvonly→sendonly, inactive→inactive,
// sendrecv→sendrecv. Answering a hold with the cached sendrecv is the classic bug.
func AnswerDirection(offer Direction) Direction {
	switch offer {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case DirInactive:
		return DirInactive
	}
	return SendRecv
}

// parseSDP reads an SDP body with pion/sdp. pion accepts LF as well as CRLF
// line ends and skips blank lines, but every line must end with LF; some
// phones omit the final one (diago#150), so one is added when missing. That
// is the only change made to the bytes.
func parseSDP(b []byte) (*sdp.SessionDescription, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("sdp: empty")
	}
	if b[len(b)-1] != '\n' {
		b = append(b[:len(b):len(b)], '\n')
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("sdp: %w", err)
	}
	return &sd, nil
}

func directionOf(attrs []sdp.Attribute) (Direction, bool) {
	for _, a := range attrs {
		// Trailing blanks are not part of a property attribute (pion keeps them).
		switch strings.ToLower(strings.TrimSpace(a.Key)) {
		case "sendrecv":
			return SendRecv, true
		case "sendonly":
			return SendOnly, true
		case "recvonly":
			return RecvOnly, true
		case "inactive":
			return DirInactive, true
		}
	}
	return SendRecv, false
}

// streamInfo is the effective state of one m= line.
type streamInfo struct {
	media    string
	port     int
	dir      Direction
	nullAddr bool // c=0.0.0.0 (or ::)
}

func streams(sd *sdp.SessionDescription) []streamInfo {
	sessDir, _ := directionOf(sd.Attributes)
	sessNull := sd.ConnectionInformation != nil && isNullConn(sd.ConnectionInformation)
	var out []streamInfo
	for _, m := range sd.MediaDescriptions {
		st := streamInfo{media: m.MediaName.Media, port: m.MediaName.Port.Value, dir: sessDir, nullAddr: sessNull}
		if d, ok := directionOf(m.Attributes); ok {
			st.dir = d
		}
		if m.ConnectionInformation != nil {
			st.nullAddr = isNullConn(m.ConnectionInformation)
		}
		out = append(out, st)
	}
	return out
}

func isNullConn(c *sdp.ConnectionInformation) bool {
	if c.Address == nil {
		return false
	}
	a, err := netip.ParseAddr(strings.TrimSpace(strings.SplitN(c.Address.Address, "/", 2)[0]))
	return err == nil && a.IsUnspecified()
}

// primaryStream returns the first active audio stream (or the first active stream).
func primaryStream(sts []streamInfo) (streamInfo, bool) {
	for _, s := range sts {
		if s.port != 0 && strings.EqualFold(s.media, "audio") {
			return s, true
		}
	}
	for _, s := range sts {
		if s.port != 0 {
			return s, true
		}
	}
	return streamInfo{}, false
}

// DetectHold tells whether sdp puts the call on hold. It honours session- and
// media-level direction attributes (media level wins), c=0.0.0.0 (RFC 2543 hold)
// and disabled streams (port 0). An SDP without a direction attribute is sendrecv.
func DetectHold(b []byte) (HoldState, error) {
	sd, err := parseSDP(b)
	if err != nil {
		return NotHeld, err
	}
	st, ok := primaryStream(streams(sd))
	if !ok {
		return Inactive, nil
	}
	switch {
	case st.dir == DirInactive:
		return Inactive, nil
	case st.nullAddr && st.dir == RecvOnly:
		return Inactive, nil
	case st.dir == SendOnly, st.nullAddr:
		return HeldByRemote, nil
	}
	return NotHeld, nil
}

// OfferDirection returns the effective direction of the primary stream of sdp
// (c=0.0.0.0 counts as sendonly, a disabled stream as inactive).
func OfferDirection(b []byte) (Direction, error) {
	sd, err := parseSDP(b)
	if err != nil {
		return SendRecv, err
	}
	st, ok := primaryStream(streams(sd))
	if !ok {
		return DirInactive, nil
	}
	if st.nullAddr {
		switch st.dir {
		case SendRecv:
			return SendOnly, nil
		case RecvOnly:
			return DirInactive, nil
		}
	}
	return st.dir, nil
}

// SetDirection returns sdp with every media section's direction set to dir
// (session-level direction attributes are removed), edited on the pion/sdp
// model: every other field and attribute is kept, the session version is not
// changed. Errors are those of parsing sdp.
func SetDirection(b []byte, dir Direction) ([]byte, error) {
	sd, err := parseSDP(b)
	if err != nil {
		return nil, err
	}
	sd.Attributes = withoutDirection(sd.Attributes)
	for _, m := range sd.MediaDescriptions {
		m.Attributes = append(withoutDirection(m.Attributes), sdp.NewPropertyAttribute(dir.String()))
	}
	out, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("sdp: %w", err)
	}
	return out, nil
}

func withoutDirection(attrs []sdp.Attribute) []sdp.Attribute {
	out := make([]sdp.Attribute, 0, len(attrs)+1)
	for _, a := range attrs {
		if _, ok := directionOf([]sdp.Attribute{a}); !ok {
			out = append(out, a)
		}
	}
	return out
}
