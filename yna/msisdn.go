package yna

import (
	"strings"
)

// Number normalisation of §10.4 (and §5.4 for lines).

// emergencyNumbers is the list the SDK blocks locally (§10.4).
var emergencyNumbers = map[string]bool{
	"911": true, "912": true, "922": true, "112": true, "1911": true, "1912": true, "1112": true,
	"+911": true, "+912": true, "+112": true, "+1911": true, "+1912": true, "+1112": true,
	"0911": true, "0912": true, "0112": true, "00911": true, "00912": true, "00112": true,
}

// maxOtherDigits is the longest "other" destination (short codes etc.) accepted (§10.4).
const maxOtherDigits = 20

// userPart strips a tel:/sip:/sips: scheme and anything from '@' or ';' on, and trims space.
func userPart(s string) string {
	s = strings.TrimSpace(s)
	low := strings.ToLower(s)
	for _, p := range []string{"tel:", "sip:", "sips:"} {
		if strings.HasPrefix(low, p) {
			s = s[len(p):]
			break
		}
	}
	if i := strings.IndexAny(s, "@;"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// compact removes visual separators (space, -, ., (, ), /) but keeps everything else.
func compact(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '-', '.', '(', ')', '/':
			return -1
		}
		return r
	}, s)
}

func digitsOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// keypad maps vanity letters to phone keypad digits.
func keypad(r rune) rune {
	switch {
	case r >= 'a' && r <= 'z':
		r -= 'a' - 'A'
	case r < 'A' || r > 'Z':
		return r
	}
	const m = "22233344455566677778889999" // A..Z
	return rune(m[r-'A'])
}

// nanp10 reports whether d is a 10-digit NANP number: the area code must start with 2–9.
// The exchange digit is not checked, since the spec's own example line 4251234567 has
// exchange 123 (§5.4).
func nanp10(d string) bool {
	return len(d) == 10 && d[0] >= '2' && d[0] <= '9'
}

// nanp returns the 1+10-digit form of d if d is NANP (10 digits, or 11 starting with 1).
func nanp(d string) (string, bool) {
	switch {
	case nanp10(d):
		return "1" + d, true
	case len(d) == 11 && d[0] == '1' && nanp10(d[1:]):
		return d, true
	}
	return "", false
}

// IsEmergency reports whether s is one of the emergency numbers the SDK blocks (§10.4),
// ignoring a tel:/sip: scheme and separators such as spaces and dashes.
func IsEmergency(s string) bool {
	c := compact(userPart(s))
	if emergencyNumbers[c] {
		return true
	}
	// Also catch vanity or stray characters around an emergency number ("9-1-1", "911#").
	d := digitsOnly(c)
	if strings.HasPrefix(c, "+") {
		d = "+" + d
	}
	return emergencyNumbers[d]
}

// NormalizeLine returns a YNA line (MSISDN) as "1" + 10 digits (§5.4, §10.4): it accepts
// 10-digit or 1+10-digit NANP numbers (+ only before 1+10 digits), with optional tel:/sip:
// scheme and separators.
func NormalizeLine(s string) (string, error) {
	u := compact(userPart(s))
	plus := strings.HasPrefix(u, "+")
	u = strings.TrimPrefix(u, "+")
	if u == "" || digitsOnly(u) != u {
		return "", &NumberError{Input: s, Reason: "not a NANP line number"}
	}
	if n, ok := nanp(u); ok && (!plus || len(u) == 11) {
		return n, nil
	}
	return "", &NumberError{Input: s, Reason: "not a NANP line number (want 1NXXNXXXXXX)"}
}

// NormalizeDestination returns the /start "to" form of a dialled destination (§10.4):
// NANP → "1" + 10 digits; 11–15-digit international → "+" + digits (an 011 prefix is
// stripped); anything else → digits only (at most 20). Vanity letters become keypad
// digits. Emergency numbers give a *NumberError wrapping ErrEmergencyNumber.
func NormalizeDestination(s string) (string, error) {
	if IsEmergency(s) {
		return "", &NumberError{Input: s, Err: ErrEmergencyNumber}
	}
	u := compact(userPart(s))
	plus := strings.HasPrefix(u, "+")
	d := digitsOnly(strings.Map(keypad, u))
	if d == "" {
		return "", &NumberError{Input: s, Reason: "no digits"}
	}
	var out string
	n, isNANP := nanp(d)
	if plus && len(d) != 11 {
		isNANP = false // "+" + 10 digits is some other country's number, not NANP
	}
	intl := d
	if !plus && strings.HasPrefix(intl, "011") {
		intl = intl[3:]
	}
	switch {
	case isNANP:
		out = n
	case len(intl) >= 11 && len(intl) <= 15:
		out = "+" + intl
	case len(d) > maxOtherDigits:
		return "", &NumberError{Input: s, Reason: "too many digits"}
	default:
		out = d
	}
	if IsEmergency(out) {
		return "", &NumberError{Input: s, Err: ErrEmergencyNumber}
	}
	return out, nil
}
