package sip

import (
	"bytes"
	"strings"
)

// Raw header-section helpers for messages sipgo has not parsed (yet): the gate
// (gate.go) and the TCP framer (streamframe.go) work on bytes.

var crlfcrlf = []byte("\r\n\r\n")

// compactHeaders maps RFC 3261 §7.3.3 compact forms to the long names.
var compactHeaders = map[string]string{
	"v": "via", "f": "from", "t": "to", "m": "contact", "i": "call-id", "l": "content-length",
	"c": "content-type", "e": "content-encoding", "s": "subject", "k": "supported",
}

// splitHead splits raw into its start line, its header lines (unfolded: a line
// beginning with SP or HTAB continues the previous one, RFC 3261 §7.3.1) and the
// offset of the body. complete is false when the empty line that ends the
// header section is missing; the lines are then all that raw has.
func splitHead(raw []byte) (start string, lines []string, bodyOff int, complete bool) {
	head := raw
	if i := bytes.Index(raw, crlfcrlf); i >= 0 {
		head, bodyOff, complete = raw[:i], i+4, true
	} else {
		bodyOff = len(raw)
	}
	for n, l := range strings.Split(string(head), "\r\n") {
		switch {
		case n == 0:
			start = l
		case len(l) > 0 && (l[0] == ' ' || l[0] == '\t') && len(lines) > 0:
			lines[len(lines)-1] = strings.TrimRight(lines[len(lines)-1], " \t") + " " + strings.Trim(l, " \t")
		default:
			lines = append(lines, l)
		}
	}
	return start, lines, bodyOff, complete
}

// headerName is the lower-case long name of a header line ("" if it has no colon).
func headerName(line string) string {
	i := strings.IndexByte(line, ':')
	if i < 0 {
		return ""
	}
	n := strings.ToLower(strings.TrimRight(line[:i], " \t"))
	if long, ok := compactHeaders[n]; ok {
		return long
	}
	return n
}

// headerValue is the value of a header line, without surrounding whitespace.
func headerValue(line string) string {
	i := strings.IndexByte(line, ':')
	if i < 0 {
		return ""
	}
	return strings.Trim(line[i+1:], " \t")
}

// isTokenChar reports whether c may appear in an RFC 3261 token.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~", c) >= 0
}

// splitOutside splits s at sep where it is outside quoted strings and <...>.
func splitOutside(s string, sep byte) []string {
	var out []string
	inQuote, inAngle, from := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\\':
			i++
		case c == '"' && !inAngle:
			inQuote = !inQuote
		case inQuote:
		case c == '<':
			inAngle = true
		case c == '>':
			inAngle = false
		case c == sep && !inAngle:
			out = append(out, s[from:i])
			from = i + 1
		}
	}
	return append(out, s[from:])
}
