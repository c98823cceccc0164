package sip

import (
	"bytes"
	"strings"
)

// RFC 3261 §25.1 allows linear white space around the separators of header
// parameters (SEMI = SWS ";" SWS, EQUAL = SWS "=" SWS, COMMA = SWS "," SWS)
// and lets a header continue on lines that start with white space. sipgo
// unfolds lines but keeps the white space around ";" and "=" in the parameter
// names and values it parses: "From: <sip:a@b> ; tag = 1" has no tag for it, and
// its transaction layer then answers 400 to a request without an RFC 3261
// branch (RFC 4475 §3.1.1.1, wsinv). normalizeLWS removes that white space
// (outside quoted strings and <...>) in the headers whose parameters sipgo
// parses, before sipgo sees the message. The body is not touched, so
// Content-Length stays right.

// lwsHeaders are the headers whose parameters sipgo parses.
var lwsHeaders = map[string]bool{"via": true, "from": true, "to": true, "contact": true, "route": true, "record-route": true}

// lwsHints are byte pairs that can only appear in a header section that needs
// normalizeLWS (folding, or white space next to ";" or "=").
var lwsHints = [][]byte{[]byte("\r\n "), []byte("\r\n\t"), []byte(" ;"), []byte("; "), []byte("\t;"), []byte(";\t"),
	[]byte(" ="), []byte("= "), []byte("\t="), []byte("=\t")}

// normalizeLWS returns raw with folded header lines unfolded and the white
// space around ";", "=" and "," removed in lwsHeaders; raw itself when there is
// nothing to change.
func normalizeLWS(raw []byte) []byte {
	end := bytes.Index(raw, crlfcrlf)
	if end < 0 {
		return raw
	}
	head := raw[:end]
	hint := false
	for _, h := range lwsHints {
		if bytes.Contains(head, h) {
			hint = true
			break
		}
	}
	if !hint {
		return raw
	}
	start, lines, bodyOff, _ := splitHead(raw)
	var b bytes.Buffer
	b.Grow(len(raw))
	b.WriteString(start)
	for _, l := range lines {
		b.WriteString("\r\n")
		if i := strings.IndexByte(l, ':'); i >= 0 && lwsHeaders[headerName(l)] {
			b.WriteString(strings.TrimRight(l[:i], " \t"))
			b.WriteString(": ")
			b.WriteString(tightenParams(headerValue(l)))
			continue
		}
		b.WriteString(l)
	}
	b.WriteString("\r\n\r\n")
	b.Write(raw[bodyOff:])
	return b.Bytes()
}

// tightenParams removes the white space around ";", "=" and "," of a header
// value, outside quoted strings and <...>.
func tightenParams(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	inQuote, inAngle, skipWS := false, false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if skipWS && (c == ' ' || c == '\t') {
			continue
		}
		skipWS = false
		switch {
		case inQuote && c == '\\' && i+1 < len(v):
			b.WriteByte(c)
			i++
			c = v[i]
		case c == '"' && !inAngle:
			inQuote = !inQuote
		case inQuote:
		case c == '<':
			inAngle = true
		case c == '>':
			inAngle = false
		case !inAngle && (c == ';' || c == '=' || c == ','):
			s := strings.TrimRight(b.String(), " \t")
			b.Reset()
			b.WriteString(s)
			skipWS = true
		}
		b.WriteByte(c)
	}
	return b.String()
}
