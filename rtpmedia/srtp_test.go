package rtpmedia

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// srtpPair returns two SRTP legs wired to each other with matching keys.
func srtpPair(t testing.TB, suite string, mod func(*LegConfig)) (a, b *Leg, ka, kb *SRTPKeys) {
	t.Helper()
	ca, err := NewCrypto(1, suite)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := NewCrypto(1, suite)
	if err != nil {
		t.Fatal(err)
	}
	ka = &SRTPKeys{Suite: ca.Suite, Local: ca.Key, Remote: cb.Key}
	kb = &SRTPKeys{Suite: ca.Suite, Local: cb.Key, Remote: ca.Key}
	a = newTestLeg(t, func(c *LegConfig) {
		c.SRTP = ka
		if mod != nil {
			mod(c)
		}
	})
	b = newTestLeg(t, func(c *LegConfig) {
		c.SRTP = kb
		if mod != nil {
			mod(c)
		}
	})
	a.SetRemote(b.LocalAddr())
	b.SetRemote(a.LocalAddr())
	return a, b, ka, kb
}

func markedPacket(seq uint16) *rtp.Packet {
	pl := make([]byte, 160)
	for i := range pl {
		pl[i] = byte(seq) ^ byte(i)
	}
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x5e5e}, Payload: pl}
}

// TestLegSRTPExchange: both suites carry RTP both ways; what arrives is the plain packet.
func TestLegSRTPExchange(t *testing.T) {
	for _, suite := range []string{SuiteAES128SHA1_80, SuiteAES128SHA1_32} {
		t.Run(suite, func(t *testing.T) {
			a, b, _, _ := srtpPair(t, suite, nil)
			var rp rtp.Packet
			buf := make([]byte, 1500)
			for seq := uint16(65530); seq != 6; seq++ { // across the sequence wrap (ROC 0 → 1)
				for _, dir := range [][2]*Leg{{a, b}, {b, a}} {
					want := markedPacket(seq)
					if err := dir[0].WriteRTP(want); err != nil {
						t.Fatal(err)
					}
					n, err := dir[1].ReadRTP(&rp, buf)
					if err != nil {
						t.Fatal(err)
					}
					tag := 10
					if suite == SuiteAES128SHA1_32 {
						tag = 4
					}
					if n != 12+160+tag || rp.SequenceNumber != seq || !bytes.Equal(rp.Payload, want.Payload) {
						t.Fatalf("seq %d: n=%d got seq %d, payload equal %v", seq, n, rp.SequenceNumber, bytes.Equal(rp.Payload, want.Payload))
					}
				}
			}
			if s := b.Stats(); s.PacketsIn != 12 || s.SRTPFailed != 0 || s.Dropped != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// TestLegSRTPOnTheWire: the datagrams are SRTP: plain header, payload not the plain
// payload, an auth tag that verifies with the key and not with another.
func TestLegSRTPOnTheWire(t *testing.T) {
	a, _, ka, _ := srtpPair(t, "", nil)
	wire := udpPeer(t)
	a.SetRemote(addrOf(wire))
	want := markedPacket(100)
	if err := a.WriteRTP(want); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = wire.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := wire.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	var h rtp.Header
	hl, err := h.Unmarshal(buf[:n])
	if err != nil || h.SequenceNumber != 100 || h.SSRC != 0x5e5e {
		t.Fatalf("header %+v %v", h, err)
	}
	if n != hl+160+10 {
		t.Fatalf("%d bytes on the wire, want header %d + payload 160 + 80-bit tag", n, hl)
	}
	if bytes.Equal(buf[hl:hl+160], want.Payload) || bytes.Contains(buf[:n], want.Payload[:16]) {
		t.Fatal("payload travels in clear")
	}
	dec, err := srtp.CreateContext(ka.Local[:16], ka.Local[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := dec.DecryptRTP(nil, buf[:n], nil)
	if err != nil || !bytes.Equal(plain[hl:], want.Payload) {
		t.Fatalf("pion with the offered key: %v", err)
	}
	other, _ := NewCrypto(1, "")
	bad, _ := srtp.CreateContext(other.Key[:16], other.Key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if _, err := bad.DecryptRTP(nil, buf[:n], nil); !errors.Is(err, srtp.ErrFailedToVerifyAuthTag) {
		t.Fatalf("another key verified the tag: %v", err)
	}
}

// TestLegSRTPRejectsForgery: plain RTP, packets with a wrong key and replays are
// dropped, counted, and never latch; the real peer still gets through.
func TestLegSRTPRejectsForgery(t *testing.T) {
	a, b, _, _ := srtpPair(t, "", nil)
	attacker := udpPeer(t)
	ch := readAsync(b)
	send := func(p []byte) {
		if _, err := attacker.WriteToUDPAddrPort(p, b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	send(rtpBytes(t, 1, 160, 0x5e5e, 0)) // plain RTP
	other, _ := NewCrypto(1, "")
	forge, _ := srtp.CreateContext(other.Key[:16], other.Key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	fp, err := forge.EncryptRTP(nil, rtpBytes(t, 2, 320, 0x5e5e, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	send(fp)
	eventually(t, "two SRTP failures", func() bool { return b.Stats().SRTPFailed == 2 })
	if err := a.WriteRTP(markedPacket(3)); err != nil {
		t.Fatal(err)
	}
	r := waitRead(t, ch)
	if r.err != nil || r.p.SequenceNumber != 3 {
		t.Fatalf("read %+v %v", r.p.Header, r.err)
	}
	st := b.Stats()
	if st.Latched != a.LocalAddr() || st.PacketsIn != 1 || st.Dropped != 2 {
		t.Fatalf("latched %v in %d dropped %d: forged packets counted or latched", st.Latched, st.PacketsIn, st.Dropped)
	}

	// A replay of a's genuine packet is dropped too.
	wire := udpPeer(t)
	a.SetRemote(addrOf(wire))
	if err := a.WriteRTP(markedPacket(4)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = wire.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := wire.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	ch = readAsync(b)
	for i := 0; i < 2; i++ { // from a's address: the latched source
		if _, err := a.rtpConn.WriteToUDPAddrPort(buf[:n], b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if r := waitRead(t, ch); r.err != nil || r.p.SequenceNumber != 4 {
		t.Fatalf("genuine packet: %+v %v", r.p.Header, r.err)
	}
	ch = readAsync(b) // reads (and drops) the replay; returns at Close
	eventually(t, "the replay dropped", func() bool { return b.Stats().SRTPFailed == 3 })
	_ = b.Close()
	if r := waitRead(t, ch); r.err == nil {
		t.Fatalf("the replay was delivered: seq %d", r.p.SequenceNumber)
	}
}

// TestLegSRTCP: RTCP reports travel as SRTCP and are understood (RTT, reports).
func TestLegSRTCP(t *testing.T) {
	a, b, _, _ := srtpPair(t, "", func(c *LegConfig) { c.RTCPInterval = 50 * time.Millisecond })
	ch := readAsync(b)
	if err := a.WriteRTP(markedPacket(1)); err != nil {
		t.Fatal(err)
	}
	waitRead(t, ch)
	eventually(t, "SRTCP both ways", func() bool {
		return a.Stats().RTCPIn >= 2 && b.Stats().RTCPIn >= 2
	})
	if s := a.Stats(); s.SRTPFailed != 0 || s.Dropped != 0 {
		t.Fatalf("a stats %+v", s)
	}
}

// TestLegSRTCPOnTheWire: what leaves the RTCP socket is SRTCP (encrypted, E flag,
// index, tag) that pion decrypts with our key into the RR + SDES we sent.
func TestLegSRTCPOnTheWire(t *testing.T) {
	k, _ := NewCrypto(1, "")
	peer, _ := NewCrypto(1, "")
	rtpPeer, rtcpPeer := udpPeer(t), udpPeer(t)
	a := newTestLeg(t, func(c *LegConfig) {
		c.SRTP = &SRTPKeys{Suite: k.Suite, Local: k.Key, Remote: peer.Key}
		c.RTCPInterval = 20 * time.Millisecond
		c.Remote, c.RemoteRTCP = addrOf(rtpPeer), addrOf(rtcpPeer)
		c.CNAME = "srtcp-cname"
	})
	buf := make([]byte, 1500)
	_ = rtcpPeer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := rtcpPeer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf[:n], []byte("srtcp-cname")) {
		t.Fatal("CNAME travels in clear: RTCP not encrypted")
	}
	if n < 8+4+10 || buf[n-14]&0x80 == 0 {
		t.Fatalf("%d bytes, E flag %x: not SRTCP", n, buf[n-14])
	}
	dec, _ := srtp.CreateContext(k.Key[:16], k.Key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	plain, err := dec.DecryptRTCP(nil, buf[:n], nil)
	if err != nil || !bytes.Contains(plain, []byte("srtcp-cname")) {
		t.Fatalf("decrypt SRTCP: %v", err)
	}
	_ = a
}

// TestLegSetSRTP: repeating the same keys keeps the contexts (the rollover counter
// survives: a fresh receive context would guess ROC 0 after the wrap and fail every
// packet); a new key takes effect at once; nil goes back to plain RTP.
func TestLegSetSRTP(t *testing.T) {
	a, b, ka, kb := srtpPair(t, "", nil)
	var rp rtp.Packet
	buf := make([]byte, 1500)
	pass := func(from, to *Leg, seq uint16) {
		t.Helper()
		if err := from.WriteRTP(markedPacket(seq)); err != nil {
			t.Fatal(err)
		}
		if _, err := to.ReadRTP(&rp, buf); err != nil || rp.SequenceNumber != seq {
			t.Fatalf("seq %d: got %d, %v (SRTP failures %d)", seq, rp.SequenceNumber, err, to.Stats().SRTPFailed)
		}
	}
	for seq := uint16(65533); seq != 3; seq++ {
		pass(a, b, seq)
	}
	before := b.srtp.Load()
	if err := b.SetSRTP(&SRTPKeys{Suite: kb.Suite, Local: bytes.Clone(kb.Local), Remote: bytes.Clone(kb.Remote)}); err != nil {
		t.Fatal(err)
	}
	if after := b.srtp.Load(); after == before || after.rxRTP != before.rxRTP || after.txRTP != before.txRTP {
		t.Fatal("same keys: contexts replaced")
	}
	pass(a, b, 3) // ROC 1 still known to b

	// a rekeys its sending side (a re-INVITE with a new a=crypto); b learns it.
	nk, _ := NewCrypto(1, "")
	if err := a.SetSRTP(&SRTPKeys{Suite: ka.Suite, Local: nk.Key, Remote: ka.Remote}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetSRTP(&SRTPKeys{Suite: kb.Suite, Local: kb.Local, Remote: nk.Key}); err != nil {
		t.Fatal(err)
	}
	pass(a, b, 10)
	pass(b, a, 11) // b's sending key unchanged
	if got := b.SRTP(); got == nil || !bytes.Equal(got.Remote, nk.Key) {
		t.Fatalf("SRTP() = %+v", got)
	}

	if err := a.SetSRTP(nil); err != nil {
		t.Fatal(err)
	}
	if err := b.SetSRTP(nil); err != nil {
		t.Fatal(err)
	}
	pass(a, b, 12)
	if n := b.Stats().SRTPFailed; n != 0 {
		t.Fatalf("%d SRTP failures", n)
	}
	for _, bad := range []*SRTPKeys{
		{Suite: "AES_256_CM_HMAC_SHA1_80", Local: ka.Local, Remote: ka.Remote},
		{Suite: SuiteAES128SHA1_80, Local: ka.Local[:10], Remote: ka.Remote},
	} {
		if err := a.SetSRTP(bad); !errors.Is(err, ErrSRTP) {
			t.Errorf("SetSRTP(%s, %d bytes) = %v, want ErrSRTP", bad.Suite, len(bad.Local), err)
		}
	}
}
