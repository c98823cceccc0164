package sip

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// The gate sees every message read from our UDP and TCP/TLS listener sockets
// before sipgo does (gateconn.go). sipgo drops a message it cannot parse with
// one error log line and no answer, so a phone or PBX that sent a malformed
// request retransmits it in vain. The gate parses the message with sipgo's own
// parser first (so both agree on what parses) and answers an unparsable request
// statelessly: 505 for another SIP version, 416 for a Request-URI scheme we do
// not support, else 400, with a Warning naming the error. It also refuses the
// syntax errors sipgo accepts but RFC 3261 does not (RFC 4475 §3.1.2.13,
// §3.1.2.15), and hands sipgo the message with the white space around
// parameter separators removed (lwsnorm.go). A request whose top Via cannot be
// parsed cannot be answered (the response could be neither routed nor matched,
// RFC 3261 §18.2.2); unparsable responses and non-SIP data are dropped.

// gateParser is sipgo's parser; Parse only reads its configuration.
var gateParser = sip.NewParser()

// gateDecision is what to do with one received message.
type gateDecision struct {
	pass   []byte         // the message to hand to sipgo (maybe normalised); nil: drop it
	reply  []byte         // a stateless response to send back; nil: none
	via    *sip.ViaHeader // the reply's top Via (where a UDP reply goes)
	code   int            // the reply's status code
	reason string         // why the message was refused or dropped, for the log
	method string         // of a passed request ("" for a response)
}

// gate decides about raw, one whole message (a datagram or a framed stream
// message); ua is our Server header value.
func gate(raw []byte, ua string) gateDecision {
	msg := normalizeLWS(raw)
	start, lines, _, _ := splitHead(msg)
	m, err := gateParser.ParseSIP(msg)
	if err == nil {
		req, isReq := m.(*sip.Request)
		if !isReq {
			return gateDecision{pass: msg}
		}
		if why := checkAddrHeaders(lines); why != "" {
			return refuseRaw(lines, 400, why, "", ua)
		}
		return gateDecision{pass: msg, method: string(req.Method)}
	}
	switch classifyStart(start) {
	case startResponse:
		return gateDecision{reason: "unparsable response: " + err.Error()}
	case startGarbage:
		return gateDecision{reason: "not a SIP message: " + err.Error()}
	}
	code, why := requestLineCode(start)
	return refuseRaw(lines, code, why, err.Error(), ua)
}

// refuseRaw answers a refused request from its raw header lines.
func refuseRaw(lines []string, code int, why, warn, ua string) gateDecision {
	d := gateDecision{code: code, reason: why}
	if warn != "" {
		d.reason += ": " + warn
	}
	d.reply, d.via = statelessReply(lines, code, why, warn, ua)
	if d.reply == nil {
		d.reason += " (top Via unparsable: not answered)"
	}
	return d
}

type startKind int

const (
	startGarbage startKind = iota
	startRequest
	startResponse
)

var sipVersionRe = regexp.MustCompile(`^(?i:SIP)/[0-9]+\.[0-9]+$`)

// classifyStart tells a request line (anything ending in a SIP version after
// a token) from a status line and from data that is not SIP at all.
func classifyStart(start string) startKind {
	f := strings.Fields(start)
	if len(f) == 0 {
		return startGarbage
	}
	if len(f[0]) > 4 && strings.EqualFold(f[0][:4], "SIP/") {
		return startResponse
	}
	if len(f) >= 3 && sipVersionRe.MatchString(f[len(f)-1]) && isToken(f[0]) {
		return startRequest
	}
	return startGarbage
}

var uriSchemeRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// requestLineCode is the answer to a request sipgo could not parse, from its
// request line (RFC 3261 §7.1: Method SP Request-URI SP SIP-Version, single
// spaces, nothing after the version).
func requestLineCode(start string) (int, string) {
	parts := strings.Split(start, " ")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || !sipVersionRe.MatchString(parts[2]) {
		return 400, "Malformed Request-Line"
	}
	if !strings.EqualFold(parts[2], "SIP/2.0") {
		return 505, StatusText(505)
	}
	i := strings.IndexByte(parts[1], ':')
	if i <= 0 || !uriSchemeRe.MatchString(parts[1][:i]) {
		return 400, "Malformed Request-URI"
	}
	if !requestURISchemes[strings.ToLower(parts[1][:i])] {
		return 416, StatusText(416)
	}
	return 400, "Bad Request"
}

// statelessReply builds a response to a request from its raw header lines:
// its Via (every value, in order), From, To (with a tag), Call-ID and CSeq,
// each copied only if sipgo parses it, so that the reply itself parses. It
// returns nil when the top Via cannot be parsed.
func statelessReply(lines []string, code int, reason, warn, ua string) ([]byte, *sip.ViaHeader) {
	var vias []string
	single := map[string]string{}
	for _, l := range lines {
		switch n := headerName(l); n {
		case "via":
			vias = append(vias, headerValue(l))
		case "from", "to", "call-id", "cseq":
			if _, seen := single[n]; !seen {
				single[n] = headerValue(l)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	topVia := true
	for _, v := range vias {
		for _, one := range splitOutside(v, ',') {
			one = strings.Trim(one, " \t")
			if one != "" && parsesAs("Via", one) {
				b.WriteString("Via: " + one + "\r\n")
			} else if topVia {
				return nil, nil
			}
			topVia = false
		}
	}
	if topVia {
		return nil, nil // no Via at all
	}
	for _, n := range []string{"From", "To", "Call-ID", "CSeq"} {
		v, ok := single[strings.ToLower(n)]
		if !ok || !parsesAs(n, v) {
			continue
		}
		if n == "To" && !strings.Contains(strings.ToLower(v), "tag=") {
			v += ";tag=" + randomTag()
			if !parsesAs(n, v) {
				continue
			}
		}
		b.WriteString(n + ": " + v + "\r\n")
	}
	if ua != "" {
		b.WriteString("Server: " + ua + "\r\n")
	}
	if warn != "" {
		b.WriteString(`Warning: 399 ynagw "` + warningText(warn) + `"` + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	out := []byte(b.String())
	m, err := gateParser.ParseSIP(out)
	if err != nil || m.Via() == nil {
		return nil, nil
	}
	return out, m.Via()
}

// parsesAs reports whether sipgo parses "name: value" as a header.
func parsesAs(name, value string) bool {
	m, err := gateParser.ParseSIP([]byte("SIP/2.0 400 X\r\n" + name + ": " + value + "\r\n\r\n"))
	if err != nil {
		return false
	}
	res, ok := m.(*sip.Response)
	return ok && res.GetHeader(name) != nil
}

// warningText makes s safe inside a Warning quoted string: printable ASCII
// without quotes or backslashes, at most 120 bytes.
func warningText(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	if len(b) > 120 {
		b = b[:120]
	}
	return string(b)
}

func randomTag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// addrHeaders take name-addr / addr-spec values (RFC 3261 §20.10).
var addrHeaders = map[string]bool{"from": true, "to": true, "contact": true, "route": true, "record-route": true, "reply-to": true}

// checkAddrHeaders finds the name-addr syntax errors sipgo accepts: an
// unquoted display name with characters other than tokens and white space
// (RFC 4475 §3.1.2.15), white space inside <...> (§3.1.2.14), and an addr-spec
// with URI headers ("?") not enclosed in <...> (§3.1.2.13; RFC 3261 §20.10).
// It returns the reason phrase of the 400, or "".
func checkAddrHeaders(lines []string) string {
	for _, l := range lines {
		n := headerName(l)
		if !addrHeaders[n] {
			continue
		}
		v := headerValue(l)
		if n == "contact" && v == "*" {
			continue
		}
		els := []string{v}
		if n == "contact" || n == "route" || n == "record-route" {
			els = splitOutside(v, ',') // lists; in From, To and Reply-To a comma is part of the value
		}
		for _, el := range els {
			if why := checkNameAddr(strings.Trim(el, " \t")); why != "" {
				return "Malformed " + canonicalName(n) + " Header: " + why
			}
		}
	}
	return ""
}

func canonicalName(n string) string {
	switch n {
	case "record-route":
		return "Record-Route"
	case "reply-to":
		return "Reply-To"
	}
	return strings.ToUpper(n[:1]) + n[1:]
}

func checkNameAddr(el string) string {
	if strings.HasPrefix(el, `"`) {
		return "" // quoted display name: sipgo checks the quotes
	}
	if i := strings.IndexByte(el, '<'); i >= 0 {
		for j := 0; j < i; j++ {
			if c := el[j]; !isTokenChar(c) && c != ' ' && c != '\t' {
				return "display name must be quoted"
			}
		}
		j := strings.IndexByte(el[i:], '>')
		if j < 0 {
			return "missing >"
		}
		inner := el[i+1 : i+j]
		if inner != strings.Trim(inner, " \t") {
			return "white space inside <>"
		}
		return ""
	}
	uri := el
	if k := strings.IndexByte(uri, ';'); k >= 0 {
		uri = uri[:k]
	}
	if strings.ContainsRune(uri, '?') {
		return "a URI with headers must be enclosed in <>"
	}
	return ""
}
