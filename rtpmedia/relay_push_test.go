package rtpmedia

import (
	"errors"
	"testing"
	"time"
)

// relayReading reports whether the relay direction's reader goroutine runs.
func relayReading(d *relayDir) bool {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	return d.reading
}

// TestRelayNoReaderOnFastPath: while the network leg's fast path pushes every
// received packet, the relay runs no reader goroutine for that direction (it
// only waited in ReadRTP: one goroutine per call, issue 12). When the leg
// leaves the fast path the reader comes back and media from the network
// still reaches the phone; when the leg ends, the relay reports it.
func TestRelayNoReaderOnFastPath(t *testing.T) {
	phone := udpPeer(t)
	sipLeg := newTestLeg(t, func(c *LegConfig) { c.Remote = addrOf(phone) })
	e := newTestEngine(t, nil)
	l := newTestWebRTCLeg(t, e, []Codec{pcmu})
	p := newNetPeer(t, []Codec{pcmu})
	connectOutbound(t, l, p)
	waitChan(t, p.connected, "peer connected")
	if l.fast.Load() == nil {
		t.Fatal("fast path off after connecting")
	}
	r := NewRelay(sipLeg, l, RelayConfig{SIPCodec: pcmu, NetCodec: l.Codec(), Logger: l.log})
	r.Start()
	defer func() { _ = sipLeg.Close(); _ = l.Close(); _ = r.Close() }()

	recvPhone := func(what string) {
		t.Helper()
		buf := make([]byte, 1500)
		_ = phone.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := phone.Read(buf); err != nil {
			t.Fatalf("%s: phone got nothing: %v", what, err)
		}
	}
	p.sendAudio(0, 1, 1)
	recvPhone("fast path")
	eventuallyTrue(t, "net→sip reader stopped on the fast path", func() bool { return !relayReading(r.n2s) })
	if !relayReading(r.s2n) {
		t.Error("sip→net reader not running")
	}
	if n, err := l.ReadRTP(&r.n2s.rp, r.n2s.rbuf[:]); !errors.Is(err, errPushing) {
		t.Errorf("ReadRTP on the fast path = %d, %v; want errPushing", n, err)
	}

	// Off the fast path (ICE moved to another pair): pion's path, read by the relay again.
	pair, err := l.dtls.ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatal(err)
	}
	moved, remote := *pair, *pair.Remote
	remote.Port++
	moved.Remote = &remote
	l.onPairChange(&moved)
	if !relayReading(r.n2s) {
		t.Fatal("net→sip reader did not restart when the leg left the fast path")
	}
	before := r.Stats().NetToSIP.Packets
	p.sendAudio(0, 3, 2)
	eventuallyTrue(t, "packets relayed on pion's path", func() bool { return r.Stats().NetToSIP.Packets >= before+3 })

	// The network leg ends: the relay says so.
	_ = l.Close()
	waitChan(t, r.Done(), "relay Done after the network leg closed")
	if !errors.Is(r.Err(), ErrWebRTCClosed) {
		t.Errorf("relay Err = %v, want ErrWebRTCClosed", r.Err())
	}
}
