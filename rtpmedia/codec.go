package rtpmedia

import (
	"strconv"
	"strings"
)

// Codec is one RTP payload format.
type Codec struct {
	Name        string // "PCMU", "PCMA", "G722", "opus", "telephone-event", ...
	PayloadType uint8
	ClockRate   uint32 // RTP clock rate (8000 for G722, per RFC 3551)
	Channels    uint16 // 0 or 1 = mono
	Fmtp        string // a=fmtp parameters without the "a=fmtp:<pt> " prefix
}

// DTMF codec name (RFC 4733).
const telephoneEvent = "telephone-event"

// DefaultCodecs is the default codec list, in preference order. It is a plain
// variable so a configuration can replace it; functions take a []Codec and only
// fall back to it when given nil.
var DefaultCodecs = []Codec{
	{Name: "PCMU", PayloadType: 0, ClockRate: 8000},
	{Name: "PCMA", PayloadType: 8, ClockRate: 8000},
	{Name: "G722", PayloadType: 9, ClockRate: 8000},
	{Name: telephoneEvent, PayloadType: 101, ClockRate: 8000, Fmtp: "0-16"},
}

// staticPayloadTypes are the RFC 3551 static assignments used when an SDP has no rtpmap.
var staticPayloadTypes = map[uint8]Codec{
	0:  {Name: "PCMU", PayloadType: 0, ClockRate: 8000},
	3:  {Name: "GSM", PayloadType: 3, ClockRate: 8000},
	4:  {Name: "G723", PayloadType: 4, ClockRate: 8000},
	8:  {Name: "PCMA", PayloadType: 8, ClockRate: 8000},
	9:  {Name: "G722", PayloadType: 9, ClockRate: 8000},
	13: {Name: "CN", PayloadType: 13, ClockRate: 8000},
	18: {Name: "G729", PayloadType: 18, ClockRate: 8000},
}

// IsDTMF reports whether c is RFC 4733 telephone-event.
func (c Codec) IsDTMF() bool { return strings.EqualFold(c.Name, telephoneEvent) }

// channels returns the channel count with 0 meaning 1.
func (c Codec) channels() uint16 {
	if c.Channels == 0 {
		return 1
	}
	return c.Channels
}

// Matches reports whether c and o are the same format (name, clock rate and
// channels; payload type and fmtp are ignored).
func (c Codec) Matches(o Codec) bool {
	return strings.EqualFold(c.Name, o.Name) && c.ClockRate == o.ClockRate && c.channels() == o.channels()
}

// rtpmap returns the a=rtpmap value "<pt> <name>/<rate>[/<ch>]".
func (c Codec) rtpmap() string {
	s := strconv.Itoa(int(c.PayloadType)) + " " + c.Name + "/" + strconv.FormatUint(uint64(c.ClockRate), 10)
	if c.Channels > 1 {
		s += "/" + strconv.Itoa(int(c.Channels))
	}
	return s
}

// String returns "name/rate(pt)".
func (c Codec) String() string {
	return c.Name + "/" + strconv.FormatUint(uint64(c.ClockRate), 10) + "(" + strconv.Itoa(int(c.PayloadType)) + ")"
}

func codecsOrDefault(cs []Codec) []Codec {
	if cs == nil {
		return DefaultCodecs
	}
	return cs
}
