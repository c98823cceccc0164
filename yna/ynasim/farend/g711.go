package farend

// Pure-Go G.711 (ITU-T G.711) µ-law and A-law codecs.

const (
	ulawBias = 0x84
	ulawClip = 32635
)

// LinearToUlaw encodes one 16-bit linear PCM sample as G.711 µ-law.
func LinearToUlaw(sample int16) byte {
	s := int(sample)
	sign := 0
	if s < 0 {
		s = -s
		sign = 0x80
	}
	if s > ulawClip {
		s = ulawClip
	}
	s += ulawBias
	exp := 7
	for mask := 0x4000; s&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (s >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mant)
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
