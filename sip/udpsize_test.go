package sip

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// recordRoutes are n long Record-Route header lines (what a chain of proxies adds).
func recordRoutes(n int, host string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("Record-Route: <sip:%s;lr;ftag=f%d;did=rr%d-%s>", host, i, i, strings.Repeat("x", 90))
	}
	return out
}

// TestSippLargeResponseUDP: an INVITE over UDP with 8 Record-Route entries
// makes our 180 and 200 (which echo them) larger than 1300 bytes. They must
// still be sent over UDP (RFC 3261 §18.2.2) and the call completes. Before the
// fix sipgo refused to write them ("size of packet larger than MTU"): sipp got
// no 200 and the call was lost after the application had answered it.
func TestSippLargeResponseUDP(t *testing.T) {
	forTransports(t, func(t *testing.T, network string) {
		r := sippCall(t, trunkLoopback, "uac_record_route.xml", network, "", false, sippOpts{})
		if r.answerErr != nil || !r.byeSeen {
			t.Fatalf("bad call result %v", r)
		}
	})
}

// TestLargeResponseUDPSize checks the size of such a 200 over a raw socket, so
// that TestSippLargeResponseUDP is known to exercise a response over 1300 bytes.
func TestLargeResponseUDPSize(t *testing.T) {
	s := newTestServer(t, trunkLoopback)
	app := &controlledApp{dialogs: make(chan *Dialog, 1)}
	s.SetHandler(app)
	u := newRawUA(t, s.Addr("udp"))
	u.send(u.req("INVITE", "big200", "ft", "", 1, rawSDP("sendrecv"), recordRoutes(8, u.local())...))
	res := u.expect(200)
	if n := len(res.String()); n <= 1300 {
		t.Fatalf("200 is %d bytes, want > 1300", n)
	}
	if got := len(res.GetHeaders("Record-Route")); got != 8 {
		t.Fatalf("200 has %d Record-Route, want 8", got)
	}
	tag, _ := res.To().Params.Get("tag")
	u.send(u.req("ACK", "big200", "ft", tag, 1, ""))
	var d *Dialog
	select {
	case d = <-app.dialogs: // Answer returned: the ACK arrived
	case <-time.After(10 * time.Second):
		t.Fatal("call not established")
	}
	u.send(u.req("BYE", "big200", "ft", tag, 2, ""))
	u.expect(200)
	select {
	case <-d.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("dialog not ended by BYE")
	}
}

// bigOffer is an SDP offer of more than 1300 bytes (many attributes).
func bigOffer() []byte {
	b := appSDP(40020, SendRecv, 1)
	for i := 0; len(b) < 1500; i++ {
		b = append(b, fmt.Sprintf("a=x-pad%d:%s\r\n", i, strings.Repeat("p", 60))...)
	}
	return b
}

// acceptSIP accepts TCP connections on ln and sends every SIP message read on
// them, with the connection it came on.
type tcpMsg struct {
	msg  sip.Message
	conn net.Conn
}

func acceptSIP(t *testing.T, ln net.Listener) <-chan tcpMsg {
	out := make(chan tcpMsg, 16)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				par := sip.NewParser().NewSIPStream()
				buf := make([]byte, 65535)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					_ = par.ParseSIPStream(buf[:n], func(m sip.Message) {
						select {
						case out <- tcpMsg{m, c}:
						default: // nobody reads any more
						}
					})
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return out
}

// TestLargeRequestOverTCP: a request over 1300 bytes that would go over UDP
// goes over TCP (RFC 3261 §18.1.1) with its Via saying so, unless the target
// says transport=udp; when the target refuses the TCP connection it goes over
// UDP after all. Small requests stay on UDP.
func TestLargeRequestOverTCP(t *testing.T) {
	s := newTestServer(t, nil)
	cases := []struct {
		name     string
		offer    []byte
		uriParam string
		noTCP    bool // nothing listens on TCP at the target
		overTCP  bool
	}{
		{"large goes over TCP", bigOffer(), "", false, true},
		{"small stays on UDP", appSDP(40020, SendRecv, 1), "", false, false},
		{"transport=udp keeps UDP", bigOffer(), ";transport=udp", false, false},
		{"TCP refused falls back to UDP", bigOffer(), "", true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port := freePort(t)
			pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			udp := &rawUA{t: t, conn: pc, srv: s.Addr("udp")}
			var tcpIn <-chan tcpMsg
			if !c.noTCP {
				ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					t.Fatal(err)
				}
				tcpIn = acceptSIP(t, ln)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			oc, err := s.Dial(ctx, DialRequest{From: "sip:2000@ynagw", Offer: c.offer,
				Targets: []Target{{URI: fmt.Sprintf("sip:phone@127.0.0.1:%d%s", port, c.uriParam)}}})
			if err != nil {
				t.Fatal(err)
			}
			if c.overTCP {
				select {
				case m := <-tcpIn:
					inv, ok := m.msg.(*sip.Request)
					if !ok || !inv.IsInvite() {
						t.Fatalf("over TCP: %v", m.msg)
					}
					if v := inv.Via(); v.Transport != "TCP" || v.Port != int(s.Addr("tcp").Port()) {
						t.Errorf("Via %s, want TCP and our TCP port %d", v, s.Addr("tcp").Port())
					}
					res := sip.NewResponseFromRequest(inv, 486, "Busy Here", nil)
					if _, err := m.conn.Write([]byte(res.String())); err != nil {
						t.Fatal(err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("no INVITE over TCP")
				}
			} else {
				inv := udp.expectRequest("INVITE")
				if v := inv.Via(); v.Transport != "UDP" {
					t.Errorf("Via %s, want UDP", v)
				}
				udp.reply(inv, 486, "")
				select {
				case m := <-tcpIn:
					t.Errorf("unexpected over TCP: %v", m.msg)
				default:
				}
			}
			var failed *FailedEvent
			for ev := range oc.Events() {
				if f, ok := ev.(*FailedEvent); ok {
					failed = f
				}
			}
			if failed == nil || failed.Code != 486 {
				t.Fatalf("fork result %+v, want 486", failed)
			}
		})
	}
}
