package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
)

// optionsSeq makes each probe's Call-ID and branch unique (a repeated branch
// would be answered from the earlier transaction).
var optionsSeq atomic.Int64

// optionsStatus sends one out-of-dialog OPTIONS to addr and returns the status line.
func optionsStatus(t *testing.T, addr string) string {
	t.Helper()
	n := optionsSeq.Add(1)
	dst, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-ready-%d;rport\r\n"+
		"From: <sip:probe@127.0.0.1>;tag=p%d\r\nTo: <sip:%s>\r\nCall-ID: ready-%d@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", dst, c.LocalAddr(), n, n, dst, n)
	if _, err := c.WriteToUDPAddrPort([]byte(msg), dst); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	for {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no answer to OPTIONS: %v", err)
		}
		line, _, _ := strings.Cut(string(buf[:k]), "\r\n")
		if !strings.HasPrefix(line, "SIP/2.0 1") {
			return line
		}
	}
}

// TestDaemonOptionsFollowReadiness (issue 13): the daemon wires its readiness into
// the SIP server, so a proxy's OPTIONS probe gets 200 from a ready daemon and 503
// once it drains (Kamailio then takes the node out of rotation); not ready (no
// line linked) is 503 too.
func TestDaemonOptionsFollowReadiness(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	d := startDaemon(t, testOptions(t, sim, t.TempDir(), testKey(t)))
	addr := d.SIPAddr("udp")
	if got := optionsStatus(t, addr); !strings.HasPrefix(got, "SIP/2.0 503") {
		t.Fatalf("OPTIONS to a daemon with no line linked: %q, want 503", got)
	}
	LinkForTest(t, d, sim)              // ready: a line linked, its channel up
	waitOptions(t, addr, "SIP/2.0 200") // the SIP server reuses a readiness answer for 0.5 s
	d.Drain(ctxT(t, 10*time.Second), 5*time.Second)
	waitOptions(t, addr, "SIP/2.0 503")
}

// waitOptions probes addr with OPTIONS every 100 ms, as a proxy does, until the
// status line starts with want (the test fails after 5 s).
func waitOptions(t *testing.T, addr, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		got := optionsStatus(t, addr)
		if strings.HasPrefix(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("OPTIONS still answered %q after 5 s, want %s", got, want)
		}
		<-tick.C
	}
}
