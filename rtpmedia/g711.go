package rtpmedia

// G.711 µ-law ⇄ A-law code conversion (ITU-T G.711 Tables 3 and 4, the
// direct code-to-code conversion tables that the ITU-T G.191 tools and
// spandsp also use). The conversion works on the 8-bit code words as sent on
// the wire (µ-law all bits inverted, A-law even bits inverted) and is a plain
// table look-up: no linear PCM step, no state, no allocation.

// ulawMagToAlawMag maps a µ-law magnitude index (0 = smallest, 127 =
// largest; the code word with sign and inversion removed) to the A-law
// magnitude index of G.711 Table 3.
var ulawMagToAlawMag = [128]uint8{
	0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, // 0-15: two µ steps per A step
	8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, // 16-31
	24, 26, 28, 30, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, // 32-47
	45, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, // 48-63
	63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, // 64-79
	79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, // 80-95
	96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, // 96-111
	112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, // 112-127
}

// alawMagToUlawMag maps an A-law magnitude index to the µ-law magnitude index
// of G.711 Table 4.
var alawMagToUlawMag = [128]uint8{
	1, 3, 5, 7, 9, 11, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23, // 0-15
	24, 25, 26, 27, 28, 29, 30, 31, 32, 32, 33, 33, 34, 34, 35, 35, // 16-31
	36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 48, 49, 49, // 32-47
	50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 64, // 48-63
	65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, // 64-79
	80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, // 80-95
	96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, // 96-111
	112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, // 112-127
}

// Full 256-entry code word tables, built once from the magnitude tables.
var (
	ulawToAlaw [256]byte
	alawToUlaw [256]byte
)

func init() {
	for c := 0; c < 256; c++ {
		// µ-law code word: sign bit 1 = positive, all bits inverted.
		// A-law code word: sign bit 1 = positive, even bits inverted (0x55).
		u := byte(c)
		if u&0x80 != 0 {
			ulawToAlaw[c] = 0xD5 ^ ulawMagToAlawMag[0xFF^u]
		} else {
			ulawToAlaw[c] = 0x55 ^ ulawMagToAlawMag[0x7F^u]
		}
		a := byte(c)
		if a&0x80 != 0 {
			alawToUlaw[c] = 0xFF ^ alawMagToUlawMag[a^0xD5]
		} else {
			alawToUlaw[c] = 0x7F ^ alawMagToUlawMag[a^0x55]
		}
	}
}

// UlawToAlaw converts one µ-law (PCMU) code word to A-law (PCMA).
func UlawToAlaw(u byte) byte { return ulawToAlaw[u] }

// AlawToUlaw converts one A-law (PCMA) code word to µ-law (PCMU).
func AlawToUlaw(a byte) byte { return alawToUlaw[a] }

// TranscodeUlawToAlaw converts src (PCMU) into dst (PCMA) and returns the
// number of bytes written (min(len(dst), len(src))). dst and src may be the
// same slice. It does not allocate.
func TranscodeUlawToAlaw(dst, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, c := range src {
		dst[i] = ulawToAlaw[c]
	}
	return n
}

// TranscodeAlawToUlaw converts src (PCMA) into dst (PCMU); see TranscodeUlawToAlaw.
func TranscodeAlawToUlaw(dst, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, c := range src {
		dst[i] = alawToUlaw[c]
	}
	return n
}

// g711Transcoder returns the conversion needed to send a payload of codec
// from as codec to: xcodeNone when they match, xcodeU2A / xcodeA2U for the
// µ-law ⇄ A-law pair, and ok=false when the pair cannot be relayed.
func g711Transcoder(from, to Codec) (xcode, bool) {
	switch {
	case from.Matches(to):
		return xcodeNone, true
	case isG711(from, "PCMU") && isG711(to, "PCMA"):
		return xcodeU2A, true
	case isG711(from, "PCMA") && isG711(to, "PCMU"):
		return xcodeA2U, true
	}
	return xcodeNone, false
}

func isG711(c Codec, name string) bool {
	return c.Matches(Codec{Name: name, ClockRate: 8000})
}

// xcode is a payload conversion on the relay path.
type xcode uint8

const (
	xcodeNone xcode = iota
	xcodeU2A
	xcodeA2U
)
