package sip

import (
	"errors"
	"fmt"
	"strings"
)

// maxReasonHeader bounds a caller-supplied Reason header value.
const maxReasonHeader = 512

// ErrBadReason is returned for a Reason header value that is not an RFC 3326
// reason-value (protocol token, cause parameter, no control characters).
var ErrBadReason = errors.New("sip: malformed Reason header value")

// checkReasonHeader validates a full RFC 3326 Reason header value such as
// `Q.850;cause=17;text="User busy"` or `SIP;cause=486;text="Busy Here"`: a
// protocol token, a numeric cause parameter, balanced quotes and no control
// characters (so no header injection).
func checkReasonHeader(v string) error {
	if v == "" || len(v) > maxReasonHeader {
		return fmt.Errorf("%w: length %d", ErrBadReason, len(v))
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: control character", ErrBadReason)
		}
	}
	params, err := splitReasonParams(v)
	if err != nil {
		return err
	}
	proto := strings.TrimSpace(params[0])
	if proto == "" || !isToken(proto) {
		return fmt.Errorf("%w: protocol %q", ErrBadReason, proto)
	}
	hasCause := false
	for _, p := range params[1:] {
		name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if name == "" || !isToken(name) {
			return fmt.Errorf("%w: parameter %q", ErrBadReason, p)
		}
		if strings.EqualFold(name, "cause") {
			if val == "" || len(val) > 9 || strings.Trim(val, "0123456789") != "" {
				return fmt.Errorf("%w: cause %q", ErrBadReason, val)
			}
			hasCause = true
		}
		if strings.HasPrefix(val, `"`) && (len(val) < 2 || !strings.HasSuffix(val, `"`)) {
			return fmt.Errorf("%w: unterminated quoted value", ErrBadReason)
		}
	}
	if !hasCause {
		return fmt.Errorf("%w: no cause parameter", ErrBadReason)
	}
	return nil
}

// splitReasonParams splits v at semicolons outside quoted strings.
func splitReasonParams(v string) ([]string, error) {
	var out []string
	quoted, esc, start := false, false, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case esc:
			esc = false
		case quoted && c == '\\':
			esc = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return nil, fmt.Errorf("%w: only one reason-value allowed", ErrBadReason)
		case c == ';' && !quoted:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	if quoted || esc {
		return nil, fmt.Errorf("%w: unterminated quoted string", ErrBadReason)
	}
	return append(out, v[start:]), nil
}

// isToken reports whether s consists of RFC 3261 token characters.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

// hangupReason is the Reason header value of our BYE: reason itself when it is a
// full valid Reason value, else reason as text of SIP cause 200.
func hangupReason(reason string) string {
	if checkReasonHeader(reason) == nil {
		return reason
	}
	return fmt.Sprintf("SIP;cause=200;text=%q", sanitizeReason(reason))
}
