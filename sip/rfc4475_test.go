package sip

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// outcome is what one message must get back on one transport: the final
// status codes of the responses to it (sorted; empty = no answer at all), and
// for TCP whether the server closes the connection.
type outcome struct {
	finals []int
	closed bool
}

func answer(codes ...int) outcome { return outcome{finals: codes} }

// silent: no response at all (responses without a transaction, messages whose
// framing or start line cannot be parsed).
var silent = outcome{}

// answerClose: the answer, then the server closes the TCP connection (a
// framing error leaves no message boundary to resynchronise on).
func answerClose(codes ...int) outcome { return outcome{finals: codes, closed: true} }

// rfc4475Case is one message of the RFC 4475 corpus (testdata/rfc4475) and
// the answer it must get over UDP and over TCP from a server without trunks:
// a valid INVITE is challenged (407), a valid REGISTER too (401), an OPTIONS is
// answered 200; invalid requests are refused before authentication.
type rfc4475Case struct {
	file     string // under testdata/rfc4475
	udp, tcp outcome
	why      string // RFC 4475 section and what it asks for
}

var rfc4475Cases = []rfc4475Case{
	// 3.1.1 valid messages
	{"valid/wsinv.dat", answer(481), answer(481), "3.1.1.1 folded headers and odd whitespace: parsed; an INVITE with a To tag and no dialog"},
	{"valid/intmeth.dat", answer(501), answer(501), "3.1.1.2 unusual characters; the method is unknown: 501"},
	{"valid/esc01.dat", answer(407), answer(407), "3.1.1.3 escaped URIs: a normal INVITE, challenged"},
	{"valid/escnull.dat", answer(401), answer(401), "3.1.1.4 %00 in URIs: a normal REGISTER, challenged"},
	{"valid/esc02.dat", answer(501), answer(501), "3.1.1.5 an escaped method name is another (unknown) method: 501"},
	{"valid/lwsdisp.dat", answer(200), answer(200), "3.1.1.6 no LWS between display name and <"},
	{"valid/longreq.dat", answer(407), answer(407), "3.1.1.7 a long INVITE (3.5 kB): its 407 (over 1300 bytes) still goes back over UDP"},
	{"valid/dblreq.dat", answer(401), answer(401, 407), "3.1.1.8 two requests in one packet: over UDP the bytes after the REGISTER are discarded (RFC 3261 §18.3); over TCP both are answered"},
	{"valid/semiuri.dat", answer(200), answer(200), "3.1.1.9 semicolon in the Request-URI user part"},
	{"valid/transports.dat", answer(200), answer(200), "3.1.1.10 Via with unknown transports"},
	{"valid/mpart01.dat", answer(405), answer(405), "3.1.1.11 multipart MESSAGE: a method we know but do not allow, 405"},
	{"valid/unreason.dat", silent, silent, "3.1.1.12 a response with an unusual reason phrase and no transaction: dropped"},
	{"valid/noreason.dat", silent, silent, "3.1.1.13 a response with an empty reason phrase and no transaction: dropped"},

	// 3.1.2 invalid messages
	{"invalid/badinv01.dat", answer(400), answer(400), "3.1.2.1 extraneous header field separators: 400"},
	{"invalid/clerr.dat", answer(400), silent, "3.1.2.2 Content-Length larger than the message: 400 over UDP; over TCP the server waits for the rest"},
	{"invalid/ncl.dat", answer(400), answerClose(400), "3.1.2.3 negative Content-Length: 400; over TCP the framing is lost, so the connection is closed after the 400"},
	{"invalid/scalar02.dat", answer(400), answer(400), "3.1.2.4 overlarge scalar fields (CSeq): 400"},
	{"invalid/scalarlg.dat", silent, silent, "3.1.2.5 a response with overlarge scalar fields: dropped"},
	{"invalid/quotbal.dat", answer(400), answer(400), "3.1.2.6 unterminated quoted string in a display name: 400"},
	{"invalid/ltgtruri.dat", answer(400), answer(400), "3.1.2.7 <> around the Request-URI: 400"},
	{"invalid/lwsruri.dat", answer(400), answer(400), "3.1.2.8 embedded LWS in the Request-URI: 400"},
	{"invalid/lwsstart.dat", answer(400), answer(400), "3.1.2.9 several SP between request-line elements: 400"},
	{"invalid/trws.dat", answer(400), answer(400), "3.1.2.10 SP at the end of the request line: 400"},
	{"invalid/escruri.dat", answer(400), answer(400), "3.1.2.11 escaped headers in the Request-URI: 400"},
	{"invalid/baddate.dat", answer(407), answer(407), "3.1.2.12 non-GMT Date: we do not use Date, so it is ignored (RFC 4475 allows it) and the INVITE is challenged"},
	{"invalid/regbadct.dat", answer(400), answer(400), "3.1.2.13 Contact URI with headers not enclosed in <>: 400"},
	{"invalid/badaspec.dat", answer(400), answer(400), "3.1.2.14 spaces within an addr-spec: 400"},
	{"invalid/baddn.dat", answer(400), silent, "3.1.2.15 non-token characters in an unquoted display name: 400 (TestGate has the RFC's message). This copy lacks the empty line that ends the header section: over UDP that alone is a 400, over TCP the server waits for the rest"},
	{"invalid/badvers.dat", answer(505), answer(505), "3.1.2.16 SIP/7.0: 505"},
	{"invalid/mismatch01.dat", answer(400), answer(400), "3.1.2.17 request-line method differs from the CSeq method: 400"},
	{"invalid/mismatch02.dat", answer(501), answer(501), "3.1.2.18 unknown method and a CSeq mismatch: 501 (preferred over 400)"},
	{"invalid/bigcode.dat", silent, silent, "3.1.2.19 a response with an overlarge code: dropped"},

	// 3.2 transaction layer
	{"invalid/badbranch.dat", answer(400), answer(400), "3.2.1 branch is only the magic cookie: 400"},

	// 3.3 application layer
	{"invalid/insuf.dat", answer(400), answer(400), "3.3.1 no Call-ID, From, To: 400"},
	{"invalid/unkscm.dat", answer(416), answer(416), "3.3.2 unknown Request-URI scheme: 416"},
	{"invalid/novelsc.dat", answer(416), answer(416), "3.3.3 registered but unsupported Request-URI scheme (soap.beep): 416"},
	{"invalid/unksm2.dat", answer(400), answer(400), "3.3.4 a registrar refuses a non-SIP To (AOR): 400"},
	{"invalid/bext01.dat", answer(420), answer(420), "3.3.5 Require with unknown extensions: 420 with Unsupported"},
	{"invalid/invut.dat", answer(415), answer(415), "3.3.6 INVITE with an unknown body type: 415 with Accept"},
	{"invalid/regaut01.dat", answer(401), answer(401), "3.3.7 unknown Authorization scheme: a registrar challenges with one it knows, 401"},
	{"invalid/multi01.dat", answer(400), answer(400), "3.3.8 several values in single-value headers: 400"},
	{"invalid/mcl01.dat", answer(400), answerClose(400), "3.3.9 two Content-Length values: 400; over TCP the framing is lost, so the connection is closed after the 400"},
	{"invalid/bcast.dat", silent, silent, "3.3.10 a 200 with a broadcast Via: dropped"},
	{"invalid/zeromf.dat", answer(200), answer(200), "3.3.11 Max-Forwards 0: an endpoint answers OPTIONS as usual"},
	{"invalid/cparam01.dat", answer(401), answer(401), "3.3.12 REGISTER with a contact-param: valid, challenged"},
	{"invalid/cparam02.dat", answer(401), answer(401), "3.3.13 REGISTER with a URI parameter: valid, challenged"},
	{"invalid/regescrt.dat", answer(401), answer(401), "3.3.14 REGISTER contact with an escaped header in <>: valid, challenged"},
	{"invalid/sdp01.dat", answer(406), answer(406), "3.3.15 INVITE whose Accept excludes SDP: 406"},

	// 3.4 backward compatibility
	{"invalid/inv2543.dat", answer(400), answerClose(400), "3.4.1 RFC 2543 INVITE (no branch, no From tag, no Max-Forwards): RFC 4475 wants it processed, but sipgo's transaction layer " +
		"builds the key of a request without an RFC 3261 branch from the From tag and answers 400 itself when there is none (a limit of sipgo, not fixable through its API). " +
		"Over TCP it has no Content-Length, so it cannot be framed: 400 and the connection is closed"},

	// not in RFC 4475
	{"invalid/test.dat", silent, silent, "not in RFC 4475: no SIP-Version in the request line, so not a SIP message: dropped (over TCP the block is skipped by its Content-Length)"},
}

// TestRFC4475 sends every message of the corpus to a running server over real
// loopback UDP and TCP sockets and checks the answer of the table; after each
// message the server must still answer an OPTIONS.
func TestRFC4475(t *testing.T) {
	s := newTestServer(t, nil)
	files, _ := filepath.Glob(filepath.Join("testdata", "rfc4475", "*", "*.dat"))
	listed := map[string]bool{}
	for _, c := range rfc4475Cases {
		listed[c.file] = true
	}
	for _, f := range files {
		rel, _ := filepath.Rel(filepath.Join("testdata", "rfc4475"), f)
		if !listed[filepath.ToSlash(rel)] {
			t.Errorf("%s is not in the table", rel)
		}
	}
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			runRFC4475(t, s, tr)
		})
	}
}

// runRFC4475 runs the table over one transport ("udp" or "tcp") against s.
func runRFC4475(t *testing.T, s *Server, tr string) {
	for _, c := range rfc4475Cases {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "rfc4475", c.file))
			if err != nil {
				t.Fatal(err)
			}
			want := c.udp
			var got tortureResult
			if tr == "udp" {
				got = sendTortureUDP(t, s.Addr("udp"), raw, len(want.finals))
			} else {
				want = c.tcp
				got = sendTortureTCP(t, s.Addr("tcp"), raw, len(want.finals))
			}
			if !reflect.DeepEqual(got.finals, want.finals) && !(len(got.finals) == 0 && len(want.finals) == 0) || got.closed != want.closed {
				t.Errorf("got %v, want %v (%s)", got, tortureResult{finals: want.finals, closed: want.closed}, c.why)
			}
		})
	}
}
