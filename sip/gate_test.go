package sip

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func crlf(lines ...string) string { return strings.Join(lines, "\r\n") }

func TestGate(t *testing.T) {
	const via = "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-g1"
	base := func(start string, hdrs ...string) string {
		return crlf(append(append([]string{start, via}, hdrs...),
			"Call-ID: g1@x", "CSeq: 1 OPTIONS", "Max-Forwards: 70", "Content-Length: 0", "", "")...)
	}
	okFromTo := []string{"From: <sip:a@example.com>;tag=1", "To: <sip:b@example.com>"}
	cases := []struct {
		name string
		msg  string
		pass bool
		code int // reply code; 0 with pass false = dropped
	}{
		{"valid", base("OPTIONS sip:b@example.com SIP/2.0", okFromTo...), true, 0},
		{"valid response", crlf("SIP/2.0 200 OK", via, "From: <sip:a@x>;tag=1", "To: <sip:b@x>;tag=2", "Call-ID: r", "CSeq: 1 OPTIONS", "Content-Length: 0", "", ""), true, 0},
		{"two spaces in request line", base("OPTIONS  sip:b@example.com SIP/2.0", okFromTo...), false, 400},
		{"trailing space in request line", base("OPTIONS sip:b@example.com SIP/2.0 ", okFromTo...), false, 400},
		{"<> around Request-URI", base("OPTIONS <sip:b@example.com> SIP/2.0", okFromTo...), false, 400},
		{"unsupported scheme sipgo rejects", base("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0", okFromTo...), false, 416},
		{"other version sipgo rejects", base("OPTIONS soap.beep://192.0.2.103:3002 SIP/3.0", okFromTo...), false, 505},
		{"RFC 4475 baddn", base("OPTIONS sip:b@example.com SIP/2.0", "From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43", "To: Watson, Thomas <sip:t.watson@example.org>"), false, 400},
		{"token display name", base("OPTIONS sip:b@example.com SIP/2.0", "From: Bell Alexander <sip:a@example.com>;tag=43", "To: <sip:b@example.com>"), true, 0},
		{"quoted display name with comma", base("OPTIONS sip:b@example.com SIP/2.0", `From: "Bell, Alexander" <sip:a@example.com>;tag=43`, "To: <sip:b@example.com>"), true, 0},
		{"spaces in addr-spec", base("OPTIONS sip:b@example.com SIP/2.0", "From: <sip:a@example.com>;tag=1", "To: < sip:b@example.com >"), false, 400},
		{"Contact URI headers without <>", base("OPTIONS sip:b@example.com SIP/2.0", append(okFromTo, "Contact: sip:u@example.com?Route=%3Csip:x%3E")...), false, 400},
		{"Contact URI headers in <>", base("OPTIONS sip:b@example.com SIP/2.0", append(okFromTo, "Contact: <sip:u@example.com?Route=%3Csip:x%3E>")...), true, 0},
		{"Contact addr-spec with header param", base("OPTIONS sip:b@example.com SIP/2.0", append(okFromTo, "Contact: sip:u@example.com;unknownparam")...), true, 0},
		{"negative Content-Length", strings.Replace(base("OPTIONS sip:b@example.com SIP/2.0", okFromTo...), "Content-Length: 0", "Content-Length: -1", 1), false, 400},
		{"unparsable response", crlf("SIP/2.0 4294967301 big", via, "Content-Length: 0", "", ""), false, 0},
		{"not SIP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false, 0},
		{"unparsable Via", crlf("OPTIONS sip:b@example.com SIP/2.0", "Via: SIP/2.0/UDP", "From: <sip:a@x>;tag=1", "To: <sip:b@x>", "Call-ID: v", "CSeq: 1 OPTIONS", "Content-Length: 0", "", ""), false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := gate([]byte(c.msg), "ynagw")
			if (d.pass != nil) != c.pass {
				t.Fatalf("pass = %v, want %v (%s)", d.pass != nil, c.pass, d.reason)
			}
			if c.pass {
				return
			}
			if d.reason == "" {
				t.Error("no reason for the log")
			}
			if c.code == 0 {
				if d.reply != nil {
					t.Fatalf("replied to a dropped message:\n%s", d.reply)
				}
				return
			}
			if d.reply == nil {
				t.Fatalf("no reply, want %d (%s)", c.code, d.reason)
			}
			m, err := sip.NewParser().ParseSIP(d.reply)
			if err != nil {
				t.Fatalf("reply does not parse: %v\n%s", err, d.reply)
			}
			res := m.(*sip.Response)
			if res.StatusCode != c.code || d.code != c.code {
				t.Fatalf("reply %d (decision %d), want %d", res.StatusCode, d.code, c.code)
			}
			if b, _ := res.Via().Params.Get("branch"); b != "z9hG4bK-g1" {
				t.Errorf("reply Via %s", res.Via())
			}
			if res.CallID() == nil || res.CallID().Value() != "g1@x" || res.CSeq() == nil {
				t.Errorf("reply lacks Call-ID/CSeq:\n%s", d.reply)
			}
			if to := res.To(); to != nil {
				if tag, _ := to.Params.Get("tag"); tag == "" {
					t.Errorf("reply To without tag: %s", to)
				}
			}
		})
	}
}

func TestNormalizeLWS(t *testing.T) {
	cases := []struct{ in, want string }{
		{"From: <sip:a@b> ; tag = 1", "From: <sip:a@b>;tag=1"},
		{"From: \"a ; b = c\" <sip:a@b;x=y> ;tag=1", "From: \"a ; b = c\" <sip:a@b;x=y>;tag=1"},
		{"To:\r\n sip:v@example.com ;   tag    = 19n", "To: sip:v@example.com;tag=19n"},
		{"v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n SIP/2.0/UDP 192.168.255.111 ; branch=\r\n z9hG4bK30239",
			"v: SIP  / 2.0  / TCP     spindle.example.com;branch=z9hG4bK9ikj8,SIP/2.0/UDP 192.168.255.111;branch=z9hG4bK30239"},
		{"Subject: a ; b = c", "Subject: a ; b = c"}, // not a header whose parameters sipgo parses
	}
	for _, c := range cases {
		in := "OPTIONS sip:a@b SIP/2.0\r\n" + c.in + "\r\nContent-Length: 4\r\n\r\nbody"
		got := string(normalizeLWS([]byte(in)))
		want := "OPTIONS sip:a@b SIP/2.0\r\n" + c.want + "\r\nContent-Length: 4\r\n\r\nbody"
		if got != want {
			t.Errorf("normalizeLWS(%q)\n got %q\nwant %q", c.in, got, want)
		}
	}
	plain := []byte("OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\n\r\n")
	if got := normalizeLWS(plain); &got[0] != &plain[0] {
		t.Error("a message without LWS around separators was copied")
	}
}

func TestNextFrame(t *testing.T) {
	msg := "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 4\r\n\r\nbody"
	cases := []struct {
		name string
		buf  string
		kind frameKind
		n    int
		code int
	}{
		{"empty", "", frameMore, 0, 0},
		{"ping", "\r\n\r\n", frameKeepAlive, 4, 0},
		{"pong", "\r\n", frameKeepAlive, 2, 0},
		{"CRLF before a message", "\r\n" + msg, frameSkip, 2, 0},
		{"whole message", msg + "NEXT", frameMessage, len(msg), 0},
		{"body incomplete", msg[:len(msg)-1], frameMore, 0, 0},
		{"header incomplete", msg[:20], frameMore, 0, 0},
		{"no Content-Length", "OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", frameBroken, 0, 400},
		{"negative Content-Length", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -5\r\n\r\n", frameBroken, 0, 400},
		{"conflicting Content-Length", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab", frameBroken, 0, 400},
		{"same Content-Length twice", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\nl: 2\r\n\r\nab", frameMessage, 54, 0},
		{"too large", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999\r\n\r\n", frameBroken, 0, 413},
		{"garbage block with length", "C\r\nContent-Length: 2\r\n\r\nxyREST", frameGarbage, 26, 0},
		{"garbage block", "C\r\n\r\nREST", frameGarbage, 5, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := nextFrame([]byte(c.buf), 65535)
			if f.kind != c.kind || (c.kind != frameMore && c.kind != frameBroken && f.n != c.n) || f.code != c.code {
				t.Fatalf("got %+v, want kind %d n %d code %d", f, c.kind, c.n, c.code)
			}
		})
	}
}

// TestGateTCPKeepsConnection: a malformed message with intact framing costs
// the peer that message only: it gets its 400 and the next request on the same
// connection is answered. A keep-alive ping still gets its pong.
func TestGateTCPKeepsConnection(t *testing.T) {
	s := newTestServer(t, nil)
	p := dialTCPPeer(t, s.Addr("tcp"))
	local := p.conn.LocalAddr().String()
	bad := crlf("OPTIONS sip:ynagw SIP/2.0", "Via: SIP/2.0/TCP "+local+";branch=z9hG4bK-k1",
		"From: <sip:a@x>;tag=1", "To: < sip:b@x >", "Call-ID: keep1", "CSeq: 1 OPTIONS", "Content-Length: 0", "", "")
	good := string(probeOptions(s.Addr("tcp"), local, "TCP", "keep2"))
	if _, err := p.conn.Write([]byte(bad + "\r\n\r\n" + good)); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"keep1": 400, "keep2": 200}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case m := <-p.msgs:
			res, ok := m.(*sip.Response)
			if !ok || res.CallID() == nil {
				continue
			}
			if code, ok := want[res.CallID().Value()]; ok && code == res.StatusCode {
				delete(want, res.CallID().Value())
			} else {
				t.Fatalf("unexpected %d for %s", res.StatusCode, res.CallID().Value())
			}
		case <-p.closed:
			t.Fatal("connection closed")
		case <-deadline:
			t.Fatalf("answers missing: %v", want)
		}
	}
	// the ping is answered by sipgo through the gate: read the raw pong
	c, err := net.Dial("tcp", s.Addr("tcp").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 8)
	n, err := c.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("\r\n")) {
		t.Fatalf("pong = %q, %v", buf[:n], err)
	}
}
