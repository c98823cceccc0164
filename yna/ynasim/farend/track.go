package farend

import (
	"errors"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// rawTrack is a webrtc.TrackLocal that writes RTP packets with the payload
// type chosen by the caller. TrackLocalStaticRTP cannot be used because it
// overwrites every packet's payload type with the bound codec's, which makes
// RFC 4733 telephone-event packets on the same SSRC impossible.
type rawTrack struct {
	mu     sync.Mutex
	bound  bool
	writer webrtc.TrackLocalWriter
	ssrc   uint32
	audio  webrtc.RTPCodecParameters
	te     *webrtc.RTPCodecParameters
}

var errNotBound = errors.New("farend: track not bound")

func (t *rawTrack) ID() string                { return "audio" }
func (t *rawTrack) RID() string               { return "" }
func (t *rawTrack) StreamID() string          { return "ynasim" }
func (t *rawTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// Bind picks the first negotiated non-telephone-event codec (the answerer's
// preference) and remembers a telephone-event payload type if negotiated.
func (t *rawTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var audio *webrtc.RTPCodecParameters
	var te *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		isTE := strings.EqualFold(c.MimeType, "audio/telephone-event")
		switch {
		case isTE && te == nil:
			te = &c
		case !isTE && audio == nil:
			if _, ok := specFor(c); ok {
				audio = &c
			}
		}
	}
	if audio == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	// Prefer a telephone-event at the audio clock rate.
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, "audio/telephone-event") && c.ClockRate == audio.ClockRate {
			te = &c
			break
		}
	}
	t.mu.Lock()
	t.bound, t.writer, t.ssrc, t.audio, t.te = true, ctx.WriteStream(), uint32(ctx.SSRC()), *audio, te
	t.mu.Unlock()
	return *audio, nil
}

// Unbind stops writing; the negotiated codecs stay readable for Stats.
func (t *rawTrack) Unbind(webrtc.TrackLocalContext) error {
	t.mu.Lock()
	t.writer = nil
	t.mu.Unlock()
	return nil
}

// binding returns the negotiated codecs (ok=false before the first Bind).
func (t *rawTrack) binding() (audio webrtc.RTPCodecParameters, te *webrtc.RTPCodecParameters, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.audio, t.te, t.bound
}

// write sends one packet, filling in the SSRC.
func (t *rawTrack) write(h *rtp.Header, payload []byte) error {
	t.mu.Lock()
	w, ssrc, ok := t.writer, t.ssrc, t.bound
	t.mu.Unlock()
	if !ok || w == nil {
		return errNotBound
	}
	h.SSRC = ssrc
	_, err := w.WriteRTP(h, payload)
	return err
}
