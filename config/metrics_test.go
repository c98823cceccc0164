package config

import (
	"strings"
	"testing"
)

// TestMetricsAuth: admin.metrics_auth defaults to required unless the admin listener is
// loopback only, takes required/none in any case, and is refused when required has no
// credentials to check or the value is unknown.
func TestMetricsAuth(t *testing.T) {
	tests := []struct {
		name    string
		admin   string // admin section body
		want    string // MetricsAuth after Parse ("" = error expected)
		errText string
	}{
		{"default listen", "", MetricsAuthNone, ""},
		{"loopback v4", "listen: 127.0.0.1:9100", MetricsAuthNone, ""},
		{"loopback v6", "listen: \"[::1]:9100\"", MetricsAuthNone, ""},
		{"localhost", "listen: localhost:9100", MetricsAuthNone, ""},
		{"wildcard", "listen: 0.0.0.0:8080\n  token: t", MetricsAuthRequired, ""},
		{"empty host", "listen: \":8080\"\n  token: t", MetricsAuthRequired, ""},
		{"v6 wildcard", "listen: \"[::]:8080\"\n  token: t", MetricsAuthRequired, ""},
		{"lan address", "listen: 192.0.2.10:8080\n  username: a\n  password: b", MetricsAuthRequired, ""},
		{"explicit none on lan", "listen: 0.0.0.0:8080\n  token: t\n  metrics_auth: none", MetricsAuthNone, ""},
		{"explicit required on loopback", "token: t\n  metrics_auth: Required", MetricsAuthRequired, ""},
		{"required without credentials", "metrics_auth: required", "", "set username/password or token"},
		{"unknown value", "token: t\n  metrics_auth: sometimes", "", `"sometimes" is not required or none`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := baseYAML(t)
			if tt.admin != "" {
				y = strings.Replace(y, "store:", "admin:\n  "+tt.admin+"\nstore:", 1)
			}
			c, err := Parse([]byte(y), noEnv)
			if tt.want == "" {
				for _, fe := range FieldErrors(err) {
					if fe.Path == "admin.metrics_auth" && strings.Contains(fe.Msg, tt.errText) {
						return
					}
				}
				t.Fatalf("want a field error at admin.metrics_auth with %q, got %v", tt.errText, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Admin.MetricsAuth != tt.want {
				t.Errorf("metrics_auth = %q, want %q", c.Admin.MetricsAuth, tt.want)
			}
		})
	}
}

// TestLineNames: lines get "line<position>" unless named; a name must be label-safe,
// unique, not "other" and not a phone number; LineNames maps canonical numbers to names.
func TestLineNames(t *testing.T) {
	const second = "\n  - msisdn: \"4255550101\"\n    name: NAME2\n"
	tests := []struct {
		name, first, second string // "" = no name key; second "-" = no second line
		want                []string
		errPath, errText    string
	}{
		{"defaults", "", "-", []string{"line1"}, "", ""},
		{"default second", "office", "", []string{"office", "line2"}, "", ""},
		{"both named", "office", "lab-2.b", []string{"office", "lab-2.b"}, "", ""},
		{"short digit runs", "fl3-rm204", "-", []string{"fl3-rm204"}, "", ""},
		{"duplicate", "office", "office", nil, "lines[1].name", "duplicate name"},
		{"default clash", "line2", "", nil, "lines[1].name", "duplicate name"},
		{"reserved", "Other", "-", nil, "lines[0].name", "reserved"},
		{"a number", "n14255550100", "-", nil, "lines[0].name", "looks like a phone number"},
		{"leading digit", "4office", "-", nil, "lines[0].name", "not a name"},
		{"space", "\"front desk\"", "-", nil, "lines[0].name", "not a name"},
		{"quote", "\"a\\\"b\"", "-", nil, "lines[0].name", "not a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := baseYAML(t)
			if tt.first != "" {
				y = strings.Replace(y, "    ring: [alice]", "    name: "+tt.first+"\n    ring: [alice]", 1)
			}
			if tt.second != "-" {
				s := strings.Replace(second, "NAME2", tt.second, 1)
				if tt.second == "" {
					s = strings.Replace(second, "    name: NAME2\n", "", 1)
				}
				y = strings.Replace(y, "users:", strings.TrimPrefix(s, "\n")+"users:", 1)
			}
			c, err := Parse([]byte(y), noEnv)
			if tt.errPath != "" {
				for _, fe := range FieldErrors(err) {
					if fe.Path == tt.errPath && strings.Contains(fe.Msg, tt.errText) {
						return
					}
				}
				t.Fatalf("want a field error at %s with %q, got %v", tt.errPath, tt.errText, err)
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, y)
			}
			numbers := []string{"14255550100", "14255550101"}
			names := c.LineNames()
			if len(names) != len(tt.want) {
				t.Fatalf("LineNames %v, want %v", names, tt.want)
			}
			for i, w := range tt.want {
				if c.Lines[i].Name != w || names[numbers[i]] != w {
					t.Errorf("line %d: name %q, LineNames %q, want %q", i, c.Lines[i].Name, names[numbers[i]], w)
				}
			}
		})
	}
}

// TestLineNameAndLabelNeedRestart: a SIGHUP cannot rename a line or switch
// metrics.label_msisdn (the metrics keep their labels until a restart).
func TestLineNameAndLabelNeedRestart(t *testing.T) {
	a, err := Parse([]byte(baseYAML(t)), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	for path, edit := range map[string][2]string{
		"lines[0].name":        {"    ring: [alice]", "    name: office\n    ring: [alice]"},
		"metrics.label_msisdn": {"store:", "metrics:\n  label_msisdn: true\nstore:"},
	} {
		b, err := Parse([]byte(strings.Replace(baseYAML(t), edit[0], edit[1], 1)), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = a.Reloadable(b)
		found := false
		for _, fe := range FieldErrors(err) {
			found = found || fe.Path == path
		}
		if !found {
			t.Errorf("changing %s: Reloadable error %v, want one at %s", path, err, path)
		}
	}
}
