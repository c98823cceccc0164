package farend

import (
	"context"
	"sync"
)

// Stats is a snapshot of one far end's media counters.
type Stats struct {
	Codec       string // audio codec this side sends: the answer's first codec, e.g. "PCMU/8000" ("" before negotiation)
	PayloadType uint8  // its payload type
	// TelephoneEvent is the negotiated RFC 4733 format, e.g. "telephone-event/8000" ("" if none).
	TelephoneEvent string
	// CodecReceived is the codec of the audio arriving from the peer ("" before the first packet).
	CodecReceived string
	Direction     string // our current media direction (sendrecv, sendonly, recvonly, inactive)
	ICEState      string
	DTLSState     string
	SRTPProfile   string // negotiated DTLS-SRTP profile, e.g. "SRTP_AEAD_AES_128_GCM"

	PacketsSent     uint64 // audio packets sent (DTMF packets not included)
	PacketsReceived uint64 // audio packets received (DTMF packets not included)
	BytesReceived   uint64 // audio payload bytes received
	Lost            uint64 // RTP sequence numbers never received (net of late arrivals)
	OutOfOrder      uint64 // packets that arrived after a later sequence number
	Duplicates      uint64 // packets whose sequence number was already received
	PayloadOK       uint64 // marked audio packets whose counter followed the previous one
	PayloadBad      uint64 // marked audio packets whose counter did not (gap, reorder, repeat)
	PayloadUnmarked uint64 // audio packets without marker
	DTMFPacketsSent uint64
	DTMFPacketsRecv uint64

	Digits         string  // RFC 4733 digits received, each once, in order
	ToneHzDetected float64 // zero-crossing estimate over all received G.711 audio (0 otherwise)
}

// seqHistory is the number of recent sequence numbers remembered for
// duplicate / reorder classification.
const seqHistory = 1024

// rxStats is the receive side state; one goroutine writes, readers snapshot.
type rxStats struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every update

	started  bool
	maxExt   uint64 // highest extended sequence number seen
	seen     [seqHistory]uint64
	seenSet  [seqHistory]bool
	packets  uint64
	bytes    uint64
	lost     int64
	ooo      uint64
	dups     uint64
	markerOK uint64
	markerBd uint64
	unmarked uint64
	haveMark bool
	lastMark uint32
	dtmfRecv uint64
	rxCodec  string
	digits   []byte
	dtmf     dtmfReceiver
	zc       zeroCrossings
	pcm      []int16
}

func newRxStats() *rxStats { return &rxStats{changed: make(chan struct{})} }

// wait returns a channel closed on the next update.
func (s *rxStats) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *rxStats) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// sequence classifies an RTP sequence number (shared by audio and DTMF).
func (s *rxStats) sequenceLocked(seq uint16) {
	var ext uint64
	if !s.started {
		s.started = true
		ext = 1<<16 + uint64(seq) // offset so that early reordering cannot underflow
		s.maxExt = ext
		s.remember(ext)
		return
	}
	// extend relative to maxExt
	cur := s.maxExt
	delta := int64(int16(seq - uint16(cur)))
	ext = uint64(int64(cur) + delta)
	switch {
	case ext == cur+1:
		s.maxExt = ext
	case ext > cur:
		s.lost += int64(ext - cur - 1)
		s.maxExt = ext
	default: // ext <= cur: an old sequence number
		if s.isSeen(ext) {
			s.dups++
			return
		}
		s.ooo++
		if cur-ext >= seqHistory {
			return // too old to remember; it was counted as lost before
		}
		s.lost--
	}
	s.remember(ext)
}

func (s *rxStats) remember(ext uint64) {
	i := ext % seqHistory
	s.seen[i], s.seenSet[i] = ext, true
}

func (s *rxStats) isSeen(ext uint64) bool {
	i := ext % seqHistory
	return s.seenSet[i] && s.seen[i] == ext
}

// audio records one received audio packet. g711 is "PCMU", "PCMA" or "".
func (s *rxStats) audio(seq uint16, payload []byte, g711 string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sequenceLocked(seq)
	s.packets++
	s.bytes += uint64(len(payload))
	if c, ok := ParseMarker(payload); ok {
		if !s.haveMark || c == s.lastMark+1 {
			s.markerOK++
		} else {
			s.markerBd++
		}
		if !s.haveMark || c > s.lastMark {
			s.lastMark = c
		}
		s.haveMark = true
	} else {
		s.unmarked++
	}
	if g711 != "" {
		s.pcm = decodeG711(s.pcm[:0], payload, g711 == "PCMA")
		s.zc.add(s.pcm)
	}
	s.notifyLocked()
}

// setCodec records the codec of the received audio track.
func (s *rxStats) setCodec(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rxCodec = name
}

// event records one received telephone-event packet.
func (s *rxStats) event(seq uint16, ts uint32, payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sequenceLocked(seq)
	s.dtmfRecv++
	if d, ok := s.dtmf.packet(ts, payload); ok {
		s.digits = append(s.digits, d)
	}
	s.notifyLocked()
}

// fill copies receive counters into st.
func (s *rxStats) fill(st *Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.PacketsReceived = s.packets
	st.BytesReceived = s.bytes
	if s.lost > 0 {
		st.Lost = uint64(s.lost)
	}
	st.OutOfOrder = s.ooo
	st.Duplicates = s.dups
	st.PayloadOK = s.markerOK
	st.PayloadBad = s.markerBd
	st.PayloadUnmarked = s.unmarked
	st.DTMFPacketsRecv = s.dtmfRecv
	st.CodecReceived = s.rxCodec
	st.Digits = string(s.digits)
	st.ToneHzDetected = s.zc.hz(8000)
}

// waitFor blocks until cond (evaluated under the lock) holds or ctx ends.
func (s *rxStats) waitFor(ctx context.Context, cond func(*rxStats) bool) error {
	for {
		s.mu.Lock()
		ok := cond(s)
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
