package rtpmedia

import (
	"bytes"
	"errors"
	"testing"
)

// Independent G.711 decoders (16-bit scale) used to check the conversion
// tables against the value each code word stands for.
func decodeUlaw(u byte) int {
	u = ^u
	seg, q := int(u>>4)&7, int(u&0x0f)
	v := ((8*q + 132) << seg) - 132
	if u&0x80 != 0 {
		return -v
	}
	return v
}

func decodeAlaw(a byte) int {
	a ^= 0x55
	seg, q := int(a>>4)&7, int(a&0x0f)
	v := 16*q + 8
	if seg > 0 {
		v = (16*q + 264) << (seg - 1)
	}
	if a&0x80 == 0 {
		return -v
	}
	return v
}

func TestG711KnownConversions(t *testing.T) {
	// Values from ITU-T G.711 Tables 3 and 4 (µ-law and A-law code words as
	// transmitted), including the two entries the 1994 correction of the
	// widespread Sun tables fixed (µ 0xAF ⇄ A 0x9A).
	for _, tc := range []struct {
		name   string
		in     byte
		want   byte
		toAlaw bool
	}{
		{"µ +0", 0xFF, 0xD5, true},
		{"µ -0", 0x7F, 0x55, true},
		{"µ +max", 0x80, 0xAA, true},
		{"µ -max", 0x00, 0x2A, true},
		{"µ 0xFE (+8)", 0xFE, 0xD5, true},
		{"µ 0xFD (+16) rounds up", 0xFD, 0xD4, true},
		{"µ 0xAF corrected entry", 0xAF, 0x9A, true},
		{"µ 0x2F negative corrected entry", 0x2F, 0x1A, true},
		{"µ 0xE0", 0xE0, 0xC2, true},
		{"A +8", 0xD5, 0xFE, false},
		{"A -8", 0x55, 0x7E, false},
		{"A +max", 0xAA, 0x80, false},
		{"A -max", 0x2A, 0x00, false},
		{"A 0x9A corrected entry", 0x9A, 0xAF, false},
		{"A 0xC5", 0xC5, 0xE7, false},
	} {
		var got byte
		if tc.toAlaw {
			got = UlawToAlaw(tc.in)
		} else {
			got = AlawToUlaw(tc.in)
		}
		if got != tc.want {
			t.Errorf("%s: %#02x → %#02x, want %#02x", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestG711ConversionAccuracy(t *testing.T) {
	abs := func(x int) int {
		if x < 0 {
			return -x
		}
		return x
	}
	for c := 0; c < 256; c++ {
		u, a := byte(c), byte(c)
		uv, av := decodeUlaw(u), decodeAlaw(UlawToAlaw(u))
		// Within one quantisation step of the target law (≤ 8 near zero, ~3% above).
		if err := abs(av - uv); err > 8+abs(uv)/30 {
			t.Errorf("µ %#02x (%d) → A %#02x (%d): error %d", u, uv, UlawToAlaw(u), av, err)
		}
		if (uv > 0 && av < 0) || (uv < 0 && av > 0) {
			t.Errorf("µ %#02x: sign flipped", u)
		}
		av2, uv2 := decodeAlaw(a), decodeUlaw(AlawToUlaw(a))
		if err := abs(av2 - uv2); err > 8+abs(av2)/30 {
			t.Errorf("A %#02x (%d) → µ %#02x (%d): error %d", a, av2, AlawToUlaw(a), uv2, err)
		}
		// Sign symmetry.
		if decodeAlaw(UlawToAlaw(u^0x80)) != -av && uv != 0 {
			t.Errorf("µ %#02x: positive and negative halves differ", u)
		}
	}
	// Monotonic: larger µ values never map to smaller A values.
	prev := -1 << 30
	for m := 0; m < 128; m++ {
		v := decodeAlaw(UlawToAlaw(0xFF ^ byte(m)))
		if v < prev {
			t.Errorf("µ magnitude %d maps below its predecessor", m)
		}
		prev = v
	}
}

func TestG711RoundTrips(t *testing.T) {
	// Every A-law code produced by a µ→A conversion survives A→µ→A, and
	// every µ-law code produced by A→µ survives µ→A→µ (G.711 tables are
	// transparent for codes that already passed one conversion).
	for c := 0; c < 256; c++ {
		a := UlawToAlaw(byte(c))
		if got := UlawToAlaw(AlawToUlaw(a)); got != a {
			t.Errorf("A %#02x (from µ %#02x) → µ %#02x → A %#02x", a, c, AlawToUlaw(a), got)
		}
		u := AlawToUlaw(byte(c))
		if got := AlawToUlaw(UlawToAlaw(u)); got != u {
			t.Errorf("µ %#02x (from A %#02x) → A → µ %#02x", u, c, got)
		}
	}
	// The tables are onto 240 codes each (µ-law has finer steps near zero,
	// A-law in segment 0/1 of µ).
	seenA, seenU := map[byte]bool{}, map[byte]bool{}
	for c := 0; c < 256; c++ {
		seenA[UlawToAlaw(byte(c))] = true
		seenU[AlawToUlaw(byte(c))] = true
	}
	if len(seenA) != 240 || len(seenU) != 240 {
		t.Errorf("image sizes µ→A %d, A→µ %d, want 240 each", len(seenA), len(seenU))
	}
}

func TestTranscodeSlices(t *testing.T) {
	src := []byte{0xFF, 0x7F, 0x80, 0x00, 0xAF}
	dst := make([]byte, 8)
	if n := TranscodeUlawToAlaw(dst, src); n != 5 || !bytes.Equal(dst[:n], []byte{0xD5, 0x55, 0xAA, 0x2A, 0x9A}) {
		t.Errorf("µ→A = %x (%d)", dst[:n], n)
	}
	back := make([]byte, 5)
	if n := TranscodeAlawToUlaw(back, dst[:5]); n != 5 || !bytes.Equal(back, []byte{0xFE, 0x7E, 0x80, 0x00, 0xAF}) {
		t.Errorf("A→µ = %x", back)
	}
	// In place and short destination.
	buf := append([]byte(nil), src...)
	TranscodeUlawToAlaw(buf, buf)
	if !bytes.Equal(buf, dst[:5]) {
		t.Errorf("in place = %x", buf)
	}
	if n := TranscodeUlawToAlaw(make([]byte, 2), src); n != 2 {
		t.Errorf("short dst n = %d", n)
	}
}

func TestCheckRelayAndFallback(t *testing.T) {
	for _, tc := range []struct {
		a, b Codec
		ok   bool
	}{
		{pcmu, pcmu, true},
		{pcmu, Codec{Name: "pcmu", PayloadType: 96, ClockRate: 8000}, true},
		{pcmu, pcma, true},
		{pcma, pcmu, true},
		{opus, pcmu, false},
		{g722, pcma, false},
		{opus, opus, true},
	} {
		err := CheckRelay(tc.a, tc.b)
		if (err == nil) != tc.ok {
			t.Errorf("CheckRelay(%v, %v) = %v", tc.a, tc.b, err)
		}
		if err != nil {
			var se interface{ SIPStatus() int }
			if !errorsAs(err, &se) || se.SIPStatus() != 488 {
				t.Errorf("%v: not a 488", err)
			}
		}
	}
	got := codecList(WithG711Fallback([]Codec{g722, pcmu, te101}))
	if got != "[G722/8000(9) PCMU/8000(0) PCMA/8000(8) telephone-event/8000(101)]" {
		t.Errorf("fallback = %s", got)
	}
	if got := codecList(WithG711Fallback([]Codec{pcma})); got != "[PCMA/8000(8) PCMU/8000(0)]" {
		t.Errorf("fallback = %s", got)
	}
	if got := codecList(WithG711Fallback([]Codec{pcmu, pcma})); got != "[PCMU/8000(0) PCMA/8000(8)]" {
		t.Errorf("fallback = %s", got)
	}
}

func BenchmarkTranscodeUlawToAlaw(b *testing.B) {
	src := make([]byte, 160)
	dst := make([]byte, 160)
	b.ReportAllocs()
	b.SetBytes(160)
	for i := 0; i < b.N; i++ {
		TranscodeUlawToAlaw(dst, src)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
