package rtpmedia

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/ynagw/ynagw/internal/testpeer"
)

// freeUDPPorts returns a port p on 127.0.0.1 such that p, p+1, ..., p+span-1
// were free a moment ago (sipp binds them itself, so there is a small race).
func freeUDPPorts(t *testing.T, span int) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		conns := []*net.UDPConn{c}
		ok := p%2 == 0 && p+span <= 65535
		for j := 1; ok && j < span; j++ {
			cj, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + j})
			if err != nil {
				ok = false
				break
			}
			conns = append(conns, cj)
		}
		for _, c := range conns {
			_ = c.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free UDP port range")
	return 0
}

// startSipp runs sipp in dir and returns a channel with its exit error. The
// process is killed at test cleanup if still running.
func startSipp(t *testing.T, dir string, args ...string) <-chan error {
	t.Helper()
	bin := testpeer.Require(t, "sipp")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var once sync.Once
	var waitErr error
	waited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		close(waited)
		done <- waitErr
	}()
	t.Cleanup(func() {
		once.Do(cancel) // kills sipp (our own child) if still running
		<-waited
		if t.Failed() {
			t.Logf("sipp output:\n%s", tail(out.String(), 3000))
		}
	})
	return done
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestLegAgainstSippRTPEcho sends RTP from a Leg to `sipp -rtp_echo` and counts the echo.
func TestLegAgainstSippRTPEcho(t *testing.T) {
	testpeer.Require(t, "sipp")
	mp := freeUDPPorts(t, 4)
	sipPort, cp := freeUDPPorts(t, 1), freeUDPPorts(t, 1)
	startSipp(t, t.TempDir(), "-sn", "uas", "-i", "127.0.0.1", "-p", fmt.Sprint(sipPort), "-cp", fmt.Sprint(cp),
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(mp), "-rtp_echo", "-m", "1", "-nostdin", "-timeout", "60s")

	remote := netip.AddrPortFrom(loopback, uint16(mp))
	l := newTestLeg(t, func(c *LegConfig) { c.Remote = remote })
	got := make(chan uint16, 1024)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		var p rtp.Packet
		buf := make([]byte, 1500)
		for {
			if _, err := l.ReadRTP(&p, buf); err != nil {
				return
			}
			got <- p.SequenceNumber
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-readerDone })

	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: 0x51bb}, Payload: bytes.Repeat([]byte{0xd5}, 160)}
	// Probe until sipp is up and echoing (it starts asynchronously).
	probe := time.NewTicker(50 * time.Millisecond)
	defer probe.Stop()
	deadline := time.After(15 * time.Second)
wait:
	for {
		p.SequenceNumber = 1
		if err := l.WriteRTP(&p); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			break wait
		case <-probe.C:
		case <-deadline:
			t.Fatal("sipp never echoed")
		}
	}
	for len(got) > 0 { // drop late probe echoes
		<-got
	}
	const n = 200
	pace := time.NewTicker(2 * time.Millisecond)
	defer pace.Stop()
	for i := 0; i < n; i++ {
		p.SequenceNumber = uint16(1000 + i)
		p.Timestamp = uint32(i * 160)
		if err := l.WriteRTP(&p); err != nil {
			t.Fatal(err)
		}
		<-pace.C
	}
	seen := map[uint16]bool{}
	deadline = time.After(10 * time.Second)
	for len(seen) < n {
		select {
		case s := <-got:
			if s >= 1000 && s < 1000+n {
				seen[s] = true
			}
		case <-deadline:
			t.Fatalf("echoed %d of %d packets", len(seen), n)
		}
	}
	st := l.Stats()
	if st.Latched != remote || st.RemoteSSRC != 0x51bb || st.PacketsOut < n {
		t.Fatalf("stats after echo: latched %v ssrc %x out %d", st.Latched, st.RemoteSSRC, st.PacketsOut)
	}
}

// TestLegReceivesSippPcapCall runs sipp's uac_pcap scenario (g711a.pcap audio
// followed by RFC 2833 digit '1' from dtmf_2833_1.pcap) against a minimal SIP
// UAS in the test whose answer comes from Answer(); a Leg receives the media
// and a DTMFDetector must report exactly one '1'.
func TestLegReceivesSippPcapCall(t *testing.T) {
	bin := testpeer.Require(t, "sipp")
	dir := t.TempDir()
	scen, err := exec.Command(bin, "-sd", "uac_pcap").Output() // exits 99 after dumping
	if !bytes.Contains(scen, []byte("play_pcap_audio")) {
		t.Fatalf("sipp -sd uac_pcap: %v\n%s", err, scen)
	}
	s := strings.ReplaceAll(string(scen), "pcap/", "/usr/share/sip-tester/")
	s = strings.Replace(s, `<pause milliseconds="8000"/>`, `<pause milliseconds="7500"/>`, 1) // g711a.pcap lasts 7.05 s
	s = strings.Replace(s, `<pause milliseconds="1000"/>`, `<pause milliseconds="500"/>`, 1)
	for _, f := range []string{"/usr/share/sip-tester/g711a.pcap", "/usr/share/sip-tester/dtmf_2833_1.pcap"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("sipp pcap %s missing: %v", f, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "uac_pcap.xml"), []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}

	l := newTestLeg(t, nil)
	uas := newMiniUAS(t, l)
	var (
		mu      sync.Mutex
		pcma    int
		digits  string
		det     DTMFDetector
		readEnd = make(chan struct{})
	)
	go func() {
		defer close(readEnd)
		var p rtp.Packet
		buf := make([]byte, 1500)
		for {
			if _, err := l.ReadRTP(&p, buf); err != nil {
				return
			}
			mu.Lock()
			switch p.PayloadType {
			case 8:
				pcma++
			case 101:
				out, n := det.Feed(&p.Header, p.Payload, time.Now())
				for _, d := range out[:n] {
					digits += string(d.Digit)
				}
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-readEnd })

	sipPort, mp, cp := freeUDPPorts(t, 1), freeUDPPorts(t, 4), freeUDPPorts(t, 1)
	done := startSipp(t, dir, "-sf", "uac_pcap.xml", uas.addr.String(), "-i", "127.0.0.1", "-p", fmt.Sprint(sipPort),
		"-cp", fmt.Sprint(cp), "-mi", "127.0.0.1", "-mp", fmt.Sprint(mp), "-m", "1", "-l", "1", "-nostdin",
		"-timeout", "60s", "-timeout_error")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sipp: %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("sipp did not finish")
	}
	if !uas.gotBye() {
		t.Fatal("mini UAS saw no BYE")
	}
	// The media is all in before the BYE; wait for the reader to catch up.
	eventually(t, "all PCMA packets", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return pcma >= 236
	})
	mu.Lock()
	defer mu.Unlock()
	if pcma != 236 {
		t.Errorf("received %d PCMA packets, want the pcap's 236", pcma)
	}
	if digits != "1" {
		t.Errorf("DTMF digits %q, want \"1\" exactly once", digits)
	}
	if st := l.Stats(); st.Latched.Port() != uint16(mp) {
		t.Errorf("latched %v, want sipp's media port %d", st.Latched, mp)
	}
}

// miniUAS answers one INVITE over UDP with Answer() for a Leg. It is just
// enough SIP for sipp's uac scenarios; the real SIP stack lives in package sip.
type miniUAS struct {
	conn *net.UDPConn
	addr netip.AddrPort
	mu   sync.Mutex
	bye  bool
	done chan struct{}
}

func newMiniUAS(t *testing.T, l *Leg) *miniUAS {
	t.Helper()
	c := udpPeer(t)
	u := &miniUAS{conn: c, addr: addrOf(c), done: make(chan struct{})}
	go u.serve(t, l)
	t.Cleanup(func() { _ = c.Close(); <-u.done })
	return u
}

func (u *miniUAS) gotBye() bool { u.mu.Lock(); defer u.mu.Unlock(); return u.bye }

func (u *miniUAS) serve(t *testing.T, l *Leg) {
	defer close(u.done)
	buf := make([]byte, 65535)
	for {
		n, src, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		head, body, _ := strings.Cut(msg, "\r\n\r\n")
		lines := strings.Split(head, "\r\n")
		method, _, _ := strings.Cut(lines[0], " ")
		hdr := func(name string) string {
			for _, ln := range lines[1:] {
				k, v, ok := strings.Cut(ln, ":")
				if ok && strings.EqualFold(strings.TrimSpace(k), name) {
					return strings.TrimSpace(v)
				}
			}
			return ""
		}
		reply := func(extra, ctype, body string) {
			to := hdr("To")
			if !strings.Contains(to, "tag=") {
				to += ";tag=ynagwtest"
			}
			var b strings.Builder
			b.WriteString("SIP/2.0 200 OK\r\n")
			for _, h := range []string{"Via", "From"} {
				b.WriteString(h + ": " + hdr(h) + "\r\n")
			}
			b.WriteString("To: " + to + "\r\nCall-ID: " + hdr("Call-ID") + "\r\nCSeq: " + hdr("CSeq") + "\r\n")
			b.WriteString(extra)
			if ctype != "" {
				b.WriteString("Content-Type: " + ctype + "\r\n")
			}
			b.WriteString(fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body))
			_, _ = u.conn.WriteToUDPAddrPort([]byte(b.String()), src)
		}
		switch method {
		case "INVITE":
			offer, err := ParseSDP([]byte(body))
			if err != nil {
				t.Errorf("sipp offer: %v", err)
				return
			}
			ans, chosen, dtmf, err := Answer(offer, OfferConfig{Addr: l.LocalAddr(), SessionID: 1, Version: 1})
			if err != nil {
				t.Errorf("answer: %v", err)
				return
			}
			if chosen.Name != "PCMA" || dtmf == nil || dtmf.PayloadType != 101 {
				t.Errorf("answer chose %v / %v", chosen, dtmf)
			}
			l.SetRemote(offer.Addr)
			reply("Contact: <sip:ynagw@"+u.addr.String()+">\r\n", "application/sdp", string(ans))
		case "BYE":
			u.mu.Lock()
			u.bye = true
			u.mu.Unlock()
			reply("", "", "")
		}
	}
}
