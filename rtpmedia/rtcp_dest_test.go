package rtpmedia

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestLegRTCPGoesToRTPPortPlusOne explains the "stray packets" of the load
// harness (issue 12): a peer whose SDP has neither a=rtcp nor a=rtcp-mux gets
// our RTCP on its RTP port + 1 (RFC 3550 §11, RFC 4566 §5.14 / RFC 3605), even
// when it never sends RTCP itself. relaybench's plain party binds only its
// RTP port (kernel-chosen); when another call's plain party happens to own
// port + 1, that call receives our reports and counts them as stray. That is
// the RFC behaviour and stays; the test pins it: the reports reach port + 1,
// never the RTP port, and a peer that declares a=rtcp-mux gets them on its
// RTP port.
func TestLegRTCPGoesToRTPPortPlusOne(t *testing.T) {
	rtpSock, plusOne := udpPairPlusOne(t)
	l := newTestLeg(t, func(c *LegConfig) {
		c.RTCPInterval = 20 * time.Millisecond
		c.Remote = addrOf(rtpSock)
	})
	done := drain(l)
	defer func() { _ = l.Close(); <-done }()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0xabc}, Payload: make([]byte, 160)}
	if err := l.WriteRTP(&p); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	// port + 1 (the "other call") gets an RTCP report.
	_ = plusOne.SetReadDeadline(time.Now().Add(testTimeout))
	n, _, err := plusOne.ReadFromUDPAddrPort(buf)
	if err != nil || !isRTCP(buf[:n]) {
		t.Fatalf("port+1: %d bytes %v, want an RTCP report", n, err)
	}
	// The RTP port gets the RTP packet and nothing else, across several report intervals.
	_ = rtpSock.SetReadDeadline(time.Now().Add(testTimeout))
	if n, _, err = rtpSock.ReadFromUDPAddrPort(buf); err != nil || isRTCP(buf[:n]) {
		t.Fatalf("RTP port: first datagram %d bytes %v, want our RTP packet", n, err)
	}
	before := l.Stats().RTCPOut
	eventually(t, "three more reports", func() bool { return l.Stats().RTCPOut >= before+3 })
	_ = rtpSock.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _, err := rtpSock.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("RTP port received %d more bytes (RTCP %v) without rtcp-mux", n, isRTCP(buf[:n]))
	}

	// With rtcp-mux the reports go to the RTP port.
	muxPeer := udpPeer(t)
	m := newTestLeg(t, func(c *LegConfig) {
		c.RTCPInterval = 20 * time.Millisecond
		c.RTCPMux = true
		c.Remote = addrOf(muxPeer)
	})
	mdone := drain(m)
	defer func() { _ = m.Close(); <-mdone }()
	_ = muxPeer.SetReadDeadline(time.Now().Add(testTimeout))
	if n, _, err := muxPeer.ReadFromUDPAddrPort(buf); err != nil || !isRTCP(buf[:n]) {
		t.Fatalf("rtcp-mux peer: %d bytes %v, want an RTCP report", n, err)
	}
}

// udpPairPlusOne binds a loopback socket on some port P and a second on P+1.
func udpPairPlusOne(t *testing.T) (*net.UDPConn, *net.UDPConn) {
	t.Helper()
	for i := 0; i < 100; i++ {
		a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		ap := a.LocalAddr().(*net.UDPAddr).AddrPort()
		if ap.Port() < 65535 {
			b, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr(), ap.Port()+1)))
			if err == nil {
				t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
				return a, b
			}
		}
		_ = a.Close()
	}
	t.Fatal("no free port pair")
	return nil, nil
}
