package sip

import (
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// rawRequest builds a request text from a start line and header lines; the
// defaults below are replaced by a header of the same name in hdrs ("-Name"
// removes one).
func rawRequest(start string, body string, hdrs ...string) string {
	defaults := []string{
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-v1",
		"From: <sip:alice@ynagw>;tag=f1",
		"To: <sip:2000@ynagw>",
		"Call-ID: v1@127.0.0.1",
		"CSeq: 1 " + strings.Fields(start)[0],
		"Max-Forwards: 70",
	}
	var out []string
	for _, d := range defaults {
		name := d[:strings.IndexByte(d, ':')]
		keep := true
		for _, h := range hdrs {
			if strings.EqualFold(strings.TrimPrefix(h[:strings.IndexAny(h+":", ":")], "-"), name) {
				keep = false
			}
		}
		if keep {
			out = append(out, d)
		}
	}
	for _, h := range hdrs {
		if !strings.HasPrefix(h, "-") {
			out = append(out, h)
		}
	}
	return start + "\r\n" + strings.Join(out, "\r\n") + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func TestValidateRequest(t *testing.T) {
	sdp := rawSDP("sendrecv")
	cases := []struct {
		name   string
		msg    string
		code   int // 0 = accepted
		reason string
	}{
		{"plain OPTIONS", rawRequest("OPTIONS sip:2000@ynagw SIP/2.0", ""), 0, ""},
		{"INVITE with SDP", rawRequest("INVITE sip:2000@ynagw SIP/2.0", sdp, "Content-Type: application/sdp"), 0, ""},
		{"tel Request-URI", rawRequest("INVITE tel:+15551234 SIP/2.0", ""), 0, ""},
		{"sips Request-URI", rawRequest("OPTIONS sips:2000@ynagw SIP/2.0", ""), 0, ""},
		{"version", rawRequest("OPTIONS sip:2000@ynagw SIP/3.0", ""), 505, ""},
		{"unknown scheme", rawRequest("OPTIONS nobody:opaque SIP/2.0", ""), 416, ""},
		{"urn scheme", rawRequest("INVITE urn:service:sos SIP/2.0", ""), 416, ""},
		{"CSeq method mismatch", rawRequest("OPTIONS sip:2000@ynagw SIP/2.0", "", "CSeq: 8 INVITE"), 400, "CSeq Method Mismatch"},
		{"REGISTER CSeq mismatch", rawRequest("REGISTER sip:ynagw SIP/2.0", "", "CSeq: 2 INVITE"), 400, "CSeq Method Mismatch"},
		{"unknown method", rawRequest("FOO sip:2000@ynagw SIP/2.0", ""), 501, ""},
		{"unknown method and mismatch", rawRequest("FOO sip:2000@ynagw SIP/2.0", "", "CSeq: 1 INVITE"), 501, ""},
		{"known method we do not handle", rawRequest("SUBSCRIBE sip:2000@ynagw SIP/2.0", ""), 0, ""},
		{"missing Call-ID", rawRequest("OPTIONS sip:2000@ynagw SIP/2.0", "", "-Call-ID"), 400, "Missing Call-ID Header"},
		{"missing From", rawRequest("OPTIONS sip:2000@ynagw SIP/2.0", "", "-From"), 400, "Missing From Header"},
		{"missing Max-Forwards is tolerated", rawRequest("OPTIONS sip:2000@ynagw SIP/2.0", "", "-Max-Forwards"), 0, ""},
		{"two CSeq", rawRequest("OPTIONS sip:2000@ynagw SIP/2.0", "", "CSeq: 1 OPTIONS", "CSeq: 2 OPTIONS"), 400, "Multiple CSeq Headers"},
		{"two Call-ID", rawRequest("OPTIONS sip:2000@ynagw SIP/2.0", "", "Call-ID: a", "Call-ID: b"), 400, "Multiple Call-ID Headers"},
		{"two Content-Length", rawRequest("OPTIONS sip:2000@ynagw SIP/2.0", "", "Content-Length: 0"), 400, "Multiple Content-Length"},
		{"headers in Request-URI", rawRequest("INVITE sip:2000@ynagw?Route=%3Csip:x%3E SIP/2.0", ""), 400, "Headers In Request-URI"},
		{"branch only the cookie", rawRequest("OPTIONS sip:2000@ynagw SIP/2.0", "", "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK"), 400, "Bad Branch"},
		{"REGISTER with non-SIP To", rawRequest("REGISTER sip:ynagw SIP/2.0", "", "To: <isbn:2983792873>"), 400, "Address-of-Record Not SIP"},
		{"INVITE unknown body type", rawRequest("INVITE sip:2000@ynagw SIP/2.0", "<audio/>", "Content-Type: application/unknownformat"), 415, ""},
		{"INVITE body without type", rawRequest("INVITE sip:2000@ynagw SIP/2.0", sdp), 415, ""},
		{"INVITE Accept without SDP", rawRequest("INVITE sip:2000@ynagw SIP/2.0", "", "Accept: text/nobodyKnowsThis"), 406, ""},
		{"INVITE Accept wildcard", rawRequest("INVITE sip:2000@ynagw SIP/2.0", "", "Accept: text/plain, application/*;q=0.5"), 0, ""},
		{"INVITE Max-Forwards 0", rawRequest("INVITE sip:2000@ynagw SIP/2.0", "", "Max-Forwards: 0"), 483, ""},
		{"OPTIONS Max-Forwards 0", rawRequest("OPTIONS sip:2000@ynagw SIP/2.0", "", "Max-Forwards: 0"), 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := sip.NewParser().ParseSIP([]byte(c.msg))
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, c.msg)
			}
			rej := validateRequest(m.(*sip.Request))
			switch {
			case c.code == 0 && rej != nil:
				t.Fatalf("refused %d %q", rej.code, rej.reason)
			case c.code != 0 && rej == nil:
				t.Fatalf("accepted, want %d", c.code)
			case c.code != 0 && (rej.code != c.code || rej.reason != c.reason):
				t.Fatalf("got %d %q, want %d %q", rej.code, rej.reason, c.code, c.reason)
			}
		})
	}
}

// TestValidationBeforeAuth: syntax errors are answered before authentication,
// so a bad request from a phone never gets a challenge (401/407), over a real
// UDP socket. Before validation ran first, the REGISTER got 401, the INVITEs 407
// and the OPTIONS 200.
func TestValidationBeforeAuth(t *testing.T) {
	s := newTestServer(t, nil)
	u := newRawUA(t, s.Addr("udp"))
	cases := []struct {
		name string
		msg  string
		code int
	}{
		{"REGISTER CSeq mismatch", strings.Replace(u.req("REGISTER", "vba1", "a", "", 1, ""), "CSeq: 1 REGISTER", "CSeq: 1 INVITE", 1), 400},
		{"INVITE unknown scheme", strings.Replace(u.req("INVITE", "vba2", "a", "", 1, ""), "INVITE sip:2000@", "INVITE urn:x:2000@", 1), 416},
		{"INVITE bad body type", strings.Replace(u.req("INVITE", "vba3", "a", "", 1, "<audio/>"), "application/sdp", "application/unknownformat", 1), 415},
		{"OPTIONS CSeq mismatch", strings.Replace(u.req("OPTIONS", "vba4", "a", "", 1, ""), "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1), 400},
		{"OPTIONS unknown scheme", strings.Replace(u.req("OPTIONS", "vba5", "a", "", 1, ""), "OPTIONS sip:2000@", "OPTIONS nobody:2000@", 1), 416},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u.t = t
			u.send(c.msg)
			u.expect(c.code)
		})
	}
}
