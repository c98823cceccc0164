package daemon

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/yna"
)

func validYAML(t *testing.T, dir string) string {
	t.Helper()
	pemb, err := yna.MarshalPrivateKeyPEM(appKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pop.pem"), pemb, 0o600); err != nil {
		t.Fatal(err)
	}
	return `sip:
  domain: ynagw.test
  listen: [{transport: udp, bind: "127.0.0.1:0"}]
rtp:
  bind_ip: 127.0.0.1
yna:
  base_url: http://127.0.0.1:1
  client_id: app
  client_secret: secret
  pop_key_file: pop.pem
  redirect_uri: http://127.0.0.1:8080/link/callback
lines:
  - msisdn: "+1 425 555 0100"
    ring: [alice]
    outbound: [alice]
users:
  - username: alice
    password: pw
timers:
  drain_timeout: 7s
store:
  path: ynagw.db
  key: ` + hex.EncodeToString(testKey(t)) + `
`
}

func TestFromConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ynagw.yaml")
	if err := os.WriteFile(p, []byte(validYAML(t, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	o, err := FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.YNA.Key == nil || len(o.StoreKey) != 32 || o.DrainTimeout.Seconds() != 7 ||
		o.StorePath != filepath.Join(dir, "ynagw.db") || len(o.SIP.Users) != 1 ||
		len(o.Bridge.Lines) != 1 || o.Bridge.Lines[0].MSISDN != "14255550100" || o.Admin.Listen == "" {
		t.Errorf("options %+v", o)
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	// The admin listener on a free port: check-config binds it, and the default 8080 may be taken.
	good := strings.Replace(validYAML(t, dir), "timers:", "admin:\n  listen: 127.0.0.1:0\ntimers:", 1)
	cases := []struct {
		name   string
		yaml   string
		ok     bool
		fields []string
	}{
		{"valid", good, true, nil},
		{"field errors", strings.Replace(strings.Replace(good, `"+1 425 555 0100"`, `"123"`, 1), "drain_timeout: 7s", "drain_timeout: -1s", 1),
			false, []string{"lines[0].msisdn", "timers.drain_timeout"}},
		{"unknown key", good + "bogus: 1\n", false, []string{"bogus"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "c.yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := CheckConfig(p, &out)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, output:\n%s", err, out.String())
			}
			if tc.ok && strings.TrimSpace(out.String()) != "OK" {
				t.Errorf("output %q", out.String())
			}
			for _, f := range tc.fields {
				if !strings.Contains(out.String(), f) {
					t.Errorf("output lacks %s:\n%s", f, out.String())
				}
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	var b bytes.Buffer
	log, lvl, err := NewLogger(&b, "warn", "json")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	lvl.SetLevel(-1) // debug, as the admin log level route does
	log.Debug("shown")
	if strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), `"msg":"shown"`) {
		t.Errorf("log output %q", b.String())
	}
	for _, bad := range [][2]string{{"loud", "json"}, {"info", "xml"}} {
		if _, _, err := NewLogger(&b, bad[0], bad[1]); err == nil {
			t.Errorf("NewLogger(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestVersion(t *testing.T) {
	if v := Version("v1.2.3"); v != "v1.2.3" {
		t.Errorf("Version(v1.2.3) = %q", v)
	}
	if v := Version(""); v == "" {
		t.Error("empty default version")
	}
}
