package farend

import (
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"
)

// packetInterval is the packetization time of the audio stream.
const packetInterval = 20 * time.Millisecond

// opusSilence is a valid 20 ms opus (CELT) silence frame.
var opusSilence = []byte{0xF8, 0xFF, 0xFE}

// txState is the send side: one continuous RTP stream. Guarded by FarEnd.mu.
type txState struct {
	seq       uint16
	ts        uint32
	sent      uint64 // audio packets sent (also the next marker counter)
	dtmfSent  uint64
	wasActive bool // last tick sent something (marker bit on talkspurt start)
	tone      toneGen
	pcm       []int16
}

func (t *txState) init(hz float64) {
	t.seq = uint16(rand.Uint32())
	t.ts = rand.Uint32()
	t.tone = toneGen{hz: hz, rate: 8000}
	t.pcm = make([]int16, 160)
}

// sendLoop is the single goroutine that sends media; it stops with f.ctx.
func (f *FarEnd) sendLoop() {
	defer f.wg.Done()
	select {
	case <-f.connected:
	case <-f.ctx.Done():
		return
	}
	f.readSRTPProfile()
	ticker := time.NewTicker(packetInterval)
	defer ticker.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-ticker.C:
			f.tick()
		}
	}
}

// readSRTPProfile stores the negotiated SRTP profile for Stats. It runs once,
// right after connecting: pion's GetStats races with pion closing the
// PeerConnection on its own (remote DTLS close), so it is not called later, and
// it holds statsMu so that Close does not close the PeerConnection meanwhile.
func (f *FarEnd) readSRTPProfile() {
	f.statsMu.Lock()
	defer f.statsMu.Unlock()
	f.mu.Lock()
	pc, closed := f.pc, f.closed
	f.mu.Unlock()
	if pc == nil || closed {
		return
	}
	for _, s := range pc.GetStats() {
		if ts, ok := s.(webrtc.TransportStats); ok && ts.SRTPCipher != "" {
			f.mu.Lock()
			f.srtpProfile = ts.SRTPCipher
			f.mu.Unlock()
		}
	}
}

// tick sends (or skips) one 20 ms packet. The direction is checked under the
// same lock that direction changes take, so once Reoffer/AnswerReoffer/
// SetAnswer return a direction without send, no further packet goes out.
func (f *FarEnd) tick() {
	audio, te, ok := f.track.binding()
	if !ok {
		return
	}
	spec, ok := specFor(audio)
	if !ok {
		return
	}
	spt := spec.Rate / 50 // RTP clock ticks per 20 ms
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &f.tx
	ts := t.ts
	t.ts += spt
	if f.closed || !canSend(f.dir) {
		t.wasActive = false
		t.tone.skip(160)
		return
	}
	marker := !t.wasActive
	t.wasActive = true

	if te != nil && (len(f.dtmf.queue) > 0 || f.dtmf.cur > 0 || f.dtmf.gap > 0) {
		teSpt := te.ClockRate / 50
		if d := f.dtmf.next(ts, teSpt); d.active {
			h := rtp.Header{Version: 2, PayloadType: uint8(te.PayloadType), SequenceNumber: t.seq, Timestamp: d.ts, Marker: d.marker}
			t.tone.skip(160)
			if err := f.track.write(&h, d.payload); err != nil {
				f.log.Debug("far end DTMF write failed", zap.Error(err))
				return
			}
			t.seq++
			t.dtmfSent++
			return
		}
	}

	var payload []byte
	switch spec.Name {
	case "PCMU", "PCMA":
		t.tone.fill(t.pcm)
		payload = make([]byte, 160)
		if spec.Name == "PCMU" {
			EncodeUlaw(payload, t.pcm)
		} else {
			EncodeAlaw(payload, t.pcm)
		}
		MarkPayload(payload, uint32(t.sent))
	case "G722":
		t.tone.skip(160)
		payload = make([]byte, 160)
		MarkPayload(payload, uint32(t.sent))
	default: // opus
		t.tone.skip(160)
		payload = append([]byte(nil), opusSilence...)
	}
	h := rtp.Header{Version: 2, PayloadType: uint8(audio.PayloadType), SequenceNumber: t.seq, Timestamp: ts, Marker: marker}
	if err := f.track.write(&h, payload); err != nil {
		f.log.Debug("far end RTP write failed", zap.Error(err))
		return
	}
	t.seq++
	t.sent++
}

// SendDTMF queues RFC 4733 digits (0-9 * # A-D) on the audio SSRC. Digits
// are sent one after another while the direction allows sending; SendDTMF
// does not wait for them to go out.
func (f *FarEnd) SendDTMF(digits string) error {
	evs, err := parseDigits(digits)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if _, te, ok := f.track.binding(); !ok || te == nil {
		return ErrNoTelephoneEvent
	}
	f.dtmf.queue = append(f.dtmf.queue, evs...)
	return nil
}

// onTrack runs pion's OnTrack callback: it reads the client's RTP until the
// PeerConnection closes.
func (f *FarEnd) onTrack(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.wg.Add(1)
	f.mu.Unlock()
	defer f.wg.Done()
	if spec, ok := specFor(track.Codec()); ok && !spec.isTE() {
		f.rx.setCodec(spec.String())
	}
	errs := 0
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			if errors.Is(err, io.EOF) || f.ctx.Err() != nil {
				return
			}
			errs++
			if errs > 100 {
				f.log.Warn("far end stops reading after repeated errors", zap.Error(err))
				return
			}
			continue
		}
		errs = 0
		mime := strings.ToLower(track.Codec().MimeType)
		switch mime {
		case "audio/telephone-event":
			f.rx.event(pkt.SequenceNumber, pkt.Timestamp, pkt.Payload)
		case "audio/pcmu":
			f.rx.audio(pkt.SequenceNumber, pkt.Payload, "PCMU")
		case "audio/pcma":
			f.rx.audio(pkt.SequenceNumber, pkt.Payload, "PCMA")
		default:
			f.rx.audio(pkt.SequenceNumber, pkt.Payload, "")
		}
	}
}
