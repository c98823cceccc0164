package e2e

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A loopback packet capture for checking what really goes over the wire (e.g. that
// RTP toward a phone is SRTP): an AF_PACKET socket bound to lo, keeping the IPv4 UDP
// datagrams with a port in a given range. It needs root (CAP_NET_RAW).

// datagram is one captured UDP datagram.
type datagram struct {
	src, dst netip.AddrPort
	payload  []byte
}

type sniffer struct {
	fd     int
	lo, hi uint16
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	got    []datagram
}

// startSniffer captures UDP on lo with a source or destination port in [lo, hi] until
// the test ends. It returns nil (and says why) when raw sockets are not allowed; in CI
// (CI set) that fails the test.
func startSniffer(t *testing.T, lo, hi uint16) *sniffer {
	t.Helper()
	ifc, err := net.InterfaceByName("lo")
	if err == nil {
		var fd int
		fd, err = syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_ALL)))
		if err == nil {
			s := &sniffer{fd: fd, lo: lo, hi: hi, stop: make(chan struct{}), done: make(chan struct{})}
			tv := syscall.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
			if err = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err == nil {
				err = syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ALL), Ifindex: ifc.Index})
			}
			if err == nil {
				go s.run()
				t.Cleanup(s.close)
				return s
			}
			_ = syscall.Close(fd)
		}
	}
	if os.Getenv("CI") != "" {
		t.Errorf("loopback capture not possible (needs root): %v", err)
	} else {
		t.Logf("loopback capture not possible (needs root), wire checks skipped: %v", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *sniffer) run() {
	defer close(s.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		n, from, err := syscall.Recvfrom(s.fd, buf, 0)
		if err != nil {
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		if ll, ok := from.(*syscall.SockaddrLinklayer); ok && ll.Pkttype == syscall.PACKET_OUTGOING {
			continue // lo shows every packet twice: keep the incoming copy
		}
		if d, ok := parseUDP(buf[:n]); ok && (s.in(d.src.Port()) || s.in(d.dst.Port())) {
			s.mu.Lock()
			s.got = append(s.got, d)
			s.mu.Unlock()
		}
	}
}

func (s *sniffer) in(p uint16) bool { return p >= s.lo && p <= s.hi }

func (s *sniffer) close() {
	close(s.stop)
	<-s.done
	_ = syscall.Close(s.fd)
}

// datagrams returns what was captured so far.
func (s *sniffer) datagrams() []datagram {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]datagram(nil), s.got...)
}

// parseUDP takes an Ethernet frame (lo has a zero Ethernet header) with IPv4/UDP.
func parseUDP(f []byte) (datagram, bool) {
	if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return datagram{}, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ip[9] != 17 || ihl < 20 || len(ip) < ihl+8 {
		return datagram{}, false
	}
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if total > len(ip) || total < ihl+8 {
		return datagram{}, false
	}
	udp := ip[ihl:total]
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp[0:]))
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:]))
	return datagram{src: src, dst: dst, payload: append([]byte(nil), udp[8:]...)}, true
}
