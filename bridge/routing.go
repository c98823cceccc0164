package bridge

import (
	"strings"

	"github.com/ynagw/ynagw/yna"
)

// outboundRoute is the result of routing an outbound INVITE.
type outboundRoute struct {
	line LineConfig
	dest string // normalised /start "to"
}

// caller identifies who sent an outbound INVITE.
type caller struct {
	user  string // digest-authenticated user ("" for trunks)
	trunk string // trunk name ("" for users)
	from  string // From URI
	ruri  string // Request-URI (its user part is the dialled number)
	to    string // To URI (fallback for the dialled number)
}

func (c caller) name() string {
	if c.user != "" {
		return c.user
	}
	return c.trunk
}

func allowed(l LineConfig, who caller) bool {
	for _, o := range l.Outbound {
		o = strings.TrimSpace(o)
		if o == "*" && who.name() != "" {
			return true
		}
		if o != "" && (strings.EqualFold(o, who.user) || strings.EqualFold(o, who.trunk) || strings.EqualFold(aorUser(o), who.user)) {
			return true
		}
	}
	return false
}

// aorUser returns the user part of "sip:alice@host" (or the string itself).
func aorUser(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, ":"); i >= 0 && strings.HasPrefix(strings.ToLower(s), "sip") {
		s = s[i+1:]
	}
	if i := strings.IndexAny(s, "@;"); i >= 0 {
		s = s[:i]
	}
	return s
}

// uriUser returns the user part of a SIP/tel URI ("" if none).
func uriUser(u string) string {
	u = strings.TrimSpace(u)
	if i := strings.IndexByte(u, '<'); i >= 0 {
		u = u[i+1:]
		if j := strings.IndexByte(u, '>'); j >= 0 {
			u = u[:j]
		}
	}
	low := strings.ToLower(u)
	for _, p := range []string{"sips:", "sip:", "tel:"} {
		if strings.HasPrefix(low, p) {
			u = u[len(p):]
			break
		}
	}
	if i := strings.IndexAny(u, "@;?"); i >= 0 {
		u = u[:i]
	}
	return u
}

// route picks the line for an outbound call and normalises the destination:
//  1. only lines whose Outbound lists the caller (user or trunk, or "*") are candidates;
//  2. a line whose Prefix starts the dialled number wins (the prefix is stripped);
//  3. else a line equal to the From user (a PBX presenting the line number);
//  4. else the first candidate.
//
// Then the dial plan and yna.NormalizeDestination run; emergency numbers give ErrEmergency.
func route(lines []LineConfig, plan DialPlan, who caller) (outboundRoute, error) {
	dialled := uriUser(who.ruri)
	if dialled == "" {
		dialled = uriUser(who.to)
	}
	var cands []LineConfig
	for _, l := range lines {
		if allowed(l, who) {
			cands = append(cands, l)
		}
	}
	if len(cands) == 0 {
		return outboundRoute{}, ErrNoRoute
	}
	// Emergency numbers are refused before any prefix or dial-plan manipulation, and after.
	if yna.IsEmergency(dialled) {
		return outboundRoute{}, Classify(&yna.NumberError{Input: dialled, Err: yna.ErrEmergencyNumber})
	}
	var pick *LineConfig
	for i := range cands {
		if p := cands[i].Prefix; p != "" && len(dialled) > len(p) && strings.HasPrefix(dialled, p) {
			pick = &cands[i]
			dialled = dialled[len(p):]
			break
		}
	}
	if pick == nil {
		if fl, err := yna.NormalizeLine(uriUser(who.from)); err == nil {
			for i := range cands {
				if cands[i].MSISDN == fl {
					pick = &cands[i]
					break
				}
			}
		}
	}
	if pick == nil {
		pick = &cands[0]
	}
	dest, err := yna.NormalizeDestination(plan.Apply(dialled))
	if err != nil {
		return outboundRoute{}, Classify(err)
	}
	return outboundRoute{line: *pick, dest: dest}, nil
}
