package kamailio

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNode answers every SIP request on a loopback UDP socket with code
// (0: stays silent), echoing Via/From/To/Call-ID/CSeq.
type fakeNode struct {
	c    *net.UDPConn
	mu   sync.Mutex
	code int
	done chan struct{}
	reqs chan string // every request but OPTIONS, as received
}

func newFakeNode(t *testing.T, code int) *fakeNode {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{c: c, code: code, done: make(chan struct{}), reqs: make(chan string, 16)}
	go n.serve()
	t.Cleanup(func() { _ = c.Close(); <-n.done })
	return n
}

func (n *fakeNode) addr() string { return n.c.LocalAddr().String() }

func (n *fakeNode) set(code int) { n.mu.Lock(); n.code = code; n.mu.Unlock() }

func (n *fakeNode) serve() {
	defer close(n.done)
	buf := make([]byte, 65535)
	for {
		k, from, err := n.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		n.mu.Lock()
		code := n.code
		n.mu.Unlock()
		if code == 0 || bytes.HasPrefix(buf[:k], []byte("SIP/2.0")) {
			continue
		}
		if !bytes.HasPrefix(buf[:k], []byte("OPTIONS ")) {
			select {
			case n.reqs <- string(buf[:k]):
			default:
			}
		}
		var res strings.Builder
		res.WriteString("SIP/2.0 " + map[int]string{200: "200 OK", 503: "503 Not Ready"}[code] + "\r\n")
		for _, l := range strings.Split(string(buf[:k]), "\r\n") {
			name, _, _ := strings.Cut(l, ":")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "via", "from", "call-id", "cseq":
				res.WriteString(l + "\r\n")
			case "to":
				res.WriteString(l + ";tag=fake\r\n")
			}
		}
		res.WriteString("Content-Length: 0\r\n\r\n")
		_, _ = n.c.WriteToUDPAddrPort([]byte(res.String()), from)
	}
}

// TestProbingTakesNodesOutAndBack: the dispatcher's OPTIONS probing marks a
// node that answers 200 active, one that is silent or answers 503 inactive,
// and brings a node back once it answers 200 again.
func TestProbingTakesNodesOutAndBack(t *testing.T) {
	up := newFakeNode(t, 200)
	silent := newFakeNode(t, 0)
	p := Start(t, Options{Nodes: []string{up.addr(), silent.addr()}})
	p.WaitNode(t, up.addr(), true, 10*time.Second)
	p.WaitNode(t, silent.addr(), false, 10*time.Second)

	start := time.Now()
	up.set(503) // draining
	p.WaitNode(t, up.addr(), false, 10*time.Second)
	t.Logf("503 node out of rotation after %v", time.Since(start).Round(100*time.Millisecond))
	silent.set(200)
	p.WaitNode(t, silent.addr(), true, 10*time.Second)
}

// TestRequireSkipsWithoutKamailio: with no kamailio binary a test skips with
// the reason instead of failing (outside CI).
func TestRequireSkipsWithoutKamailio(t *testing.T) {
	if os.Getenv("CI") != "" {
		t.Skip("in CI a missing kamailio fails the test instead")
	}
	old := Binary
	Binary = filepath.Join(t.TempDir(), "no-kamailio")
	defer func() { Binary = old }()
	skipped := false
	t.Run("missing", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Require(t)
		t.Error("Require returned without a kamailio binary")
	})
	if !skipped {
		t.Error("the test did not skip")
	}
}

// TestPreloadedRouteRemoved: a phone that names Kamailio as its outbound proxy
// in a preloaded Route reaches a node without that Route, Record-Routed.
func TestPreloadedRouteRemoved(t *testing.T) {
	node := newFakeNode(t, 200)
	p := Start(t, Options{Nodes: []string{node.addr()}})
	p.WaitNode(t, node.addr(), true, 10*time.Second)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	inv := "INVITE sip:2000@ynagw SIP/2.0\r\nVia: SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bK-preload;rport\r\n" +
		"Route: <" + p.URI() + ";lr>\r\nFrom: <sip:alice@ynagw>;tag=a\r\nTo: <sip:2000@ynagw>\r\nCall-ID: preload@127.0.0.1\r\n" +
		"CSeq: 1 INVITE\r\nContact: <sip:alice@" + c.LocalAddr().String() + ">\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.WriteToUDPAddrPort([]byte(inv), p.Addr()); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-node.reqs:
		lower := strings.ToLower(got)
		if strings.Contains(lower, "\r\nroute:") {
			t.Errorf("the node got the preloaded Route:\n%s", got)
		}
		if !strings.Contains(lower, "\r\nrecord-route: <"+strings.ToLower(p.URI())) {
			t.Errorf("the node's INVITE is not Record-Routed by Kamailio:\n%s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the INVITE did not reach the node")
	}
}
