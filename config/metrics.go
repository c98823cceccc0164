package config

import (
	"regexp"
	"strconv"
	"strings"
)

// Values of admin.metrics_auth.
const (
	// MetricsAuthRequired: /metrics needs the admin credentials (Basic or bearer).
	MetricsAuthRequired = "required"
	// MetricsAuthNone: /metrics is served to anyone who reaches the admin listener.
	MetricsAuthNone = "none"
)

// DefaultMetricsAuth is the admin.metrics_auth of an admin listener on listen: none when
// it binds loopback only (only local processes can scrape), else required.
func DefaultMetricsAuth(listen string) string {
	if Loopback(listen) {
		return MetricsAuthNone
	}
	return MetricsAuthRequired
}

// maxLineNameDigits is the longest run of digits a line name may carry: longer runs look
// like a phone number, which the name is there to keep out of the metrics.
const maxLineNameDigits = 6

// lineNameRE is the form of a line name (a Prometheus label value that needs no quoting
// in dashboards or PromQL regexes).
var lineNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

// DefaultLineName is the name of the line at index i of lines when none is set: "line1",
// "line2", ...
func DefaultLineName(i int) string { return "line" + strconv.Itoa(i+1) }

// LineNames maps each configured line's number (canonical, 1NXXNXXXXXX) to its name, the
// value of the metrics' line label. Init must have run (it fills the default names).
func (c *Config) LineNames() map[string]string {
	out := make(map[string]string, len(c.Lines))
	for i, l := range c.Lines {
		name := l.Name
		if name == "" {
			name = DefaultLineName(i)
		}
		out[l.MSISDN] = name
	}
	return out
}

// validateLineName checks lines[i].name (at path): its form, that it is not the overflow
// label "other", carries no phone number and is unique (seen: name → index).
func validateLineName(p *problems, path, name string, seen map[string]int, i int) {
	run, longest := 0, 0
	for _, r := range name {
		if r >= '0' && r <= '9' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	switch {
	case !lineNameRE.MatchString(name):
		p.add(path, "%q is not a name: a letter, then up to 63 letters, digits, '_', '.' or '-'", name)
	case strings.EqualFold(name, "other"):
		p.add(path, "%q is reserved (the label of lines beyond the metrics' cap)", name)
	case longest > maxLineNameDigits:
		p.add(path, "%q looks like a phone number; names keep numbers out of the metrics (set metrics.label_msisdn to label lines by number)", name)
	default:
		if j, dup := seen[name]; dup {
			p.add(path, "duplicate name %q (also lines[%d])", name, j)
			return
		}
		seen[name] = i
	}
}
