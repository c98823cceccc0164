package config

import (
	"errors"
	"strings"
	"testing"
)

func TestReloadable(t *testing.T) {
	tests := []struct {
		name           string
		edits          []string
		users, routing bool
		restart        []string // field paths that need a restart
	}{
		{"nothing", nil, false, false, nil},
		{"user password", []string{"    password: pw", "    password: pw2"}, true, false, nil},
		{"user added", []string{"users:", "users:\n  - username: bob\n    password: b"}, true, false, nil},
		{"ring list", []string{"ring: [alice]", "ring: [alice, sip:x@127.0.0.1]"}, false, true, nil},
		{"outbound list", []string{"outbound: [alice, pbx]", "outbound: [\"*\"]"}, false, true, nil},
		{"prefix", []string{"    ring: [alice]", "    ring: [alice]\n    prefix: \"7\""}, false, true, nil},
		{"dialplan", []string{"store:", "dialplan:\n  strip_prefix: \"9\"\nstore:"}, false, true, nil},
		{"log level", []string{"store:", "log:\n  level: debug\nstore:"}, false, false, nil},
		{"log format", []string{"store:", "log:\n  format: console\nstore:"}, false, false, []string{"log.format"}},
		{"same number, other spelling", []string{`"4255550100"`, `"+1 (425) 555-0100"`}, false, false, nil},
		{"line number", []string{`"4255550100"`, `"4255550111"`}, false, false, []string{"lines[0].msisdn"}},
		{"line added", []string{"lines:", "lines:\n  - msisdn: \"4255550111\""}, false, true, []string{"lines"}},
		{"rtp and yna", []string{"advertise_ip: 127.0.0.1", "advertise_ip: 127.0.0.2", "client_secret: shh", "client_secret: new"},
			false, false, []string{"rtp.advertise_ip", "yna.client_secret"}},
		{"trunk and users", []string{"uri: sip:127.0.0.1:5070", "uri: sip:127.0.0.1:5080", "    password: pw", "    password: pw2"},
			true, false, []string{"trunks[0].uri"}},
	}
	parse := func(t *testing.T, edits []string) *Config {
		t.Helper()
		y := base
		for i := 0; i+1 < len(edits); i += 2 {
			if !strings.Contains(y, edits[i]) {
				t.Fatalf("edit %q not in base", edits[i])
			}
			y = strings.Replace(y, edits[i], edits[i+1], 1)
		}
		c, err := Parse([]byte(strings.Replace(y, "POPKEY", popKeyPath(t), 1)), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, cur := parse(t, nil), parse(t, tt.edits)
			users, routing, err := old.Reloadable(cur)
			if users != tt.users || routing != tt.routing {
				t.Errorf("users, routing = %v, %v; want %v, %v", users, routing, tt.users, tt.routing)
			}
			var got []string
			for _, fe := range FieldErrors(err) {
				got = append(got, fe.Path)
			}
			if strings.Join(got, ",") != strings.Join(tt.restart, ",") {
				t.Fatalf("restart fields %v, want %v (err %v)", got, tt.restart, err)
			}
			var fe *FieldError
			if (err != nil) != errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
		})
	}
}
