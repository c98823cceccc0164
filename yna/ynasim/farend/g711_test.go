package farend

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestG711KnownValues(t *testing.T) {
	for _, tc := range []struct {
		in         int16
		ulaw, alaw byte
	}{
		{0, 0xFF, 0xD5},
		{-1, 0x7E, 0x55},
		{32767, 0x80, 0xAA},
		{-32768, 0x00, 0x2A},
		{1000, 0xCE, 0xFA},
		{-1000, 0x4E, 0x7A},
	} {
		if got := LinearToUlaw(tc.in); got != tc.ulaw {
			t.Errorf("ulaw(%d) = %#x, want %#x", tc.in, got, tc.ulaw)
		}
		if got := LinearToAlaw(tc.in); got != tc.alaw {
			t.Errorf("alaw(%d) = %#x, want %#x", tc.in, got, tc.alaw)
		}
	}
}

// Encoding a decoded value must give the same code back (G.711 is idempotent
// on its own code points), and decode(encode(x)) must be close to x.
func TestG711RoundTrip(t *testing.T) {
	for c := 0; c < 256; c++ {
		u := byte(c)
		if got := LinearToUlaw(UlawToLinear(u)); got != u && !(u == 0x7F && got == 0xFF) {
			t.Errorf("ulaw code %#x -> %d -> %#x", u, UlawToLinear(u), got)
		}
		if got := LinearToAlaw(AlawToLinear(u)); got != u {
			t.Errorf("alaw code %#x -> %d -> %#x", u, AlawToLinear(u), got)
		}
	}
	for x := -32768; x <= 32767; x += 7 {
		for name, rt := range map[string]func(int16) int16{
			"ulaw": func(s int16) int16 { return UlawToLinear(LinearToUlaw(s)) },
			"alaw": func(s int16) int16 { return AlawToLinear(LinearToAlaw(s)) },
		} {
			got := float64(rt(int16(x)))
			if err := math.Abs(got - float64(x)); err > math.Max(40, math.Abs(float64(x))*0.07) {
				t.Fatalf("%s(%d) = %v", name, x, got)
			}
		}
	}
}

func TestToneEstimate(t *testing.T) {
	for _, hz := range []float64{300, 600, 1000, 2000} {
		for _, pcma := range []bool{false, true} {
			g := toneGen{hz: hz, rate: 8000}
			pcm := make([]int16, 160)
			var payloads [][]byte
			for i := 0; i < 50; i++ {
				g.fill(pcm)
				p := make([]byte, 160)
				if pcma {
					EncodeAlaw(p, pcm)
				} else {
					EncodeUlaw(p, pcm)
				}
				MarkPayload(p, uint32(i))
				payloads = append(payloads, p)
			}
			if got := EstimateToneHz(payloads, pcma); !near(got, hz, 0.05) {
				t.Errorf("hz=%v pcma=%v: estimated %.1f", hz, pcma, got)
			}
		}
	}
	if got := EstimateToneHz(nil, false); got != 0 {
		t.Errorf("empty estimate %v", got)
	}
}

func TestMarker(t *testing.T) {
	buf := make([]byte, 160)
	MarkPayload(buf, 0xDEADBEEF)
	if c, ok := ParseMarker(buf); !ok || c != 0xDEADBEEF {
		t.Errorf("ParseMarker = %x, %v", c, ok)
	}
	if string(buf[:4]) != "YNAS" || buf[4] != 0xDE || buf[7] != 0xEF {
		t.Errorf("marker bytes % x", buf[:8])
	}
	short := []byte("YNAS")
	MarkPayload(short, 1) // must not panic
	for _, p := range [][]byte{nil, short, []byte("XNAS\x00\x00\x00\x01"), make([]byte, 160)} {
		if _, ok := ParseMarker(p); ok {
			t.Errorf("ParseMarker(% x) found a marker", p)
		}
	}
}

func BenchmarkEncodeUlaw(b *testing.B) {
	pcm := make([]int16, 160)
	(&toneGen{hz: 1000, rate: 8000}).fill(pcm)
	dst := make([]byte, 160)
	b.SetBytes(160)
	for b.Loop() {
		EncodeUlaw(dst, pcm)
	}
}

func BenchmarkEncodeAlaw(b *testing.B) {
	pcm := make([]int16, 160)
	(&toneGen{hz: 1000, rate: 8000}).fill(pcm)
	dst := make([]byte, 160)
	b.SetBytes(160)
	for b.Loop() {
		EncodeAlaw(dst, pcm)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestG711Reference compares every sample and code point with the reference
// implementation's tables (see testdata/README.md).
func TestG711Reference(t *testing.T) {
	for _, tc := range []struct {
		name     string
		enc      func(int16) byte
		dec      func(byte) int16
		encTable string
		decTable string
	}{
		{"ulaw", LinearToUlaw, UlawToLinear, "g711-ulaw-encode.bin.gz", "g711-ulaw-decode.bin"},
		{"alaw", LinearToAlaw, AlawToLinear, "g711-alaw-encode.bin.gz", "g711-alaw-decode.bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := readTestdata(t, tc.encTable)
			if len(enc) != 65536 {
				t.Fatalf("encode table has %d bytes", len(enc))
			}
			bad := 0
			for i, want := range enc {
				x := int16(i - 32768)
				if got := tc.enc(x); got != want && bad < 5 {
					bad++
					t.Errorf("encode(%d) = %#x, reference %#x", x, got, want)
				}
			}
			dec := readTestdata(t, tc.decTable)
			for c := 0; c < 256; c++ {
				want := int16(binary.LittleEndian.Uint16(dec[2*c:]))
				if got := tc.dec(byte(c)); got != want {
					t.Errorf("decode(%#x) = %d, reference %d", c, got, want)
				}
			}
		})
	}
}
