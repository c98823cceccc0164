package farend

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// RFC 4733 telephone-event handling. pion has no DTMF support; packets are
// built and parsed here.

// DTMF timing in 20 ms ticks: 100 ms tone (fact sheet §9.9) sent as
// dtmfProgressPackets packets with growing duration followed by
// dtmfEndPackets packets with the end bit (same duration), then a 120 ms gap
// of normal audio before the next digit.
const (
	dtmfProgressPackets = 4
	dtmfEndPackets      = 3
	dtmfToneTicks       = dtmfProgressPackets + 1 // duration of the tone itself
	dtmfGapTicks        = 6
	dtmfVolume          = 10 // -10 dBm0
)

// ErrNoTelephoneEvent is returned by SendDTMF when telephone-event was not negotiated.
var ErrNoTelephoneEvent = errors.New("farend: telephone-event not negotiated")

// ErrBadDigit is returned by SendDTMF for characters other than 0-9 * # A-D.
var ErrBadDigit = errors.New("farend: invalid DTMF digit")

const dtmfDigits = "0123456789*#ABCD"

// digitEvent maps a DTMF character to its RFC 4733 event code.
func digitEvent(d byte) (byte, bool) {
	if d >= 'a' && d <= 'd' {
		d -= 'a' - 'A'
	}
	for i := 0; i < len(dtmfDigits); i++ {
		if dtmfDigits[i] == d {
			return byte(i), true
		}
	}
	return 0, false
}

// eventDigit maps an event code back to its character (0 for non-DTMF events).
func eventDigit(ev byte) byte {
	if int(ev) < len(dtmfDigits) {
		return dtmfDigits[ev]
	}
	return 0
}

// parseDigits validates a digit string and returns the event codes.
func parseDigits(digits string) ([]byte, error) {
	out := make([]byte, 0, len(digits))
	for i := 0; i < len(digits); i++ {
		ev, ok := digitEvent(digits[i])
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrBadDigit, digits[i])
		}
		out = append(out, ev)
	}
	return out, nil
}

// telephoneEvent is the 4-byte RFC 4733 payload.
type telephoneEvent struct {
	Event    byte
	End      bool
	Volume   byte
	Duration uint16
}

func (e telephoneEvent) marshal() []byte {
	b := make([]byte, 4)
	b[0] = e.Event
	b[1] = e.Volume & 0x3F
	if e.End {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], e.Duration)
	return b
}

func parseTelephoneEvent(p []byte) (telephoneEvent, bool) {
	if len(p) < 4 {
		return telephoneEvent{}, false
	}
	return telephoneEvent{Event: p[0], End: p[1]&0x80 != 0, Volume: p[1] & 0x3F, Duration: binary.BigEndian.Uint16(p[2:])}, true
}

// dtmfSender plans the packets of queued digits tick by tick.
type dtmfSender struct {
	queue []byte // pending event codes
	cur   int    // index into the current digit's packet plan; -1 idle
	gap   int    // remaining gap ticks after a digit
	ts    uint32 // RTP timestamp of the current event
}

// dtmfTick is what the send loop does in one tick.
type dtmfTick struct {
	active  bool // send payload instead of audio
	payload []byte
	marker  bool
	ts      uint32
}

// next returns the packet for this tick. audioTS is the audio timestamp the
// tick would otherwise use; spt is samples per tick at the event clock rate.
func (d *dtmfSender) next(audioTS uint32, spt uint32) dtmfTick {
	if d.gap > 0 {
		d.gap--
		return dtmfTick{}
	}
	if d.cur == 0 && len(d.queue) == 0 {
		return dtmfTick{}
	}
	if d.cur == 0 {
		d.ts = audioTS
	}
	ev := telephoneEvent{Event: d.queue[0], Volume: dtmfVolume}
	i := d.cur
	d.cur++
	if i < dtmfProgressPackets {
		ev.Duration = uint16(uint32(i+1) * spt)
	} else {
		ev.End = true
		ev.Duration = uint16(dtmfToneTicks * spt)
	}
	if d.cur == dtmfProgressPackets+dtmfEndPackets {
		d.cur = 0
		d.queue = d.queue[1:]
		d.gap = dtmfGapTicks
	}
	return dtmfTick{active: true, payload: ev.marshal(), marker: i == 0, ts: d.ts}
}

// dtmfReceiver turns received telephone-event packets into digits, counting
// each event once (at its first end packet; retransmitted end packets carry
// the same timestamp and are ignored).
type dtmfReceiver struct {
	haveEnd bool
	lastEnd uint32
}

func (r *dtmfReceiver) packet(ts uint32, payload []byte) (digit byte, ok bool) {
	ev, valid := parseTelephoneEvent(payload)
	if !valid || !ev.End {
		return 0, false
	}
	if r.haveEnd && r.lastEnd == ts {
		return 0, false
	}
	r.haveEnd, r.lastEnd = true, ts
	d := eventDigit(ev.Event)
	return d, d != 0
}
