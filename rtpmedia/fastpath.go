package rtpmedia

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"
)

// The SRTP fast path. pion reads every ICE UDP socket through a fastConn: the
// one socket of the ICE UDP mux, or each leg's own host-candidate socket
// (the engine gives pion a transport.Net whose ListenUDP wraps them). Once a
// leg's DTLS handshake is
// done, fastConn knows its SRTP keys (from the master secret pion's key log
// writer reports and the hello randoms read off the wire: the RFC 5705
// exporter "EXTRACTOR-dtls_srtp", RFC 5764 §4.2) and the ICE-selected remote
// address, and from then on:
//   - received SRTP from that address is authenticated and decrypted by the
//     goroutine that reads the socket and handed straight to the relay (no
//     packet buffers, no goroutine hand-offs inside pion);
//   - RTP the relay writes is encrypted in the relay's goroutine and sent on
//     the shared socket.
//
// STUN, DTLS and SRTCP still go to pion, which keeps ICE (consent), DTLS and
// RTCP. A packet the fast path cannot authenticate is handed to pion as
// before, so wrong keys cost a fallback, not media.

// fastEngine is the fast path state an engine shares: the DTLS key log, the
// wrapped sockets by local port, counters.
type fastEngine struct {
	log *zap.Logger

	mu      sync.Mutex
	secrets map[[32]byte]keyLogEntry // master secrets by client random
	conns   map[uint16][]*fastConn   // by local port

	fastIn, fallbackIn atomic.Uint64
}

// fastConn wraps one ICE UDP socket pion reads and writes.
type fastConn struct {
	*net.UDPConn
	fe    *fastEngine
	local netip.AddrPort

	mu     sync.Mutex
	hellos map[netip.AddrPort]*dtlsHello // by remote address

	legsMu sync.Mutex
	legs   atomic.Pointer[map[netip.AddrPort]*fastLeg] // copy on write

	closeOnce sync.Once

	// Reader-owned (pion reads a socket from one goroutine).
	dec   [maxPacketSize]byte
	rhdr  rtp.Header
	rpkt  rtp.Packet
	rchdr rtcp.Header
}

// helloTTL bounds how long hellos and secrets of a handshake that never
// became a fast leg are kept.
const helloTTL = time.Minute

type dtlsHello struct {
	clientRandom, serverRandom [32]byte
	haveClient, haveServer     bool
	weAreClient                bool
	suite                      uint16 // TLS cipher suite of the ServerHello
	profile                    uint16 // use_srtp profile of the ServerHello (0 = unknown)
	at                         time.Time
}

type keyLogEntry struct {
	secret []byte
	at     time.Time
}

// fastLeg is the fast path state of one established leg.
type fastLeg struct {
	conn   *fastConn
	leg    *WebRTCLeg
	remote netip.AddrPort
	rx     *srtp.Context // reader goroutine only
	tx     *srtp.Context // under leg.wmu
	fails  atomic.Uint32 // consecutive authentication failures
}

// maxFastFails: after this many consecutive packets that do not authenticate,
// the leg's received packets go back to pion for good.
const maxFastFails = 64

func newFastEngine(log *zap.Logger) *fastEngine {
	return &fastEngine{log: log, secrets: map[[32]byte]keyLogEntry{}, conns: map[uint16][]*fastConn{}}
}

// wrap puts c on the fast path; the fastConn's Close unregisters it.
func (fe *fastEngine) wrap(c *net.UDPConn) *fastConn {
	fc := &fastConn{UDPConn: c, fe: fe, hellos: map[netip.AddrPort]*dtlsHello{}}
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		fc.local = unmapAP(ua.AddrPort())
	}
	fe.mu.Lock()
	fe.conns[fc.local.Port()] = append(fe.conns[fc.local.Port()], fc)
	fe.mu.Unlock()
	return fc
}

// connFor returns the wrapped socket with local address local (a socket bound
// to the unspecified address matches any address of its port).
func (fe *fastEngine) connFor(local netip.AddrPort) *fastConn {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	for _, fc := range fe.conns[local.Port()] {
		if fc.local.Addr() == local.Addr() || fc.local.Addr().IsUnspecified() {
			return fc
		}
	}
	return nil
}

// Close unregisters and closes the socket.
func (f *fastConn) Close() error {
	f.closeOnce.Do(func() {
		fe := f.fe
		fe.mu.Lock()
		list := fe.conns[f.local.Port()]
		for i, fc := range list {
			if fc == f {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(fe.conns, f.local.Port())
		} else {
			fe.conns[f.local.Port()] = list
		}
		fe.mu.Unlock()
	})
	return f.UDPConn.Close()
}

// fastNet is the transport.Net pion gathers host candidates with: standard
// sockets, wrapped for the fast path.
type fastNet struct {
	*stdnet.Net
	fe *fastEngine
}

// ListenUDP implements transport.Net.
func (n *fastNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return n.fe.wrap(c), nil
}

// ReadFromAddrPort is what pion's UDP mux reads with (ice.AddrPortReaderWriter).
// Packets the fast path takes are not returned.
func (f *fastConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, src, err := f.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil {
			return n, src, err
		}
		src = unmapAP(src)
		pkt := b[:n]
		switch {
		case n >= 12 && pkt[0]&0xc0 == 0x80 && !isRTCP(pkt):
			if m := f.legs.Load(); m != nil {
				if fl := (*m)[src]; fl != nil && f.deliver(fl, pkt) {
					continue
				}
			}
			f.fe.fallbackIn.Add(1)
		case n >= 8 && pkt[0]&0xc0 == 0x80:
			if m := f.legs.Load(); m != nil {
				if fl := (*m)[src]; fl != nil && f.deliverRTCP(fl, pkt) {
					continue
				}
			}
		case n > 13 && pkt[0] == 22:
			f.sniff(pkt, src, false)
		}
		return n, src, nil
	}
}

// ReadFrom serves readers that do not use ReadFromAddrPort.
func (f *fastConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, src, err := f.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(src), nil
}

// WriteToAddrPort is what pion's UDP mux writes with.
func (f *fastConn) WriteToAddrPort(b []byte, dst netip.AddrPort) (int, error) {
	if len(b) > 13 && b[0] == 22 {
		f.sniff(b, unmapAP(dst), true)
	}
	return f.UDPConn.WriteToUDPAddrPort(b, dst)
}

// WriteTo serves writers that do not use WriteToAddrPort.
func (f *fastConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok && len(b) > 13 && b[0] == 22 {
		f.sniff(b, unmapAP(ua.AddrPort()), true)
	}
	return f.UDPConn.WriteTo(b, addr)
}

// deliver decrypts one SRTP packet of an established leg and hands it to the
// leg's receiver. false: not taken (no receiver yet, or it does not
// authenticate): pion gets it unchanged.
func (f *fastConn) deliver(fl *fastLeg, pkt []byte) bool {
	l := fl.leg
	push := l.push.Load()
	if push == nil || fl.fails.Load() >= maxFastFails {
		return false
	}
	out, err := fl.rx.DecryptRTP(f.dec[:], pkt, &f.rhdr)
	if err != nil {
		if fl.fails.Add(1) == maxFastFails {
			l.log.Warn("SRTP fast path: packets do not authenticate with the derived keys; using pion's path", zap.Error(err))
			l.startDrains()
		}
		return false
	}
	fl.fails.Store(0)
	f.fe.fastIn.Add(1)
	if err := f.rpkt.Unmarshal(out); err != nil {
		l.dropped.Add(1)
		return true
	}
	if !Direction(l.dir.Load()).Receives() {
		l.dropped.Add(1)
		return true
	}
	l.remoteSSRC.Store(f.rpkt.SSRC)
	l.packetsIn.Add(1)
	l.bytesIn.Add(uint64(len(f.rpkt.Payload)))
	l.noteRecv(&f.rpkt, len(pkt))
	(*push)(&f.rpkt)
	return true
}

// deliverRTCP authenticates an SRTCP packet of an established leg and takes
// it (counted; pion's reports are off on fast-path engines and the leg's own
// reports do not use the peer's). false: pion gets it unchanged.
func (f *fastConn) deliverRTCP(fl *fastLeg, pkt []byte) bool {
	if fl.fails.Load() >= maxFastFails {
		return false
	}
	if _, err := fl.rx.DecryptRTCP(f.dec[:], pkt, &f.rchdr); err != nil {
		return false
	}
	fl.leg.rtcpIn.Add(1)
	return true
}

// sniff records the randoms, cipher suite and SRTP profile of plaintext DTLS
// ClientHello/ServerHello messages (epoch 0) in datagram b. out: we send it.
func (f *fastConn) sniff(b []byte, remote netip.AddrPort, out bool) {
	for len(b) >= 13 {
		typ, epoch, rlen := b[0], binary.BigEndian.Uint16(b[3:5]), int(binary.BigEndian.Uint16(b[11:13]))
		if len(b) < 13+rlen {
			return
		}
		rec := b[13 : 13+rlen]
		b = b[13+rlen:]
		if typ != 22 || epoch != 0 {
			continue
		}
		for len(rec) >= 12 {
			mt := rec[0]
			mlen := int(rec[1])<<16 | int(rec[2])<<8 | int(rec[3])
			foff := int(rec[6])<<16 | int(rec[7])<<8 | int(rec[8])
			flen := int(rec[9])<<16 | int(rec[10])<<8 | int(rec[11])
			if len(rec) < 12+flen {
				return
			}
			body := rec[12 : 12+flen]
			rec = rec[12+flen:]
			if foff != 0 || len(body) < 34 || (mt != 1 && mt != 2) {
				continue
			}
			f.noteHello(remote, mt == 1, out, body, flen == mlen)
		}
	}
}

func (f *fastConn) noteHello(remote netip.AddrPort, client, out bool, body []byte, whole bool) {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.hellos[remote]
	if h == nil || now.Sub(h.at) > helloTTL {
		h = &dtlsHello{}
		f.hellos[remote] = h
		if len(f.hellos) > 256 {
			for k, old := range f.hellos {
				if now.Sub(old.at) > helloTTL {
					delete(f.hellos, k)
				}
			}
		}
	}
	h.at = now
	if client {
		copy(h.clientRandom[:], body[2:34])
		h.haveClient, h.weAreClient = true, out
		return
	}
	copy(h.serverRandom[:], body[2:34])
	h.haveServer = true
	h.suite, h.profile = 0, 0
	rest := body[34:]
	if len(rest) < 1 || len(rest) < 1+int(rest[0])+3 {
		return
	}
	rest = rest[1+int(rest[0]):]
	h.suite = binary.BigEndian.Uint16(rest[:2])
	rest = rest[3:] // cipher suite, compression method
	if !whole || len(rest) < 2 {
		return
	}
	ext := rest[2:]
	if el := int(binary.BigEndian.Uint16(rest[:2])); el < len(ext) {
		ext = ext[:el]
	}
	for len(ext) >= 4 {
		et, el := binary.BigEndian.Uint16(ext[:2]), int(binary.BigEndian.Uint16(ext[2:4]))
		if len(ext) < 4+el {
			return
		}
		data := ext[4 : 4+el]
		ext = ext[4+el:]
		if et == 14 && len(data) >= 4 { // use_srtp (RFC 5764 §4.1.1): profiles<2..>, one in a ServerHello
			h.profile = binary.BigEndian.Uint16(data[2:4])
		}
	}
}

// pruneLocked drops secrets older than helloTTL. Called with fe.mu held.
func (fe *fastEngine) pruneLocked(now time.Time) {
	for k, s := range fe.secrets {
		if now.Sub(s.at) > helloTTL {
			delete(fe.secrets, k)
		}
	}
}

// Write receives pion's DTLS key log (NSS format, one "CLIENT_RANDOM <hex>
// <hex>" line per write).
func (fe *fastEngine) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte("\n")) {
		fields := bytes.Fields(line)
		if len(fields) != 3 || string(fields[0]) != "CLIENT_RANDOM" {
			continue
		}
		var cr [32]byte
		secret := make([]byte, hex.DecodedLen(len(fields[2])))
		if n, err := hex.Decode(cr[:], fields[1]); err != nil || n != 32 {
			continue
		}
		if _, err := hex.Decode(secret, fields[2]); err != nil {
			continue
		}
		now := time.Now()
		fe.mu.Lock()
		fe.secrets[cr] = keyLogEntry{secret: secret, at: now}
		if len(fe.secrets) > 256 {
			fe.pruneLocked(now)
		}
		fe.mu.Unlock()
	}
	return len(p), nil
}

var errNoFastKeys = errors.New("rtpmedia: SRTP fast path: handshake not seen")

// srtpKeysFor derives the SRTP master keys of the DTLS association with
// remote: ours (protect what we send) and theirs.
func (f *fastConn) srtpKeysFor(remote netip.AddrPort) (srtp.ProtectionProfile, []byte, []byte, error) {
	f.mu.Lock()
	h := f.hellos[remote]
	var hc dtlsHello
	if h != nil {
		hc = *h
	}
	f.mu.Unlock()
	var ok bool
	var ms keyLogEntry
	if h != nil {
		f.fe.mu.Lock()
		ms, ok = f.fe.secrets[hc.clientRandom]
		f.fe.mu.Unlock()
	}
	if h == nil || !hc.haveClient || !hc.haveServer || !ok {
		return 0, nil, nil, errNoFastKeys
	}
	return exportSRTPKeys(ms.secret, hc)
}

// exportSRTPKeys is RFC 5764 §4.2: PRF(master_secret, "EXTRACTOR-dtls_srtp",
// client_random || server_random) = client key | server key | client salt | server salt.
func exportSRTPKeys(master []byte, h dtlsHello) (srtp.ProtectionProfile, []byte, []byte, error) {
	profile := srtp.ProtectionProfile(h.profile)
	kl, err := profile.KeyLen()
	if err != nil {
		return 0, nil, nil, fmt.Errorf("rtpmedia: SRTP fast path: profile %#04x: %w", h.profile, err)
	}
	sl, err := profile.SaltLen()
	if err != nil {
		return 0, nil, nil, fmt.Errorf("rtpmedia: SRTP fast path: profile %#04x: %w", h.profile, err)
	}
	var hf func() hash.Hash = sha256.New
	switch h.suite {
	case 0xc02c, 0xc030, 0x00a9, 0xccab: // *_SHA384 suites
		hf = sha512.New384
	}
	seed := append([]byte("EXTRACTOR-dtls_srtp"), h.clientRandom[:]...)
	seed = append(seed, h.serverRandom[:]...)
	km, err := prf.PHash(master, seed, 2*(kl+sl), hf)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("rtpmedia: SRTP fast path: exporter: %w", err)
	}
	client := append(append([]byte{}, km[:kl]...), km[2*kl:2*kl+sl]...)
	server := append(append([]byte{}, km[kl:2*kl]...), km[2*kl+sl:]...)
	if h.weAreClient {
		return profile, client, server, nil
	}
	return profile, server, client, nil
}

// activate sets up the fast path of leg toward remote; an error leaves the
// leg on pion's path.
func (f *fastConn) activate(leg *WebRTCLeg, remote netip.AddrPort) (*fastLeg, error) {
	profile, local, theirs, err := f.srtpKeysFor(remote)
	if err != nil {
		return nil, err
	}
	kl, _ := profile.KeyLen()
	tx, err := srtp.CreateContext(local[:kl], local[kl:], profile)
	if err != nil {
		return nil, fmt.Errorf("rtpmedia: SRTP fast path: %w", err)
	}
	rx, err := srtp.CreateContext(theirs[:kl], theirs[kl:], profile, srtp.SRTPReplayProtection(128), srtp.SRTCPReplayProtection(64))
	if err != nil {
		return nil, fmt.Errorf("rtpmedia: SRTP fast path: %w", err)
	}
	fl := &fastLeg{conn: f, leg: leg, remote: remote, rx: rx, tx: tx}
	f.legsMu.Lock()
	defer f.legsMu.Unlock()
	next := map[netip.AddrPort]*fastLeg{}
	if m := f.legs.Load(); m != nil {
		for k, v := range *m {
			next[k] = v
		}
	}
	next[remote] = fl
	f.legs.Store(&next)
	f.mu.Lock()
	h := f.hellos[remote]
	delete(f.hellos, remote)
	f.mu.Unlock()
	if h != nil {
		f.fe.mu.Lock()
		delete(f.fe.secrets, h.clientRandom)
		f.fe.mu.Unlock()
	}
	return fl, nil
}

// deactivate removes fl (the leg closes).
func (f *fastConn) deactivate(fl *fastLeg) {
	f.legsMu.Lock()
	defer f.legsMu.Unlock()
	m := f.legs.Load()
	if m == nil || (*m)[fl.remote] != fl {
		return
	}
	next := make(map[netip.AddrPort]*fastLeg, len(*m))
	for k, v := range *m {
		if v != fl {
			next[k] = v
		}
	}
	f.legs.Store(&next)
}

// srtpMaxOverhead bounds what SRTP adds to an RTP packet (AEAD tag 16 bytes).
const srtpMaxOverhead = 32

// activateFastPath moves the leg's SRTP onto the fast path once DTLS is up:
// the keys of the handshake with the ICE-selected remote on the selected
// local socket. When the socket or the handshake is not known, the leg stays
// on pion's path.
func (l *WebRTCLeg) activateFastPath() {
	fe := l.e.fast
	if fe == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.dtls == nil || l.fast.Load() != nil {
		return
	}
	pair, err := l.dtls.ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote == nil || pair.Local == nil {
		l.log.Info("SRTP fast path off: no selected candidate pair", zap.Error(err))
		l.startDrains() // drainMu is independent of l.mu
		return
	}
	ip, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		l.log.Info("SRTP fast path off: remote candidate address", zap.Error(err))
		l.startDrains() // drainMu is independent of l.mu
		return
	}
	remote := netip.AddrPortFrom(ip.Unmap(), pair.Remote.Port)
	var f *fastConn
	if lip, err := netip.ParseAddr(pair.Local.Address); err == nil {
		f = fe.connFor(netip.AddrPortFrom(lip.Unmap(), pair.Local.Port))
	}
	if f == nil {
		l.log.Info("SRTP fast path off: the selected local socket is not a fast-path one", zap.Stringer("remote", remote))
		l.startDrains() // drainMu is independent of l.mu
		return
	}
	fl, err := f.activate(l, remote)
	if err != nil {
		l.log.Info("SRTP fast path off", zap.Stringer("remote", remote), zap.Error(err))
		l.startDrains() // drainMu is independent of l.mu
		return
	}
	l.fast.Store(fl)
	l.wakeReader() // the relay's reader can stop (errPushing)
	l.log.Debug("SRTP fast path on", zap.Stringer("remote", remote))
}

// onPairChange: when ICE selects another candidate pair than the one the fast
// path was set up on (pion follows the new pair, the fast path would not),
// the leg leaves the fast path: pion's path carries its media from then on.
func (l *WebRTCLeg) onPairChange(pair *webrtc.ICECandidatePair) {
	fl := l.fast.Load()
	if fl == nil || pair == nil || pair.Local == nil || pair.Remote == nil {
		return
	}
	rip, err1 := netip.ParseAddr(pair.Remote.Address)
	lip, err2 := netip.ParseAddr(pair.Local.Address)
	if err1 == nil && err2 == nil && netip.AddrPortFrom(rip.Unmap(), pair.Remote.Port) == fl.remote &&
		fl.conn.fe.connFor(netip.AddrPortFrom(lip.Unmap(), pair.Local.Port)) == fl.conn {
		return // the same pair
	}
	if l.fast.CompareAndSwap(fl, nil) {
		fl.conn.deactivate(fl)
		l.startDrains()
		l.log.Info("SRTP fast path off: ICE selected another candidate pair",
			zap.String("remote", pair.Remote.Address), zap.Uint16("port", pair.Remote.Port))
	}
}

// setPush registers (nil: removes) the function the fast path hands received
// packets to, from the socket's reader goroutine; p is only valid during the
// call. Without one, received packets take pion's path to ReadRTP. needRead
// is called when ReadRTP, after returning errPushing, may have packets again
// (the leg left the fast path) or the leg ended.
func (l *WebRTCLeg) setPush(fn func(p *rtp.Packet), needRead func()) {
	if fn == nil {
		l.push.Store(nil)
		l.needRead.Store(nil)
		l.wakeReader()
		return
	}
	l.needRead.Store(&needRead)
	l.push.Store(&fn)
	l.wakeReader()
}

// pushesAll reports whether every received packet goes to the registered
// push function (ReadRTP has nothing to return).
func (l *WebRTCLeg) pushesAll() bool {
	fl := l.fast.Load()
	return fl != nil && fl.fails.Load() < maxFastFails && l.push.Load() != nil
}

// wakeReader makes a ReadRTP blocked waiting for the track, or in the
// track's read, re-check pushesAll.
func (l *WebRTCLeg) wakeReader() {
	ch := make(chan struct{})
	close(*l.wake.Swap(&ch))
	if t := l.remote.Load(); t != nil {
		_ = t.SetReadDeadline(time.Now())
	}
}

// wantReader tells the relay that ReadRTP may have packets or an error again.
func (l *WebRTCLeg) wantReader() {
	if fn := l.needRead.Load(); fn != nil {
		(*fn)()
	}
}

// writeFast encrypts p (with our track's SSRC) in place and sends it to the
// selected remote on the shared socket. It does not allocate.
func (l *WebRTCLeg) writeFast(fl *fastLeg, p *rtp.Packet, ssrc uint32) error {
	l.wmu.Lock()
	l.whdr = p.Header
	l.whdr.SSRC = ssrc
	l.whdr.Padding = false
	hl, err := l.whdr.MarshalTo(l.wbuf[:maxPacketSize])
	if err == nil && hl+len(p.Payload) > maxPacketSize {
		err = errors.New("RTP packet too large")
	}
	if err == nil {
		n := hl + copy(l.wbuf[hl:maxPacketSize], p.Payload)
		var out []byte
		if out, err = fl.tx.EncryptRTP(l.wbuf[:n], l.wbuf[:n], &l.wsrtp); err == nil {
			_, err = fl.conn.UDPConn.WriteToUDPAddrPort(out, fl.remote)
		}
		if err == nil {
			l.noteSent(&l.whdr, len(p.Payload), len(out))
		}
	}
	l.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("rtpmedia: webrtc write: %w", err)
	}
	l.packetsOut.Add(1)
	l.bytesOut.Add(uint64(len(p.Payload)))
	return nil
}
