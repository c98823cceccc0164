package farend

// Pure-Go G.711 (ITU-T G.711) µ-law and A-law codecs.

const ulawBias = 0x84

// segUEnd are the µ-law segment end points in the 14-bit domain.
var segUEnd = [8]int{0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF}

// LinearToUlaw encodes one 16-bit linear PCM sample as G.711 µ-law. It is
// bit-exact with the Sun/CCITT reference implementation (as used by sox and
// Python's audioop).
func LinearToUlaw(sample int16) byte {
	pcm := int(sample) >> 2
	mask := 0xFF
	if pcm < 0 {
		pcm = -pcm
		mask = 0x7F
	}
	if pcm > 8159 {
		pcm = 8159
	}
	pcm += ulawBias >> 2
	seg := 0
	for seg < 8 && pcm > segUEnd[seg] {
		seg++
	}
	if seg >= 8 {
		return byte(0x7F ^ mask)
	}
	return byte((seg<<4 | (pcm>>(seg+1))&0x0F) ^ mask)
}

// UlawToLinear decodes one G.711 µ-law byte to 16-bit linear PCM.
func UlawToLinear(u byte) int16 {
	u = ^u
	sign := u & 0x80
	exp := int(u>>4) & 0x07
	mant := int(u & 0x0F)
	s := ((mant << 3) + ulawBias) << exp
	s -= ulawBias
	if sign != 0 {
		return int16(-s)
	}
	return int16(s)
}

// LinearToAlaw encodes one 16-bit linear PCM sample as G.711 A-law.
func LinearToAlaw(sample int16) byte {
	s := int(sample) >> 3 // 13-bit magnitude domain
	mask := byte(0xD5)
	if s < 0 {
		mask = 0x55
		s = -s - 1
	}
	if s > 0x0FFF {
		s = 0x0FFF
	}
	var out byte
	if s < 32 {
		out = byte(s >> 1)
	} else {
		exp := 1
		for v := s >> 5; v > 1; v >>= 1 {
			exp++
		}
		out = byte(exp<<4) | byte((s>>exp)&0x0F)
	}
	return out ^ mask
}

// AlawToLinear decodes one G.711 A-law byte to 16-bit linear PCM.
func AlawToLinear(a byte) int16 {
	a ^= 0x55
	exp := int(a>>4) & 0x07
	mant := int(a & 0x0F)
	var s int
	if exp == 0 {
		s = mant<<4 + 8
	} else {
		s = (mant<<4 + 0x108) << (exp - 1)
	}
	if a&0x80 == 0 {
		return int16(-s)
	}
	return int16(s)
}

// EncodeUlaw encodes pcm into dst (len(dst) >= len(pcm)) and returns dst[:len(pcm)].
func EncodeUlaw(dst []byte, pcm []int16) []byte {
	dst = dst[:len(pcm)]
	for i, s := range pcm {
		dst[i] = LinearToUlaw(s)
	}
	return dst
}

// EncodeAlaw encodes pcm into dst (len(dst) >= len(pcm)) and returns dst[:len(pcm)].
func EncodeAlaw(dst []byte, pcm []int16) []byte {
	dst = dst[:len(pcm)]
	for i, s := range pcm {
		dst[i] = LinearToAlaw(s)
	}
	return dst
}
