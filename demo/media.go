package demo

import (
	"errors"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// phoneCodecs are what the demo phone offers and accepts: G.711 µ-law plus RFC 4733.
var phoneCodecs = []rtpmedia.Codec{
	{Name: "PCMU", PayloadType: 0, ClockRate: 8000},
	{Name: "telephone-event", PayloadType: 101, ClockRate: 8000, Fmtp: "0-16"},
}

// media is a phone's RTP socket: it sends a marked 440 Hz µ-law tone every 20 ms and
// counts what it receives (and how much of it carries the far end's marker).
type media struct {
	leg      *rtpmedia.Leg
	sent     atomic.Uint64
	received atomic.Uint64
	marked   atomic.Uint64
	stop     chan struct{}
	once     sync.Once
	started  atomic.Bool
	wg       sync.WaitGroup
}

func newMedia() (*media, error) {
	cfg := rtpmedia.DefaultLegConfig()
	cfg.BindIP = netip.MustParseAddr("127.0.0.1")
	cfg.RTCPInterval = -1
	l, err := rtpmedia.NewLeg(cfg)
	if err != nil {
		return nil, err
	}
	return &media{leg: l, stop: make(chan struct{})}, nil
}

// start points the socket at remote and starts sending and receiving (once).
func (m *media) start(remote netip.AddrPort) {
	m.leg.SetRemote(remote)
	if !m.started.CompareAndSwap(false, true) {
		return
	}
	m.wg.Add(2)
	go m.receive()
	go m.send()
}

func (m *media) receive() {
	defer m.wg.Done()
	var p rtp.Packet
	buf := make([]byte, 1500)
	for {
		if _, err := m.leg.ReadRTP(&p, buf); err != nil {
			if errors.Is(err, rtpmedia.ErrMediaTimeout) {
				continue
			}
			return
		}
		if p.PayloadType != 0 {
			continue
		}
		m.received.Add(1)
		if _, ok := farend.ParseMarker(p.Payload); ok {
			m.marked.Add(1)
		}
	}
}

func (m *media) send() {
	defer m.wg.Done()
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	pcm := make([]int16, 160)
	payload := make([]byte, 0, 160)
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x2010}}
	var n uint32
	for {
		select {
		case <-m.stop:
			return
		case <-tk.C:
		}
		for i := range pcm {
			ph := 2 * math.Pi * 440 * float64(int(n)*160+i) / 8000
			pcm[i] = int16(8000 * math.Sin(ph))
		}
		payload = farend.EncodeUlaw(payload[:0], pcm)
		farend.MarkPayload(payload, n)
		n++
		p.SequenceNumber++
		p.Timestamp += 160
		p.Payload = payload
		if m.leg.WriteRTP(&p) == nil {
			m.sent.Add(1)
		}
	}
}

func (m *media) offer(dir rtpmedia.Direction, version uint64) []byte {
	b, _ := rtpmedia.BuildOffer(rtpmedia.OfferConfig{Addr: m.leg.LocalAddr(), Codecs: phoneCodecs, Direction: dir,
		SessionID: 2010, Version: version})
	return b
}

func (m *media) close() {
	m.once.Do(func() {
		close(m.stop)
		_ = m.leg.Close()
		m.wg.Wait()
	})
}
