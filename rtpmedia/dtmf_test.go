package rtpmedia

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestDTMFEventCodec(t *testing.T) {
	tests := []struct {
		raw []byte
		ev  DTMFEvent
	}{
		{[]byte{0x05, 0x0a, 0x00, 0xa0}, DTMFEvent{Event: 5, Volume: 10, Duration: 160}},
		{[]byte{0x0b, 0x8a, 0x03, 0x20}, DTMFEvent{Event: 11, End: true, Volume: 10, Duration: 800}},
		{[]byte{0x00, 0xbf, 0xff, 0xff}, DTMFEvent{Event: 0, End: true, Volume: 63, Duration: 65535}},
		{[]byte{0x10, 0x00, 0x00, 0x00}, DTMFEvent{Event: 16}},
	}
	for _, tt := range tests {
		ev, err := ParseDTMF(tt.raw)
		if err != nil || ev != tt.ev {
			t.Errorf("ParseDTMF(% x) = %+v, %v; want %+v", tt.raw, ev, err, tt.ev)
		}
		var buf [4]byte
		if n, err := tt.ev.MarshalTo(buf[:]); err != nil || n != 4 || string(buf[:]) != string(tt.raw) {
			t.Errorf("MarshalTo(%+v) = % x, %v", tt.ev, buf, err)
		}
	}
	// The R bit is ignored on receive.
	if ev, _ := ParseDTMF([]byte{1, 0x4a, 0, 1}); ev.End || ev.Volume != 10 {
		t.Errorf("reserved bit leaked: %+v", ev)
	}
	if _, err := ParseDTMF([]byte{1, 2, 3}); !errors.Is(err, ErrShortPacket) {
		t.Errorf("short payload: %v", err)
	}
	if _, err := (DTMFEvent{}).MarshalTo(make([]byte, 3)); !errors.Is(err, ErrShortPacket) {
		t.Errorf("short buffer: %v", err)
	}
}

func TestDigitMapping(t *testing.T) {
	for i, r := range "0123456789*#ABCD" {
		e, ok := DigitToEvent(r)
		if !ok || int(e) != i {
			t.Errorf("DigitToEvent(%q) = %d, %v", r, e, ok)
		}
		back, ok := EventToDigit(uint8(i))
		if !ok || back != r {
			t.Errorf("EventToDigit(%d) = %q, %v", i, back, ok)
		}
	}
	if e, ok := DigitToEvent('c'); !ok || e != 14 {
		t.Errorf("lowercase c = %d %v", e, ok)
	}
	for _, r := range "xE ,+" {
		if _, ok := DigitToEvent(r); ok {
			t.Errorf("DigitToEvent(%q) accepted", r)
		}
	}
	if _, ok := EventToDigit(16); ok {
		t.Error("EventToDigit(16) (flash) should have no digit")
	}
}

// dtmfPkt describes one incoming packet for the detector tests.
type dtmfPkt struct {
	ts     uint32
	ev     uint8
	end    bool
	marker bool
	dur    uint16
	at     time.Duration // arrival offset
}

func TestDTMFDetector(t *testing.T) {
	start := func(ts uint32, ev uint8, at time.Duration) dtmfPkt {
		return dtmfPkt{ts: ts, ev: ev, marker: true, dur: 160, at: at}
	}
	upd := func(ts uint32, ev uint8, dur uint16, at time.Duration) dtmfPkt {
		return dtmfPkt{ts: ts, ev: ev, dur: dur, at: at}
	}
	end := func(ts uint32, ev uint8, at time.Duration) dtmfPkt {
		return dtmfPkt{ts: ts, ev: ev, end: true, dur: 800, at: at}
	}
	ms := time.Millisecond
	tests := []struct {
		name   string
		pkts   []dtmfPkt
		expire time.Duration // call Expire at this offset after the packets (0 = no call)
		want   string        // digits reported, in order; "!" marks a not-Ended report
	}{
		{"normal with 3 end retransmits", []dtmfPkt{start(1000, 1, 0), upd(1000, 1, 320, 20*ms), upd(1000, 1, 480, 40*ms), end(1000, 1, 60*ms), end(1000, 1, 80*ms), end(1000, 1, 100*ms)}, 0, "1"},
		{"no marker at all (livekit/sip#585)", []dtmfPkt{upd(1000, 5, 160, 0), upd(1000, 5, 320, 20*ms), end(1000, 5, 40*ms), end(1000, 5, 40*ms)}, 0, "5"},
		{"lost start packets", []dtmfPkt{end(2000, 11, 0), end(2000, 11, 20*ms), end(2000, 11, 40*ms)}, 0, "#"},
		{"marker only, no end yet: no digit", []dtmfPkt{start(3000, 3, 0), upd(3000, 3, 320, 20*ms)}, 0, ""},
		{"marker only, end lost: timeout flush", []dtmfPkt{start(3000, 3, 0), upd(3000, 3, 320, 20*ms)}, 2 * time.Second, "3!"},
		{"marker only, expire too early", []dtmfPkt{start(3000, 3, 0)}, 500 * ms, ""},
		{"end lost, next digit flushes it", []dtmfPkt{start(3000, 3, 0), upd(3000, 3, 320, 20*ms), start(5000, 4, 200*ms), end(5000, 4, 260*ms), end(5000, 4, 280*ms)}, 0, "3!4"},
		{"same digit twice", []dtmfPkt{start(1000, 7, 0), end(1000, 7, 40*ms), end(1000, 7, 60*ms), start(3000, 7, 300*ms), end(3000, 7, 340*ms), end(3000, 7, 360*ms), end(3000, 7, 380*ms)}, 0, "77"},
		{"different digits share a timestamp (livekit/sip#796)", []dtmfPkt{end(1000, 10, 0), end(1000, 10, 20*ms), end(1000, 0, 200*ms), end(1000, 0, 220*ms)}, 0, "*0"},
		{"late retransmit after next digit", []dtmfPkt{end(1000, 1, 0), end(3000, 2, 200*ms), end(1000, 1, 210*ms), end(3000, 2, 220*ms)}, 0, "12"},
		{"flash event", []dtmfPkt{end(1000, 16, 0)}, 0, "\x00"},
		{"after end, expire does nothing", []dtmfPkt{end(1000, 9, 0)}, 5 * time.Second, "9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d DTMFDetector
			base := time.Unix(1_700_000_000, 0)
			var got string
			add := func(dg DTMFDigit) {
				if dg.Digit == 0 {
					got += "\x00"
				} else {
					got += string(dg.Digit)
				}
				if !dg.Ended {
					got += "!"
				}
			}
			var last time.Duration
			for i, p := range tt.pkts {
				h := rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: uint16(i), Timestamp: p.ts, Marker: p.marker}
				var pl [4]byte
				_, _ = DTMFEvent{Event: p.ev, End: p.end, Volume: 10, Duration: p.dur}.MarshalTo(pl[:])
				out, n := d.Feed(&h, pl[:], base.Add(p.at))
				for _, dg := range out[:n] {
					add(dg)
				}
				last = p.at
			}
			if tt.expire > 0 {
				if dg, ok := d.Expire(base.Add(last + tt.expire)); ok {
					add(dg)
				}
			}
			if got != tt.want {
				t.Fatalf("digits %q, want %q", got, tt.want)
			}
		})
	}
	var d DTMFDetector
	if _, n := d.Feed(&rtp.Header{}, []byte{1}, time.Now()); n != 0 {
		t.Fatal("short payload produced a digit")
	}
}

func TestDTMFGenerator(t *testing.T) {
	g := DTMFGenerator{}
	pkts, err := g.Generate(nil, '#', 100*time.Millisecond, 12345)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != 5+3 {
		t.Fatalf("%d packets, want 8", len(pkts))
	}
	for i, p := range pkts {
		ev, err := ParseDTMF(p.Payload[:])
		if err != nil {
			t.Fatal(err)
		}
		if p.Timestamp != 12345 || ev.Event != 11 || ev.Volume != 10 {
			t.Errorf("packet %d: ts %d event %+v", i, p.Timestamp, ev)
		}
		if p.Marker != (i == 0) {
			t.Errorf("packet %d marker %v", i, p.Marker)
		}
		if p.At != time.Duration(i)*20*time.Millisecond {
			t.Errorf("packet %d at %v", i, p.At)
		}
		wantEnd := i >= 5
		wantDur := uint16(160 * (i + 1))
		if wantEnd {
			wantDur = 800
		}
		if ev.End != wantEnd || ev.Duration != wantDur {
			t.Errorf("packet %d: end %v duration %d, want %v %d", i, ev.End, ev.Duration, wantEnd, wantDur)
		}
	}
	// The generator's output, fed to the detector, yields the digit exactly once.
	var d DTMFDetector
	digits := ""
	now := time.Now()
	for i, p := range pkts {
		h := rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: uint16(i), Timestamp: p.Timestamp, Marker: p.Marker}
		out, n := d.Feed(&h, p.Payload[:], now.Add(p.At))
		for _, dg := range out[:n] {
			digits += string(dg.Digit)
		}
	}
	if digits != "#" {
		t.Fatalf("round trip digits %q", digits)
	}
	// 48 kHz (opus) with 30 ms ptime.
	pkts, err = DTMFGenerator{ClockRate: 48000, PTime: 30 * time.Millisecond, Volume: 20}.Generate(pkts[:0], '1', 60*time.Millisecond, 0)
	if err != nil || len(pkts) != 2+3 {
		t.Fatalf("48k: %d packets, %v", len(pkts), err)
	}
	if ev, _ := ParseDTMF(pkts[4].Payload[:]); ev.Duration != 2880 || ev.Volume != 20 {
		t.Fatalf("48k end event %+v", ev)
	}
	if _, err := g.Generate(nil, 'x', time.Second, 0); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad digit: %v", err)
	}
	if _, err := g.Generate(nil, '1', 10*time.Second, 0); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("too long: %v", err)
	}
}

func FuzzParseDTMF(f *testing.F) {
	f.Add([]byte{0x05, 0x0a, 0x00, 0xa0})
	f.Add([]byte{0x0b, 0x8a, 0x03, 0x20})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseDTMF(b)
		if err != nil {
			if len(b) >= 4 {
				t.Fatalf("error on %d bytes: %v", len(b), err)
			}
			return
		}
		var out [4]byte
		if _, err := ev.MarshalTo(out[:]); err != nil {
			t.Fatal(err)
		}
		back, err := ParseDTMF(out[:])
		if err != nil || back != ev {
			t.Fatalf("round trip %+v → %+v (%v)", ev, back, err)
		}
		var d DTMFDetector
		d.Feed(&rtp.Header{Timestamp: 1}, b, time.Unix(0, 0))
	})
}

func BenchmarkDTMFDetector(b *testing.B) {
	g := DTMFGenerator{}
	pkts, err := g.Generate(nil, '5', 100*time.Millisecond, 0)
	if err != nil {
		b.Fatal(err)
	}
	var d DTMFDetector
	h := rtp.Header{Version: 2, PayloadType: 101}
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	b.ResetTimer()
	digits := 0
	for i := 0; i < b.N; i++ {
		p := &pkts[i%len(pkts)]
		h.Timestamp = p.Timestamp + uint32(i/len(pkts))*8000 // a new event each round
		h.Marker = p.Marker
		_, n := d.Feed(&h, p.Payload[:], now)
		digits += n
	}
	if b.N >= len(pkts) && digits == 0 {
		b.Fatal("no digits detected")
	}
}

// TestDTMFOverLegs sends a generated digit from one Leg to another and detects it.
func TestDTMFOverLegs(t *testing.T) {
	a := newTestLeg(t, nil)
	b := newTestLeg(t, nil)
	a.SetRemote(b.LocalAddr())
	pkts, err := DTMFGenerator{}.Generate(nil, '7', 60*time.Millisecond, 4000)
	if err != nil {
		t.Fatal(err)
	}
	var out rtp.Packet
	for i := range pkts {
		pkts[i].Fill(&out, 101, uint16(100+i), 0x77)
		if err := a.WriteRTP(&out); err != nil {
			t.Fatal(err)
		}
	}
	var d DTMFDetector
	var in rtp.Packet
	buf := make([]byte, 1500)
	digits := ""
	for range pkts {
		if _, err := b.ReadRTP(&in, buf); err != nil {
			t.Fatal(err)
		}
		if in.PayloadType != 101 || in.SSRC != 0x77 || in.Timestamp != 4000 {
			t.Fatalf("header %+v", in.Header)
		}
		o, n := d.Feed(&in.Header, in.Payload, time.Now())
		for _, dg := range o[:n] {
			digits += string(dg.Digit)
		}
	}
	if digits != "7" {
		t.Fatalf("digits %q", digits)
	}
}
