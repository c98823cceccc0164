package rtpmedia

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/zap"
)

// Endpoint is one side of a Relay: *Leg (SIP side) and *WebRTCLeg (network
// side) both satisfy it. ReadRTP is called from one goroutine only; WriteRTP
// from one goroutine at a time (the relay serialises its writes per side).
type Endpoint interface {
	ReadRTP(p *rtp.Packet, buf []byte) (int, error)
	WriteRTP(p *rtp.Packet) error
}

// pushSource is an Endpoint that can also hand received packets to the relay
// itself, from a goroutine of its own (the WebRTC leg's SRTP fast path): the
// relay forwards them in that goroutine, without a hand-off. Packets it does
// not push still arrive through ReadRTP. While it pushes all of them, ReadRTP
// returns errPushing and the relay's reader goroutine for it stops; the
// source calls needRead (from any goroutine, possibly more than once) when
// ReadRTP may return packets or an error again, and the relay restarts it.
type pushSource interface {
	setPush(fn func(p *rtp.Packet), needRead func())
}

// errPushing: the source pushes every packet itself (pushSource); ReadRTP has
// nothing to return until it calls needRead.
var errPushing = errors.New("rtpmedia: the source pushes its packets")

// RelayConfig is what the relay needs to know about the negotiated media of
// both sides. SIPCodec/SIPDTMF carry the payload types of the SIP side,
// NetCodec/NetDTMF those of the network (WebRTC) side. A nil DTMF codec means
// that side has no telephone-event: RFC 4733 packets toward it are dropped
// (they are still reported on Relay.DTMF).
type RelayConfig struct {
	SIPCodec, NetCodec Codec
	SIPDTMF, NetDTMF   *Codec
	Logger             *zap.Logger
}

// CheckRelay reports whether a call with these two codecs can be relayed:
// nil when they match (payload-type mapping only) or are the G.711 µ-law ⇄
// A-law pair (table transcoding); otherwise an *Error wrapping
// ErrNoCommonCodec with SIPStatus 488 (e.g. Opus ⇄ G.711, which would need
// a codec library).
func CheckRelay(sipCodec, netCodec Codec) error {
	if _, ok := g711Transcoder(sipCodec, netCodec); ok {
		return nil
	}
	return newError(ErrNoCommonCodec, 488, "cannot relay %s ⇄ %s", sipCodec, netCodec)
}

// WithG711Fallback returns codecs plus the other G.711 law when only one of
// PCMU/PCMA is present (inserted right after it, with its static payload
// type), so a leg toward the network can accept a peer that only has the
// other law; the relay then transcodes. Other lists are returned unchanged.
func WithG711Fallback(codecs []Codec) []Codec {
	hasU, hasA := -1, -1
	for i, c := range codecs {
		if isG711(c, "PCMU") && hasU < 0 {
			hasU = i
		}
		if isG711(c, "PCMA") && hasA < 0 {
			hasA = i
		}
	}
	var add Codec
	var at int
	switch {
	case hasU >= 0 && hasA < 0:
		add, at = Codec{Name: "PCMA", PayloadType: 8, ClockRate: 8000}, hasU+1
	case hasA >= 0 && hasU < 0:
		add, at = Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}, hasA+1
	default:
		return codecs
	}
	out := make([]Codec, 0, len(codecs)+1)
	out = append(out, codecs[:at]...)
	out = append(out, add)
	return append(out, codecs[at:]...)
}

// RelayDirStats are the counters of one relay direction.
type RelayDirStats struct {
	Packets     uint64 // RTP packets forwarded (audio + telephone-event)
	Bytes       uint64 // payload bytes forwarded
	Dropped     uint64 // unknown payload type, DTMF without a target PT, untranscodable codec, a lone packet far out of sequence
	Held        uint64 // packets not forwarded because the direction was on hold or an injected digit was playing
	Transcoded  uint64 // packets converted µ-law ⇄ A-law
	DTMF        uint64 // telephone-event packets forwarded
	Digits      uint64 // digits detected in the forwarded stream
	DigitsSent  uint64 // digits injected with SendDTMFTo*
	Resyncs     uint64 // sequence/timestamp re-anchored (source SSRC change, jump, resume)
	WriteErrors uint64
}

// RelayStats are per-direction counters.
type RelayStats struct {
	SIPToNet, NetToSIP RelayDirStats
	DigitsDropped      uint64 // digits dropped because DTMF() was not read
}

// relayBufSize bounds read and transcode buffers (one UDP datagram).
const relayBufSize = 1500

// Sequence jumps beyond these (in packets), or a timestamp jump beyond
// maxTSJumpSecs, are a discontinuity of the source. The packet that jumps is
// held back: when the next packet follows it (same SSRC, next sequence
// number) the source restarted and the mapping is re-based on it (nothing is
// lost); otherwise it was a lone packet far out of line (e.g. more than
// maxSeqMisorder late) and it is dropped, leaving the mapping alone. A new
// source SSRC re-bases at once.
const (
	maxSeqJump     = 3000
	maxSeqMisorder = 100
	maxTSJumpSecs  = 30
)

// dtmfQueueLen bounds queued SendDTMFTo* digits per direction.
const dtmfQueueLen = 32

// digitChanLen is the buffer of Relay.DTMF.
const digitChanLen = 32

// Relay errors.
var (
	// ErrRelayClosed: the relay was closed.
	ErrRelayClosed = errors.New("rtpmedia: relay closed")
	// ErrNoDTMF: the target side negotiated no telephone-event.
	ErrNoDTMF = errors.New("rtpmedia: no telephone-event negotiated toward that side")
	// ErrDTMFQueueFull: too many digits are waiting to be sent.
	ErrDTMFQueueFull = errors.New("rtpmedia: DTMF queue full")
)

// dirMap is the payload mapping of one direction, derived from RelayConfig.
type dirMap struct {
	inPT, outPT     uint8
	audioOK         bool // the codec pair can be relayed
	xc              xcode
	inDTMF, outDTMF int16 // -1 = none
	outRate         uint32
	outDTMFRate     uint32
}

type relayMaps struct {
	s2n, n2s dirMap
	cfg      RelayConfig
}

func buildMaps(cfg RelayConfig) *relayMaps {
	return &relayMaps{
		s2n: buildDirMap(cfg.SIPCodec, cfg.NetCodec, cfg.SIPDTMF, cfg.NetDTMF),
		n2s: buildDirMap(cfg.NetCodec, cfg.SIPCodec, cfg.NetDTMF, cfg.SIPDTMF),
		cfg: cfg,
	}
}

func buildDirMap(in, out Codec, inD, outD *Codec) dirMap {
	m := dirMap{inPT: in.PayloadType, outPT: out.PayloadType, inDTMF: -1, outDTMF: -1,
		outRate: out.ClockRate, outDTMFRate: out.ClockRate}
	m.xc, m.audioOK = g711Transcoder(in, out)
	if inD != nil {
		m.inDTMF = int16(inD.PayloadType)
	}
	if outD != nil {
		m.outDTMF = int16(outD.PayloadType)
		if outD.ClockRate != 0 {
			m.outDTMFRate = outD.ClockRate
		}
	}
	if m.outRate == 0 {
		m.outRate = DefaultClockRate
	}
	if m.outDTMFRate == 0 {
		m.outDTMFRate = DefaultClockRate
	}
	return m
}

// Relay forwards RTP between a SIP-side endpoint and a network-side endpoint,
// one goroutine per direction. Toward each side it sends one continuous RTP
// stream: a constant SSRC per direction, sequence numbers without jumps and
// timestamps that keep running, across hold/resume, re-INVITEs and source
// SSRC changes or restarts. Payload types are mapped per side (audio and
// telephone-event separately); PCMU ⇄ PCMA is transcoded by table when the
// sides have no common codec. The per-packet path does not allocate.
type Relay struct {
	log   *zap.Logger
	maps  atomic.Pointer[relayMaps]
	s2n   *relayDir
	n2s   *relayDir
	start time.Time // monotonic origin for timestamp anchoring

	digits        chan DTMFDigit
	digitsDropped atomic.Uint64

	startOnce sync.Once
	closeOnce sync.Once
	isClosed  atomic.Bool   // set by Close before done is closed (closed() per packet, no select)
	done      chan struct{} // closed by Close
	failed    chan struct{} // closed when a direction stops on a read error
	failOnce  sync.Once
	errMu     sync.Mutex
	err       error
	wg        sync.WaitGroup
}

// NewRelay prepares a relay between sipLeg and netLeg; Start starts it.
func NewRelay(sipLeg, netLeg Endpoint, cfg RelayConfig) *Relay {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	r := &Relay{
		log:    cfg.Logger,
		start:  time.Now(),
		digits: make(chan DTMFDigit, digitChanLen),
		done:   make(chan struct{}),
		failed: make(chan struct{}),
	}
	r.maps.Store(buildMaps(cfg))
	r.s2n = newRelayDir(r, "sip→net", sipLeg, netLeg, true)
	r.n2s = newRelayDir(r, "net→sip", netLeg, sipLeg, false)
	if err := CheckRelay(cfg.SIPCodec, cfg.NetCodec); err != nil {
		r.log.Warn("relay codecs cannot be relayed; audio will be dropped", zap.Error(err))
	}
	return r
}

// Start starts the two forwarding goroutines and the two DTMF senders.
// Calling it again does nothing.
func (r *Relay) Start() {
	r.startOnce.Do(func() {
		select {
		case <-r.done:
			return
		default:
		}
		for _, d := range []*relayDir{r.s2n, r.n2s} {
			if ps, ok := d.src.(pushSource); ok {
				ps.setPush(d.push, d.startReader)
			}
			d.dmu.Lock()
			d.started = true
			d.startReaderLocked()
			d.startDTMFLocked()
			d.dmu.Unlock()
		}
	})
}

// Update swaps the payload mapping after a re-INVITE or re-offer changed
// payload types or codecs. Streams toward both sides continue (same SSRC,
// sequence and timestamps).
func (r *Relay) Update(cfg RelayConfig) {
	if cfg.Logger == nil {
		cfg.Logger = r.log
	}
	if err := CheckRelay(cfg.SIPCodec, cfg.NetCodec); err != nil {
		r.log.Warn("relay update: codecs cannot be relayed; audio will be dropped", zap.Error(err))
	}
	r.maps.Store(buildMaps(cfg))
}

// SetHold pauses (true) or resumes (false) forwarding per direction. While
// paused, packets are read and dropped; on resume the outgoing stream
// continues with the next sequence number and a timestamp advanced by the
// time spent on hold.
func (r *Relay) SetHold(sipToNet, netToSIP bool) {
	r.s2n.setHold(sipToNet)
	r.n2s.setHold(netToSIP)
}

// SendDTMFToNet queues digit (0-9 * # A-D) as RFC 4733 events toward the
// network side (e.g. from a SIP INFO), in the network stream's SSRC, sequence
// and timestamp space. It returns at once; digits are sent in order.
func (r *Relay) SendDTMFToNet(digit rune, dur time.Duration) error {
	return r.s2n.queueDTMF(digit, dur)
}

// SendDTMFToSIP queues digit toward the SIP side; see SendDTMFToNet.
func (r *Relay) SendDTMFToSIP(digit rune, dur time.Duration) error {
	return r.n2s.queueDTMF(digit, dur)
}

// DTMF returns the digits detected in either forwarded stream, each once.
// Sending never blocks: when the channel is full the oldest digit is dropped
// (RelayStats.DigitsDropped).
func (r *Relay) DTMF() <-chan DTMFDigit { return r.digits }

// Done is closed when a direction stopped because its endpoint failed (e.g.
// ErrMediaTimeout, the network leg closed); Err tells why. It is not closed
// by Close.
func (r *Relay) Done() <-chan struct{} { return r.failed }

// Err returns the first read error that stopped a direction, nil if none.
func (r *Relay) Err() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// Stats returns a snapshot of the counters.
func (r *Relay) Stats() RelayStats {
	return RelayStats{SIPToNet: r.s2n.stats(), NetToSIP: r.n2s.stats(), DigitsDropped: r.digitsDropped.Load()}
}

// Close stops the relay and waits for its goroutines. The forwarding
// goroutines return when their endpoint's ReadRTP returns, so the owner closes
// both endpoints before or concurrently with Close. Idempotent.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.isClosed.Store(true)
		close(r.done)
		for _, d := range []*relayDir{r.s2n, r.n2s} {
			d.dmu.Lock() // no DTMF sender starts after this (see startDTMFLocked)
			d.dmu.Unlock()
			if ps, ok := d.src.(pushSource); ok {
				ps.setPush(nil, nil)
			}
			d.fwdMu.Lock() // a push in progress ends
			d.fwdMu.Unlock()
		}
		r.wg.Wait()
	})
	return nil
}

func (r *Relay) fail(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
	r.failOnce.Do(func() { close(r.failed) })
}

func (r *Relay) closed() bool { return r.isClosed.Load() }

// pushDigit reports a digit without blocking, dropping the oldest when full.
func (r *Relay) pushDigit(d DTMFDigit) {
	for i := 0; i < 2; i++ {
		select {
		case r.digits <- d:
			return
		default:
		}
		select {
		case <-r.digits:
			r.digitsDropped.Add(1)
		default:
		}
	}
}

// now returns nanoseconds since the relay was created (monotonic).
func (r *Relay) now() int64 { return int64(time.Since(r.start)) }

type dirCounters struct {
	packets, bytes, dropped, held, transcoded, dtmf, digits, digitsSent, resyncs, writeErrors atomic.Uint64
}

type dtmfReq struct {
	digit rune
	dur   time.Duration
}

// outStream is the stream sent toward one side. Guarded by relayDir.mu.
type outStream struct {
	ssrc     uint32
	started  bool
	lastSeq  uint16 // highest sequence number sent
	seqOff   uint16 // out = in + off
	tsOff    uint32
	anchorTS uint32 // a timestamp sent ...
	anchorAt int64  // ... and when (relay clock), for re-anchoring
	anchored bool
	// input side of the mapping: the last forwarded source packet
	inSSRC  uint32
	inSeq   uint16
	inTS    uint32
	resync  bool // re-anchor on the next forwarded packet
	marker  bool // set the marker bit on the next forwarded audio packet
	playing bool // an injected digit is being sent: forwarded packets are held back
	// probe is a source packet that jumped (see jumped), held back until the
	// next packet tells whether the source restarted (it follows the probe:
	// re-base on the probe and send both) or the probe was a stray late or
	// early packet (the stream goes on from inSeq: the probe is dropped).
	probe probePacket
}

// probePacket is a held-back source packet; its payload is in relayDir.pbuf.
type probePacket struct {
	held    bool
	hdr     rtp.Header // SSRC, sequence number, timestamp, marker of the source
	outPT   uint8
	isDTMF  bool
	payload int // payload length in relayDir.pbuf
}

// relayDir is one direction: it reads from src and writes to dst.
type relayDir struct {
	r     *Relay
	name  string
	src   Endpoint
	dst   Endpoint
	toNet bool

	hold       atomic.Bool
	resumeFlag atomic.Bool // set on resume: forward re-anchors
	c          dirCounters
	dtmfQ      chan dtmfReq

	// The DTMF sender runs only while digits are queued (no goroutine per
	// call that only waits). Guarded by dmu.
	dmu         sync.Mutex
	started     bool // Relay.Start ran
	dtmfRunning bool
	reading     bool // readLoop runs
	readAgain   bool // startReader was called while it ran: read once more before stopping on errPushing

	// fwdMu serialises forward between readLoop and push; it guards det.
	fwdMu sync.Mutex
	// Reader-owned (readLoop only).
	rp   rtp.Packet
	rbuf [relayBufSize]byte
	det  DTMFDetector

	mu   sync.Mutex // guards out and the write buffers below
	out  outStream
	wp   rtp.Packet
	wbuf [relayBufSize]byte // transcoding output
	pbuf [relayBufSize]byte // payload of out.probe
}

func newRelayDir(r *Relay, name string, src, dst Endpoint, toNet bool) *relayDir {
	d := &relayDir{r: r, name: name, src: src, dst: dst, toNet: toNet, dtmfQ: make(chan dtmfReq, dtmfQueueLen)}
	for d.out.ssrc == 0 {
		d.out.ssrc = rand.Uint32()
	}
	d.out.lastSeq = uint16(rand.Uint32())
	d.out.anchorTS = rand.Uint32()
	return d
}

func (d *relayDir) mapping() *dirMap {
	m := d.r.maps.Load()
	if d.toNet {
		return &m.s2n
	}
	return &m.n2s
}

func (d *relayDir) setHold(h bool) {
	if d.hold.Swap(h) && !h {
		d.resumeFlag.Store(true)
	}
}

func (d *relayDir) stats() RelayDirStats {
	c := &d.c
	return RelayDirStats{
		Packets: c.packets.Load(), Bytes: c.bytes.Load(), Dropped: c.dropped.Load(), Held: c.held.Load(),
		Transcoded: c.transcoded.Load(), DTMF: c.dtmf.Load(), Digits: c.digits.Load(),
		DigitsSent: c.digitsSent.Load(), Resyncs: c.resyncs.Load(), WriteErrors: c.writeErrors.Load(),
	}
}

// startReader starts readLoop unless it runs (pushSource's needRead).
func (d *relayDir) startReader() {
	d.dmu.Lock()
	d.startReaderLocked()
	d.dmu.Unlock()
}

// startReaderLocked starts readLoop once the relay started and until it is
// closed (Close takes d.dmu after closing r.done, so no reader is added to
// r.wg after it). Called with d.dmu held.
func (d *relayDir) startReaderLocked() {
	if !d.started || d.r.closed() {
		return
	}
	if d.reading {
		d.readAgain = true
		return
	}
	d.reading = true
	d.r.wg.Add(1)
	go d.readLoop()
}

// readLoop reads from src and forwards until src fails, the relay closes, or
// src pushes its packets itself (errPushing: startReader restarts it).
func (d *relayDir) readLoop() {
	defer d.r.wg.Done()
	for {
		if _, err := d.src.ReadRTP(&d.rp, d.rbuf[:]); err != nil {
			if errors.Is(err, errPushing) {
				d.dmu.Lock()
				again := d.readAgain && !d.r.closed()
				d.readAgain = false
				d.reading = again
				d.dmu.Unlock()
				if again {
					continue
				}
				return
			}
			if !d.r.closed() {
				d.r.log.Info("relay direction stopped", zap.String("dir", d.name), zap.Error(err))
				d.r.fail(err)
			}
			return
		}
		if d.r.closed() {
			return
		}
		d.fwdMu.Lock()
		d.forward(&d.rp, d.r.now())
		d.fwdMu.Unlock()
	}
}

// push forwards a packet the source handed over itself (pushSource).
func (d *relayDir) push(p *rtp.Packet) {
	d.fwdMu.Lock()
	if !d.r.closed() {
		d.forward(p, d.r.now())
	}
	d.fwdMu.Unlock()
}

// forward maps one source packet and writes it to dst. now is the relay
// clock in nanoseconds. It does not allocate.
func (d *relayDir) forward(p *rtp.Packet, now int64) {
	m := d.mapping()
	var outPT uint8
	isDTMF := false
	switch {
	case m.inDTMF >= 0 && p.PayloadType == uint8(m.inDTMF):
		isDTMF = true
		out, n := d.det.Feed(&p.Header, p.Payload, time.Time{}.Add(time.Duration(now)))
		for i := 0; i < n; i++ {
			d.c.digits.Add(1)
			d.r.pushDigit(out[i])
		}
		if m.outDTMF < 0 {
			d.c.dropped.Add(1)
			return
		}
		outPT = uint8(m.outDTMF)
	case p.PayloadType == m.inPT && m.audioOK:
		outPT = m.outPT
		if dg, ok := d.det.Expire(time.Time{}.Add(time.Duration(now))); ok {
			d.c.digits.Add(1)
			d.r.pushDigit(dg)
		}
	default:
		d.c.dropped.Add(1)
		return
	}
	if d.hold.Load() {
		d.c.held.Add(1)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	o := &d.out
	if d.resumeFlag.Swap(false) {
		o.resync = true
	}
	if o.playing {
		d.c.held.Add(1)
		o.resync = true
		return
	}
	switch {
	case !o.started || o.resync || p.SSRC != o.inSSRC:
		d.dropProbe()
		d.rebase(&p.Header, now, m.outRate)
	case d.jumped(&p.Header, m.outRate):
		if !d.follows(&p.Header) {
			// A single packet far out of line (e.g. delayed by more than
			// maxSeqMisorder packets): hold it back instead of re-basing on
			// it, which would shift the output for the packets that follow.
			d.dropProbe()
			d.holdProbe(p, outPT, isDTMF)
			return
		}
		// The source restarted: the held packet and this one are consecutive.
		pr := &o.probe
		pr.held = false
		d.rebase(&pr.hdr, now, m.outRate)
		d.send(m, &pr.hdr, d.pbuf[:pr.payload], pr.outPT, pr.isDTMF, now)
	default:
		d.dropProbe()
	}
	d.send(m, &p.Header, p.Payload, outPT, isDTMF, now)
}

// send maps one source packet (its header and payload) into the output
// stream and writes it to dst. Called with d.mu held.
func (d *relayDir) send(m *dirMap, h *rtp.Header, payload []byte, outPT uint8, isDTMF bool, now int64) {
	o := &d.out
	seq := h.SequenceNumber + o.seqOff
	ts := h.Timestamp + o.tsOff
	if int16(h.SequenceNumber-o.inSeq) > 0 || !o.started {
		o.inSeq, o.inTS = h.SequenceNumber, h.Timestamp
	}
	o.started = true
	if int16(seq-o.lastSeq) > 0 {
		o.lastSeq = seq
	}
	if !o.anchored || int32(ts-o.anchorTS) > 0 {
		o.anchorTS, o.anchorAt, o.anchored = ts, now, true
	}
	marker := h.Marker
	if o.marker && !isDTMF {
		marker, o.marker = true, false
	}
	d.wp.Header = rtp.Header{
		Version:        2,
		Marker:         marker,
		PayloadType:    outPT,
		SequenceNumber: seq,
		Timestamp:      ts,
		SSRC:           o.ssrc,
		CSRC:           d.wp.CSRC[:0],
		Extensions:     d.wp.Extensions[:0],
	}
	d.wp.PaddingSize = 0
	d.wp.Payload = payload
	if !isDTMF && m.xc != xcodeNone {
		var n int
		if m.xc == xcodeU2A {
			n = TranscodeUlawToAlaw(d.wbuf[:], payload)
		} else {
			n = TranscodeAlawToUlaw(d.wbuf[:], payload)
		}
		d.wp.Payload = d.wbuf[:n]
		d.c.transcoded.Add(1)
	}
	if err := d.dst.WriteRTP(&d.wp); err != nil {
		d.c.writeErrors.Add(1)
		return
	}
	d.c.packets.Add(1)
	d.c.bytes.Add(uint64(len(d.wp.Payload)))
	if isDTMF {
		d.c.dtmf.Add(1)
	}
}

// jumped reports a sequence or timestamp discontinuity of the source
// relative to the last forwarded packet: a restart without an SSRC change,
// or a single packet far out of line. Called with d.mu held.
func (d *relayDir) jumped(p *rtp.Header, rate uint32) bool {
	o := &d.out
	ds := int16(p.SequenceNumber - o.inSeq)
	if int(ds) > maxSeqJump || int(ds) < -maxSeqMisorder {
		return true
	}
	dt := int64(int32(p.Timestamp - o.inTS))
	lim := int64(rate) * maxTSJumpSecs
	return dt > lim || dt < -lim
}

// follows reports whether p is the packet right after the held probe (same
// SSRC, next sequence number, timestamp not behind it): the jump the probe
// made is sustained, the source restarted. Called with d.mu held.
func (d *relayDir) follows(p *rtp.Header) bool {
	pr := &d.out.probe
	return pr.held && p.SSRC == pr.hdr.SSRC && p.SequenceNumber == pr.hdr.SequenceNumber+1 &&
		int32(p.Timestamp-pr.hdr.Timestamp) >= 0
}

// holdProbe keeps p back as the probe. It does not allocate. Called with
// d.mu held.
func (d *relayDir) holdProbe(p *rtp.Packet, outPT uint8, isDTMF bool) {
	pr := &d.out.probe
	pr.held, pr.outPT, pr.isDTMF = true, outPT, isDTMF
	pr.hdr.SSRC, pr.hdr.SequenceNumber, pr.hdr.Timestamp, pr.hdr.Marker = p.SSRC, p.SequenceNumber, p.Timestamp, p.Marker
	pr.payload = copy(d.pbuf[:], p.Payload)
}

// dropProbe discards a held probe (counted as dropped). Called with d.mu held.
func (d *relayDir) dropProbe() {
	if d.out.probe.held {
		d.out.probe.held = false
		d.c.dropped.Add(1)
	}
}

// rebase re-anchors the mapping so that p becomes the packet after the last
// one sent: next sequence number, timestamp advanced by the wall-clock time
// since the anchor. Called with d.mu held.
func (d *relayDir) rebase(p *rtp.Header, now int64, rate uint32) {
	o := &d.out
	nextSeq := o.lastSeq + 1
	nextTS := o.tsAt(now, rate)
	if o.started {
		d.c.resyncs.Add(1)
	}
	o.seqOff = nextSeq - p.SequenceNumber
	o.tsOff = nextTS - p.Timestamp
	o.inSSRC, o.inSeq, o.inTS = p.SSRC, p.SequenceNumber, p.Timestamp
	o.resync = false
	o.marker = true
}

// tsAt is the stream timestamp for relay time now: the anchor advanced by
// the time elapsed since it was taken (the initial random timestamp before
// anything was sent).
func (o *outStream) tsAt(now int64, rate uint32) uint32 {
	if !o.anchored {
		return o.anchorTS
	}
	return o.anchorTS + elapsedTicks(now-o.anchorAt, rate)
}

// elapsedTicks converts a duration in ns to RTP clock ticks, at least 1.
func elapsedTicks(ns int64, rate uint32) uint32 {
	t := ns * int64(rate) / int64(time.Second)
	if t < 1 {
		t = 1
	}
	return uint32(t)
}

// queueDTMF validates and queues an injected digit.
func (d *relayDir) queueDTMF(digit rune, dur time.Duration) error {
	if _, ok := DigitToEvent(digit); !ok {
		return newError(ErrInvalidConfig, 400, "%q is not a DTMF digit", digit)
	}
	if d.mapping().outDTMF < 0 {
		return ErrNoDTMF
	}
	if d.r.closed() {
		return ErrRelayClosed
	}
	select {
	case d.dtmfQ <- dtmfReq{digit, dur}:
	default:
		return ErrDTMFQueueFull
	}
	d.dmu.Lock()
	d.startDTMFLocked()
	d.dmu.Unlock()
	return nil
}

// startDTMFLocked starts the DTMF sender when digits wait, the relay has
// started and is not closed, and none runs. Called with d.dmu held; Close
// takes d.dmu after closing r.done, so no sender is added to r.wg after it.
func (d *relayDir) startDTMFLocked() {
	if d.dtmfRunning || !d.started || len(d.dtmfQ) == 0 || d.r.closed() {
		return
	}
	d.dtmfRunning = true
	d.r.wg.Add(1)
	go d.dtmfLoop()
}

// dtmfLoop sends queued digits, paced in real time, until the queue is empty
// or the relay closes.
func (d *relayDir) dtmfLoop() {
	defer d.r.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	pkts := make([]DTMFPacket, 0, 64)
	var pkt rtp.Packet
	for {
		var req dtmfReq
		select {
		case <-d.r.done:
			return
		case req = <-d.dtmfQ:
		default:
			d.dmu.Lock()
			if len(d.dtmfQ) == 0 {
				d.dtmfRunning = false
				d.dmu.Unlock()
				return
			}
			d.dmu.Unlock()
			continue
		}
		m := d.mapping()
		if m.outDTMF < 0 {
			continue
		}
		start := time.Now()
		d.mu.Lock()
		o := &d.out
		now := d.r.now()
		ts := o.tsAt(now, m.outDTMFRate)
		o.anchorTS, o.anchorAt, o.anchored = ts, now, true
		o.playing = true
		d.mu.Unlock()
		gen := DTMFGenerator{ClockRate: m.outDTMFRate}
		var err error
		pkts, err = gen.Generate(pkts[:0], req.digit, req.dur, ts)
		if err == nil {
			d.c.digitsSent.Add(1)
		}
		for i := range pkts {
			if wait := time.Until(start.Add(pkts[i].At)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-d.r.done:
					d.endPlaying()
					return
				case <-timer.C:
				}
			}
			d.mu.Lock()
			o.lastSeq++
			o.started = true
			pkts[i].Fill(&pkt, uint8(m.outDTMF), o.lastSeq, o.ssrc)
			if werr := d.dst.WriteRTP(&pkt); werr != nil {
				d.c.writeErrors.Add(1)
			} else {
				d.c.packets.Add(1)
				d.c.dtmf.Add(1)
				d.c.bytes.Add(uint64(len(pkt.Payload)))
			}
			if i == len(pkts)-1 {
				// Forwarding resumes, re-anchored, right after the last end packet.
				o.playing, o.resync = false, true
			}
			d.mu.Unlock()
		}
		if len(pkts) == 0 {
			d.endPlaying()
		}
	}
}

// endPlaying ends an injected digit: forwarding resumes re-anchored.
func (d *relayDir) endPlaying() {
	d.mu.Lock()
	d.out.playing = false
	d.out.resync = true
	d.mu.Unlock()
}
