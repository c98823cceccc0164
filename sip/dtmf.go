package sip

import (
	"strconv"
	"strings"
	"time"
)

// parseDTMFInfo parses an INFO body of type application/dtmf-relay
// ("Signal=5\r\nDuration=160") or application/dtmf ("5").
func parseDTMFInfo(ct string, body []byte) (rune, time.Duration, bool) {
	switch ct {
	case "application/dtmf-relay":
		var sig string
		dur := 0
		for _, line := range strings.Split(string(body), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if !ok {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "signal":
				sig = strings.TrimSpace(v)
			case "duration":
				dur, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		r, ok := dtmfDigit(sig)
		if dur < 0 {
			dur = 0
		}
		return r, time.Duration(dur) * time.Millisecond, ok
	case "application/dtmf":
		r, ok := dtmfDigit(strings.TrimSpace(string(body)))
		return r, 0, ok
	}
	return 0, 0, false
}

func dtmfDigit(s string) (rune, bool) {
	switch s {
	case "10":
		return '*', true
	case "11":
		return '#', true
	case "12", "13", "14", "15":
		return rune('A' + (s[1] - '2')), true
	}
	if len(s) != 1 {
		return 0, false
	}
	c := rune(s[0])
	switch {
	case c >= '0' && c <= '9', c == '*', c == '#':
		return c, true
	case c >= 'A' && c <= 'D':
		return c, true
	case c >= 'a' && c <= 'd':
		return c - 'a' + 'A', true
	}
	return 0, false
}
