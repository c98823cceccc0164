package sip

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// streamUA is a minimal SIP phone on one TCP or TLS connection (the way a
// phone behind NAT registers over a connection-oriented transport): every
// message it reads from the connection arrives on msgs.
type streamUA struct {
	t       *testing.T
	conn    net.Conn
	network string // "tcp" or "tls"
	msgs    chan sip.Message
	seq     atomic.Int64
}

func dialStreamUA(t *testing.T, s *Server, network string, tlsConf *tls.Config) *streamUA {
	t.Helper()
	addr := s.Addr(network).String()
	var c net.Conn
	var err error
	if network == "tls" {
		c, err = tls.Dial("tcp", addr, tlsConf)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("%s dial: %v", network, err)
	}
	return newStreamUA(t, c, network)
}

// newStreamUA reads SIP messages from c until it closes (closed on cleanup).
func newStreamUA(t *testing.T, c net.Conn, network string) *streamUA {
	u := &streamUA{t: t, conn: c, network: network, msgs: make(chan sip.Message, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(u.msgs)
		par := sip.NewParser().NewSIPStream()
		buf := make([]byte, 65535)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			_ = par.ParseSIPStream(buf[:n], func(m sip.Message) { u.msgs <- m })
		}
	}()
	t.Cleanup(func() { _ = c.Close(); <-done })
	return u
}

func (u *streamUA) send(msg string) {
	u.t.Helper()
	if _, err := u.conn.Write([]byte(msg)); err != nil {
		u.t.Fatalf("write: %v", err)
	}
}

// next returns the next message read from the connection, nil after timeout
// or when the connection closed.
func (u *streamUA) next(timeout time.Duration) sip.Message {
	select {
	case m := <-u.msgs:
		return m
	case <-time.After(timeout):
		return nil
	}
}

func (u *streamUA) expect(code int) *sip.Response {
	u.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if res, ok := u.next(time.Until(deadline)).(*sip.Response); ok {
			if res.StatusCode == code {
				return res
			}
			if res.StatusCode >= 200 {
				u.t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, code)
			}
		}
	}
	u.t.Fatalf("no %d on the connection", code)
	return nil
}

func (u *streamUA) expectRequest(method sip.RequestMethod) *sip.Request {
	u.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if req, ok := u.next(time.Until(deadline)).(*sip.Request); ok && req.Method == method {
			return req
		}
	}
	u.t.Fatalf("no %s on the connection", method)
	return nil
}

// register registers alice with contact (a full Contact value) on the connection.
func (u *streamUA) register(contact string) {
	u.t.Helper()
	local := u.conn.LocalAddr().String()
	build := func(cseq int, extra string) string {
		return fmt.Sprintf("REGISTER sip:ynagw SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-sreg-%d;rport\r\n"+
			"From: <sip:alice@ynagw>;tag=sreg\r\nTo: <sip:alice@ynagw>\r\nCall-ID: sreg-%s\r\nCSeq: %d REGISTER\r\n"+
			"Max-Forwards: 70\r\nContact: %s\r\nExpires: 600\r\n%sContent-Length: 0\r\n\r\n",
			strings.ToUpper(u.network), local, u.seq.Add(1), local, cseq, contact, extra)
	}
	u.send(build(1, ""))
	chal := u.expect(401).GetHeader("WWW-Authenticate").Value()
	creds := answerChallenge(u.t, chal, "alice", "alicepw", "REGISTER", "sip:ynagw")
	u.send(build(2, "Authorization: "+creds+"\r\n"))
	u.expect(200)
}

// reply sends a response to req on the connection; extra are header lines.
func (u *streamUA) reply(req *sip.Request, code int, toTag, body string, extra ...string) {
	res := sip.NewResponseFromRequest(req, code, StatusText(code), []byte(body))
	if toTag != "" {
		res.To().Params.Add("tag", toTag)
	}
	for _, h := range extra {
		name, val, _ := strings.Cut(h, ": ")
		res.AppendHeader(sip.NewHeader(name, val))
	}
	if body != "" {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	u.send(res.String())
}

// deadContact returns a loopback host:port nobody listens on (the phone's
// private address behind NAT: a new connection there cannot succeed).
func deadContact(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestRingOnRegistrationConnection: a phone registered over TCP or TLS with a
// Contact address nobody can connect to (it is behind NAT) is rung on the
// connection it registered on: the INVITE, the ACK of its 2xx and our BYE all
// arrive there. The target is given as the bridge builds it for such a
// contact: the Contact URI, no Destination.
func TestRingOnRegistrationConnection(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	for _, tc := range []struct {
		name, network, params string
	}{
		{"tcp, transport=tcp in Contact", "tcp", ";transport=tcp"},
		{"tcp, Contact without transport", "tcp", ""},
		{"tls, transport=tls in Contact", "tls", ";transport=tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, func(c *Config) {
				c.Listen = append(c.Listen, ListenConfig{Network: "tls", Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile})
			})
			u := dialStreamUA(t, s, tc.network, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			dead := deadContact(t)
			u.register("<sip:alice@" + dead + tc.params + ">")
			cs := s.Contacts("alice")
			if len(cs) != 1 || cs[0].Transport != tc.network || cs[0].Source.String() != u.conn.LocalAddr().String() {
				t.Fatalf("contacts %+v", cs)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			oc, err := s.Dial(ctx, DialRequest{
				From: "sip:14255550100@ynagw", Offer: appSDP(40020, SendRecv, 1),
				Targets: []Target{{URI: cs[0].URI, Label: "alice"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			// Whichever comes first: the INVITE on the registration connection,
			// or the fork failing (it tried the unreachable Contact address).
			var inv *sip.Request
			deadline := time.After(10 * time.Second)
			for inv == nil {
				select {
				case m := <-u.msgs:
					if r, ok := m.(*sip.Request); ok && r.Method == sip.INVITE {
						inv = r
					}
				case ev := <-oc.Events():
					if f, ok := ev.(*FailedEvent); ok {
						t.Fatalf("fork failed (%d %s: %v) instead of ringing on the registration connection", f.Code, f.Reason, f.Err)
					}
				case <-deadline:
					t.Fatal("no INVITE on the registration connection")
				}
			}
			if inv.Recipient.String() != cs[0].URI {
				t.Errorf("Request-URI %s, want the Contact %s", inv.Recipient.String(), cs[0].URI)
			}
			if v := inv.Via(); v == nil || !strings.EqualFold(v.Transport, tc.network) {
				t.Errorf("INVITE Via %v, want transport %s", v, tc.network)
			}
			u.reply(inv, 180, "ph", "")
			u.reply(inv, 200, "ph", rawSDP("sendrecv"), "Contact: <sip:alice@"+dead+tc.params+">")
			u.expectRequest(sip.ACK)
			var d *Dialog
			for d == nil {
				select {
				case ev, ok := <-oc.Events():
					if !ok {
						t.Fatal("fork ended without an answer")
					}
					if a, ok := ev.(*AnsweredEvent); ok {
						d = a.Dialog
					}
				case <-ctx.Done():
					t.Fatal("no AnsweredEvent")
				}
			}
			byeDone := make(chan error, 1)
			go func() { byeDone <- d.Hangup(ctx, "done") }()
			u.reply(u.expectRequest(sip.BYE), 200, "", "")
			if err := <-byeDone; err != nil {
				t.Fatalf("Hangup: %v", err)
			}
		})
	}
}

// TestRegistrationConnectionGoneUsesContact: once the registration
// connection is closed, the INVITE goes to the Contact URI again (a phone
// that is reachable there, e.g. not behind NAT, still rings).
func TestRegistrationConnectionGoneUsesContact(t *testing.T) {
	s := newTestServer(t, nil)
	phone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := phone.Accept(); err == nil {
			accepted <- c
		}
	}()

	u := dialStreamUA(t, s, "tcp", nil)
	u.register("<sip:alice@" + phone.Addr().String() + ";transport=tcp>")
	cs := s.Contacts("alice")
	if len(cs) != 1 {
		t.Fatalf("contacts %+v", cs)
	}
	_ = u.conn.Close()
	// The server notices the close when its reader gets EOF.
	src := cs[0].Source.String()
	gone := time.After(5 * time.Second)
	for {
		c, err := s.client.TransportLayer().GetConnection("tcp", src)
		if err != nil || c == nil {
			break
		}
		c.Ref(-1)
		select {
		case <-gone:
			t.Fatal("server still has the closed registration connection")
		case <-time.After(5 * time.Millisecond):
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	oc, err := s.Dial(ctx, DialRequest{
		From: "sip:14255550100@ynagw", Offer: appSDP(40020, SendRecv, 1),
		Targets: []Target{{URI: cs[0].URI, Label: "alice"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var pc *streamUA
	select {
	case c := <-accepted:
		pc = newStreamUA(t, c, "tcp")
	case <-time.After(10 * time.Second):
		t.Fatal("no connection to the Contact address")
	}
	pc.reply(pc.expectRequest(sip.INVITE), 486, "busy", "")
	select {
	case <-oc.Done():
	case <-ctx.Done():
		t.Fatal("fork did not end after 486")
	}
	if br := oc.Branches(); len(br) != 1 || br[0].Code != 486 {
		t.Errorf("branches %+v, want one 486", br)
	}
}
