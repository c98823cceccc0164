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
