package rtpmedia

import (
	"encoding/binary"
	"time"

	"github.com/pion/rtp"
)

// DTMFEvent is an RFC 4733 §2.3 named-event payload.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	|     event     |E|R| volume    |          duration             |
type DTMFEvent struct {
	Event    uint8  // 0-9, 10 = *, 11 = #, 12-15 = A-D, 16 = flash
	End      bool   // E bit: the event has ended
	Volume   uint8  // 0-63, in -dBm0
	Duration uint16 // in RTP timestamp units since the event's timestamp
}

// dtmfPayloadSize is the size of one event payload.
const dtmfPayloadSize = 4

// ParseDTMF parses a telephone-event payload (only the first event block is used).
func ParseDTMF(payload []byte) (DTMFEvent, error) {
	if len(payload) < dtmfPayloadSize {
		return DTMFEvent{}, ErrShortPacket
	}
	return DTMFEvent{
		Event:    payload[0],
		End:      payload[1]&0x80 != 0,
		Volume:   payload[1] & 0x3f,
		Duration: binary.BigEndian.Uint16(payload[2:4]),
	}, nil
}

// MarshalTo writes the 4-byte payload into buf.
func (e DTMFEvent) MarshalTo(buf []byte) (int, error) {
	if len(buf) < dtmfPayloadSize {
		return 0, ErrShortPacket
	}
	buf[0] = e.Event
	buf[1] = e.Volume & 0x3f
	if e.End {
		buf[1] |= 0x80
	}
	binary.BigEndian.PutUint16(buf[2:4], e.Duration)
	return dtmfPayloadSize, nil
}

const dtmfDigits = "0123456789*#ABCD"

// DigitToEvent maps '0'-'9', '*', '#', 'A'-'D' (or 'a'-'d') to the RFC 4733 event code.
func DigitToEvent(r rune) (uint8, bool) {
	if r >= 'a' && r <= 'd' {
		r -= 'a' - 'A'
	}
	for i, d := range dtmfDigits {
		if d == r {
			return uint8(i), true
		}
	}
	return 0, false
}

// EventToDigit maps an event code 0-15 to its digit.
func EventToDigit(e uint8) (rune, bool) {
	if int(e) < len(dtmfDigits) {
		return rune(dtmfDigits[e]), true
	}
	return 0, false
}

// DTMFDigit is one detected event.
type DTMFDigit struct {
	Digit     rune   // '0'-'9', '*', '#', 'A'-'D'; 0 for other events (e.g. flash)
	Event     uint8  // RFC 4733 event code
	Duration  uint16 // in timestamp units, as last seen
	Timestamp uint32 // RTP timestamp of the event
	Ended     bool   // false when reported by timeout or because a new event began
}

// DefaultDTMFTimeout is how long after the last packet of an event without an
// end packet the detector reports it anyway.
const DefaultDTMFTimeout = 1 * time.Second

// DTMFDetector turns a stream of telephone-event packets into digits. Each
// event is reported exactly once: when its first END packet arrives (not on
// the marker bit, which some senders omit; livekit/sip#585), the retransmitted
// end packets are dropped by (timestamp, event); an event whose start packets
// were lost is still reported by its end packet; an event whose end packets
// were all lost is reported when the next event starts or on Expire after
// Timeout. It is not safe for concurrent use; the zero value is ready.
type DTMFDetector struct {
	Timeout time.Duration // 0 = DefaultDTMFTimeout

	active   bool // an event is in progress (seen, not reported)
	cur      DTMFDigit
	lastSeen time.Time
	done     [4]uint64 // recently reported (timestamp<<8 | event) keys
	doneN    int
	doneSet  [4]bool
}

func dtmfKey(ts uint32, ev uint8) uint64 { return uint64(ts)<<8 | uint64(ev) }

func (d *DTMFDetector) reported(key uint64) bool {
	for i := range d.done {
		if d.doneSet[i] && d.done[i] == key {
			return true
		}
	}
	return false
}

func (d *DTMFDetector) markReported(key uint64) {
	d.done[d.doneN] = key
	d.doneSet[d.doneN] = true
	d.doneN = (d.doneN + 1) % len(d.done)
}

func (d *DTMFDetector) timeout() time.Duration {
	if d.Timeout <= 0 {
		return DefaultDTMFTimeout
	}
	return d.Timeout
}

// Feed processes one telephone-event packet received at now. It returns up to
// two digits: a previous event flushed because its end was lost (first) and
// this packet's event if it ended. n is the number of digits returned in out.
func (d *DTMFDetector) Feed(h *rtp.Header, payload []byte, now time.Time) (out [2]DTMFDigit, n int) {
	ev, err := ParseDTMF(payload)
	if err != nil {
		return out, 0
	}
	key := dtmfKey(h.Timestamp, ev.Event)
	if d.reported(key) {
		return out, 0 // retransmitted end packet or late update of a reported event
	}
	if d.active && dtmfKey(d.cur.Timestamp, d.cur.Event) != key {
		// A new event began while the previous one never ended: its end packets were lost.
		out[n] = d.cur
		n++
		d.markReported(dtmfKey(d.cur.Timestamp, d.cur.Event))
		d.active = false
	}
	digit, _ := EventToDigit(ev.Event)
	d.cur = DTMFDigit{Digit: digit, Event: ev.Event, Duration: ev.Duration, Timestamp: h.Timestamp}
	d.lastSeen = now
	if ev.End {
		d.cur.Ended = true
		out[n] = d.cur
		n++
		d.markReported(key)
		d.active = false
		return out, n
	}
	d.active = true
	return out, n
}

// Expire reports an event in progress whose last packet is older than Timeout
// (its end packets were all lost). Call it periodically or when audio packets arrive.
func (d *DTMFDetector) Expire(now time.Time) (DTMFDigit, bool) {
	if !d.active || now.Sub(d.lastSeen) < d.timeout() {
		return DTMFDigit{}, false
	}
	d.active = false
	d.markReported(dtmfKey(d.cur.Timestamp, d.cur.Event))
	return d.cur, true
}

// DTMFPacket is one generated telephone-event packet. The caller fills in the
// sequence number and SSRC of its stream (every packet, including the repeated
// end packets, gets its own sequence number; RFC 4733 §2.5.1.4).
type DTMFPacket struct {
	Marker    bool          // set on the first packet of the event
	Timestamp uint32        // the event's timestamp, same for all its packets
	Payload   [4]byte       // marshalled DTMFEvent
	At        time.Duration // send offset from the first packet
}

// DTMFGenerator produces the packet sequence of one digit: a first packet
// with the marker bit, an update every PTime with growing duration, then three
// end packets, all with the event's timestamp.
type DTMFGenerator struct {
	ClockRate uint32        // 0 = 8000
	PTime     time.Duration // 0 = 20ms
	Volume    uint8         // -dBm0; 0 = 10
}

// dtmfEndRepeats is how many end packets are sent (RFC 4733 §2.5.1.4 recommends 3).
const dtmfEndRepeats = 3

// Generate appends the packets for digit r lasting dur, starting at RTP
// timestamp ts, to dst and returns it (no allocation when dst has capacity).
func (g DTMFGenerator) Generate(dst []DTMFPacket, r rune, dur time.Duration, ts uint32) ([]DTMFPacket, error) {
	ev, ok := DigitToEvent(r)
	if !ok {
		return dst, newError(ErrInvalidConfig, 400, "%q is not a DTMF digit", r)
	}
	return g.GenerateEvent(dst, ev, dur, ts)
}

// GenerateEvent is Generate for a raw event code.
func (g DTMFGenerator) GenerateEvent(dst []DTMFPacket, event uint8, dur time.Duration, ts uint32) ([]DTMFPacket, error) {
	rate := g.ClockRate
	if rate == 0 {
		rate = 8000
	}
	ptime := g.PTime
	if ptime <= 0 {
		ptime = 20 * time.Millisecond
	}
	vol := g.Volume
	if vol == 0 {
		vol = 10
	}
	if dur < ptime {
		dur = ptime
	}
	step := uint64(rate) * uint64(ptime) / uint64(time.Second)
	steps := int((dur + ptime - 1) / ptime)
	if uint64(steps)*step > 0xffff {
		return dst, newError(ErrInvalidConfig, 400, "DTMF duration %v too long for one event", dur)
	}
	e := DTMFEvent{Event: event, Volume: vol}
	for i := 1; i <= steps; i++ {
		e.Duration = uint16(uint64(i) * step)
		p := DTMFPacket{Marker: i == 1, Timestamp: ts, At: time.Duration(i-1) * ptime}
		_, _ = e.MarshalTo(p.Payload[:])
		dst = append(dst, p)
	}
	e.End = true
	for i := 0; i < dtmfEndRepeats; i++ {
		p := DTMFPacket{Timestamp: ts, At: time.Duration(steps+i) * ptime}
		_, _ = e.MarshalTo(p.Payload[:])
		dst = append(dst, p)
	}
	return dst, nil
}

// Fill sets out to this telephone-event packet with the given payload type,
// sequence number and SSRC; out.Payload aliases p.Payload. It does not allocate.
func (p *DTMFPacket) Fill(out *rtp.Packet, pt uint8, seq uint16, ssrc uint32) {
	out.Header = rtp.Header{
		Version:        2,
		Marker:         p.Marker,
		PayloadType:    pt,
		SequenceNumber: seq,
		Timestamp:      p.Timestamp,
		SSRC:           ssrc,
		CSRC:           out.CSRC[:0],
		Extensions:     out.Extensions[:0],
	}
	out.Payload = p.Payload[:]
	out.PaddingSize = 0
}
