package farend

import "math"

// toneAmplitude is the peak amplitude of the generated tone (about -6 dBFS).
const toneAmplitude = 16000

// toneGen produces a phase-continuous sine at a fixed frequency and sample rate.
type toneGen struct {
	hz, rate float64
	n        uint64 // samples produced so far
}

// fill writes len(pcm) consecutive samples.
func (g *toneGen) fill(pcm []int16) {
	for i := range pcm {
		t := float64(g.n) / g.rate
		pcm[i] = int16(toneAmplitude * math.Sin(2*math.Pi*g.hz*t))
		g.n++
	}
}

// skip advances the phase by n samples (ticks spent on hold or sending DTMF).
func (g *toneGen) skip(n uint64) { g.n += n }

// zeroCrossings estimates a tone frequency from decoded PCM blocks. Blocks are
// counted separately because the marker bytes interrupt the waveform.
type zeroCrossings struct {
	crossings float64
	intervals float64 // sample intervals covered
}

func (z *zeroCrossings) add(pcm []int16) {
	if len(pcm) < 2 {
		return
	}
	prev := pcm[0] >= 0
	for _, s := range pcm[1:] {
		cur := s >= 0
		if cur != prev {
			z.crossings++
		}
		prev = cur
	}
	z.intervals += float64(len(pcm) - 1)
}

// hz returns the estimated frequency for the given sample rate (0 if no data).
func (z *zeroCrossings) hz(rate float64) float64 {
	if z.intervals == 0 {
		return 0
	}
	return z.crossings / 2 / (z.intervals / rate)
}

// EstimateToneHz estimates the tone frequency of 8 kHz G.711 payloads
// (pcma selects A-law, else µ-law) with the marker bytes skipped when present.
// Exposed so other tests can check a far end's stream the same way.
func EstimateToneHz(payloads [][]byte, pcma bool) float64 {
	var z zeroCrossings
	pcm := make([]int16, 0, 160)
	for _, p := range payloads {
		z.add(decodeG711(pcm[:0], p, pcma))
	}
	return z.hz(8000)
}

// decodeG711 decodes payload (skipping a marker) into dst.
func decodeG711(dst []int16, payload []byte, pcma bool) []int16 {
	if _, ok := ParseMarker(payload); ok {
		payload = payload[MarkerLen:]
	}
	for _, b := range payload {
		if pcma {
			dst = append(dst, AlawToLinear(b))
		} else {
			dst = append(dst, UlawToLinear(b))
		}
	}
	return dst
}
