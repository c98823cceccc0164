package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ynagw/ynagw/rtpmedia"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// base is a minimal valid configuration; cases edit it by text replacement.
const base = `
rtp:
  advertise_ip: 127.0.0.1
yna:
  client_id: cid
  client_secret: shh
  pop_key_file: POPKEY
  redirect_uri: https://example.com/cb
lines:
  - msisdn: "4255550100"
    ring: [alice]
    outbound: [alice, pbx]
users:
  - username: alice
    password: pw
trunks:
  - name: pbx
    allow_from: [127.0.0.1/32]
    uri: sip:127.0.0.1:5070
store:
  key: ` + testKey + `
`

func popKeyPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("testdata/pop.pem")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func baseYAML(t *testing.T) string {
	return strings.Replace(base, "POPKEY", popKeyPath(t), 1)
}

func noEnv(string) (string, bool) { return "", false }

func TestBaseIsValid(t *testing.T) {
	c, err := Parse([]byte(baseYAML(t)), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sip.Domain != DefaultDomain || c.RTP.PortMin != DefaultRTPPortMin || c.Timers.RingTimeout != 60*time.Second ||
		c.Yna.BaseURL != DefaultBaseURL || c.Log.Format != "json" || len(c.Sip.Listen) != 1 || c.Sip.Listen[0].Bind != DefaultUDPBind {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if !strings.HasPrefix(c.Yna.PoPKey, "-----BEGIN") {
		t.Fatalf("pop key not read from file")
	}
}

// TestErrors: each class of mistake fails with an error naming the field (or line).
func TestErrors(t *testing.T) {
	tests := []struct {
		name     string
		edits    []string // old, new pairs applied to base
		env      map[string]string
		wantPath string // FieldError path ("" = not a FieldError)
		wantText string // substring of the error text
	}{
		{"unknown key", []string{"  client_id: cid", "  client_id: cid\n  clientid: x"}, nil, "yna.clientid", `unknown option "clientid" (did you mean "client_id"?)`},
		{"unknown section", []string{"store:", "stor:\n  x: 1\nstore:"}, nil, "stor", `unknown option "stor" (did you mean "store"?)`},
		{"unknown key far from any", []string{"store:", "bogus: 1\nstore:"}, nil, "bogus", "the options at the top level are: admin, cluster, dialplan, lines"},
		{"bad type", []string{"ring: [alice]", "ring: alice"}, nil, "lines[0].ring", `expected a list (write [a, b] or one "- item" line per entry), found "alice"`},
		{"bad type bool", []string{"users:", "webrtc:\n  allow_loopback: maybe\nusers:"}, nil, "webrtc.allow_loopback", `"maybe" is not true or false`},
		{"bad type int", []string{"  advertise_ip: 127.0.0.1", "  advertise_ip: 127.0.0.1\n  port_min: lots"}, nil, "rtp.port_min", `"lots" is not a whole number`},
		{"bad duration", []string{"  advertise_ip: 127.0.0.1", "  advertise_ip: 127.0.0.1\n  media_timeout: 5 minutes"}, nil, "rtp.media_timeout", `"5 minutes" is not a duration: write a number and a unit, such as 30s, 5m or 1h30m`},
		{"bare number duration", []string{"  advertise_ip: 127.0.0.1", "  advertise_ip: 127.0.0.1\n  media_timeout: 30"}, nil, "rtp.media_timeout", "30 has no unit: write a duration such as 30s"},
		{"section not a mapping", []string{"store:", "timers: 5s\nstore:"}, nil, "timers", "expected a group of options (ring_timeout, setup_timeout"},
		{"option set twice", []string{"  client_id: cid", "  client_id: cid\n  client_id: other"}, nil, "yna.client_id", "set twice (first on line 5)"},
		{"list where a value goes", []string{"  client_id: cid", "  client_id: [cid]"}, nil, "yna.client_id", "expected a single value, found a list"},
		{"syntax error", []string{"  client_id: cid", "  client_id: cid\n   bad: indent: here"}, nil, "", "line 6: not valid YAML"},
		{"negative duration", []string{"store:", "timers:\n  ring_timeout: -1s\nstore:"}, nil, "timers.ring_timeout", "positive"},
		{"missing required client_id", []string{"  client_id: cid\n", ""}, nil, "yna.client_id", "required"},
		{"missing secret", []string{"  client_secret: shh\n", ""}, nil, "yna.client_secret", "required"},
		{"missing advertise", []string{"  advertise_ip: 127.0.0.1", "  bind_ip: 0.0.0.0"}, nil, "rtp.advertise_ip", "required"},
		{"no lines", []string{"lines:\n  - msisdn: \"4255550100\"\n    ring: [alice]\n    outbound: [alice, pbx]\n", "lines: []\n"}, nil, "lines", "at least one line"},
		{"bad CIDR", []string{"127.0.0.1/32", "127.0.0.1/33"}, nil, "trunks[0].allow_from[0]", "not a CIDR"},
		{"bad CIDR text", []string{"127.0.0.1/32", "localhost"}, nil, "trunks[0].allow_from[0]", "not a CIDR"},
		{"port range min>max", []string{"  advertise_ip: 127.0.0.1", "  advertise_ip: 127.0.0.1\n  port_min: 20000\n  port_max: 10000"}, nil, "rtp.port_min", "above"},
		{"port range odd", []string{"  advertise_ip: 127.0.0.1", "  advertise_ip: 127.0.0.1\n  port_min: 10001\n  port_max: 20000"}, nil, "rtp.port_min", "odd"},
		{"port range low", []string{"  advertise_ip: 127.0.0.1", "  advertise_ip: 127.0.0.1\n  port_min: 100\n  port_max: 20000"}, nil, "rtp.port_min", "outside"},
		{"port range single", []string{"  advertise_ip: 127.0.0.1", "  advertise_ip: 127.0.0.1\n  port_min: 10000\n  port_max: 10000"}, nil, "rtp.port_max", "no RTP/RTCP port pair"},
		{"webrtc overlap", []string{"users:", "webrtc:\n  udp_port_min: 15000\n  udp_port_max: 15100\nusers:"}, nil, "webrtc.udp_port_min", "overlaps"},
		{"webrtc mux and range", []string{"users:", "webrtc:\n  udp_port_min: 30000\n  udp_port_max: 30100\n  udp_mux_port: 40000\nusers:"}, nil, "webrtc.udp_mux_port", "not both"},
		{"bad stun", []string{"users:", "webrtc:\n  stun_servers: [\"turn:x:1\"]\nusers:"}, nil, "webrtc.stun_servers[0]", "stun:"},
		{"bad MSISDN", []string{`"4255550100"`, `"12345"`}, nil, "lines[0].msisdn", "not a NANP number"},
		{"duplicate line", []string{"lines:", "lines:\n  - msisdn: \"+1 (425) 555-0100\""}, nil, "lines[1].msisdn", "duplicate line 14255550100"},
		{"duplicate user", []string{"users:", "users:\n  - username: alice\n    password: x"}, nil, "users[1].username", "duplicate name"},
		{"user and trunk share a name", []string{"  - username: alice", "  - username: pbx\n    password: y\n  - username: alice"}, nil, "trunks[0].name", "duplicate name"},
		{"ring unknown user", []string{"ring: [alice]", "ring: [mallory]"}, nil, "lines[0].ring[0]", "not a configured user"},
		{"outbound unknown", []string{"outbound: [alice, pbx]", "outbound: [alice, nobody]"}, nil, "lines[0].outbound[1]", "not a configured"},
		{"ring_trunk unknown", []string{"ring: [alice]", "ring: [alice]\n    ring_trunk: nope"}, nil, "lines[0].ring_trunk", "neither"},
		{"secret from missing env", []string{"client_secret: shh", "client_secret_env: YNAGW_TEST_NOPE"}, nil, "yna.client_secret_env", "YNAGW_TEST_NOPE is not set"},
		{"secret from empty env", []string{"client_secret: shh", "client_secret_env: YNAGW_TEST_EMPTY"}, map[string]string{"YNAGW_TEST_EMPTY": ""}, "yna.client_secret_env", "YNAGW_TEST_EMPTY is empty"},
		{"secret and secret_file", []string{"client_secret: shh", "client_secret: shh\n  client_secret_file: /x"}, nil, "yna.client_secret", "only one of"},
		{"secret file missing", []string{"    password: pw", "    password_file: /nonexistent/ynagw-pw"}, nil, "users[0].password_file", "no such file"},
		{"secret file is a device", []string{"    password: pw", "    password_file: /dev/zero"}, nil, "users[0].password_file", "not a regular file"},
		{"bad store key", []string{testKey, "tooshort"}, nil, "store.key", "key"},
		{"bad store key from env", []string{"  key: " + testKey, "  key_env: K"}, map[string]string{"K": "abc"}, "store.key_env", "key"},
		{"bad pop key", []string{"pop_key_file: POPKEY", "pop_key: not-a-pem"}, nil, "yna.pop_key", "not an RSA private key"},
		{"bad base url", []string{"  client_id: cid", "  client_id: cid\n  base_url: ftp://x"}, nil, "yna.base_url", "http"},
		{"tls without cert", []string{"users:", "sip:\n  listen:\n    - transport: tls\nusers:"}, nil, "sip.listen[0].cert_file", "required"},
		{"two udp listeners", []string{"users:", "sip:\n  listen:\n    - transport: udp\n    - transport: UDP\n      bind: 0.0.0.0:5062\nusers:"}, nil, "sip.listen[1].transport", "second udp"},
		{"bad transport", []string{"users:", "sip:\n  listen:\n    - transport: sctp\nusers:"}, nil, "sip.listen[0].transport", "not udp"},
		{"bad bind", []string{"users:", "sip:\n  listen:\n    - bind: 5060\nusers:"}, nil, "sip.listen[0].bind", "not an address and port"},
		{"registrar bounds", []string{"users:", "sip:\n  registrar:\n    min_expires: 2h\nusers:"}, nil, "sip.registrar.max_expires", "below min_expires"},
		{"min_se too small", []string{"users:", "sip:\n  session_timer:\n    min_se: 30s\nusers:"}, nil, "sip.session_timer.min_se", "90s"},
		{"trunk user without password", []string{"    uri: sip:127.0.0.1:5070", "    uri: sip:127.0.0.1:5070\n    username: u"}, nil, "trunks[0].password", "required with username"},
		{"trunk bad uri", []string{"uri: sip:127.0.0.1:5070", "uri: http://x"}, nil, "trunks[0].uri", "sip:"},
		{"admin public without auth", []string{"store:", "admin:\n  listen: 0.0.0.0:8080\nstore:"}, nil, "admin", "not loopback"},
		{"log level", []string{"store:", "log:\n  level: loud\nstore:"}, nil, "log.level", "loud"},
		{"dialplan digits", []string{"store:", "dialplan:\n  strip_prefix: x9\nstore:"}, nil, "dialplan.strip_prefix", "digits"},
		{"duplicate prefix", []string{"lines:", "lines:\n  - msisdn: \"4255550199\"\n    prefix: \"8\"\n  - msisdn: \"4255550198\"\n    prefix: \"8\""}, nil, "lines[1].prefix", "duplicate prefix"},
		{"two documents", []string{"store:", "---\nstore:"}, nil, "", "line 20: a second YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := base
			for i := 0; i+1 < len(tt.edits); i += 2 {
				if !strings.Contains(y, tt.edits[i]) {
					t.Fatalf("edit %q not in base", tt.edits[i])
				}
				y = strings.Replace(y, tt.edits[i], tt.edits[i+1], 1)
			}
			y = strings.Replace(y, "POPKEY", popKeyPath(t), 1)
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			_, err := Parse([]byte(y), lookup)
			if err == nil {
				t.Fatalf("no error for\n%s", y)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error %q lacks %q", err, tt.wantText)
			}
			if tt.wantPath == "" {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("error %v is not ErrSyntax", err)
				}
				return
			}
			for _, fe := range FieldErrors(err) {
				if fe.Path == tt.wantPath && strings.Contains(fe.Msg, tt.wantText) {
					return
				}
			}
			var fe *FieldError
			t.Fatalf("no FieldError at %q with %q in %v (errors.As: %v)", tt.wantPath, tt.wantText, err, errors.As(err, &fe))
		})
	}
}

// TestAllProblemsListed: Validate reports every problem, not just the first.
func TestAllProblemsListed(t *testing.T) {
	y := strings.NewReplacer(`"4255550100"`, `"1"`, "127.0.0.1/32", "nope", "  client_id: cid\n", "").Replace(baseYAML(t))
	_, err := Parse([]byte(y), noEnv)
	got := map[string]bool{}
	for _, fe := range FieldErrors(err) {
		got[fe.Path] = true
	}
	for _, want := range []string{"lines[0].msisdn", "trunks[0].allow_from[0]", "yna.client_id"} {
		if !got[want] {
			t.Errorf("missing %s in %v", want, err)
		}
	}
}

func TestSecretsFromEnvAndFile(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := strings.NewReplacer("client_secret: shh", "client_secret_env: CS",
		"    password: pw", "    password_file: "+pwFile,
		"  key: "+testKey, "  key_env: SK").Replace(baseYAML(t))
	env := map[string]string{"CS": "env-secret", "SK": testKey}
	c, err := Parse([]byte(y), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.Yna.ClientSecret != "env-secret" || c.Users[0].Password != "from-file" {
		t.Fatalf("secrets: %q %q", c.Yna.ClientSecret, c.Users[0].Password)
	}
	if k, err := c.StoreKey(); err != nil || len(k) != 32 {
		t.Fatalf("store key: %v", err)
	}
	if c.SIP().Users[0].Password != "from-file" {
		t.Fatal("SIP() lacks the resolved password")
	}
}

// TestRelativePaths: Load resolves relative paths against the config file's directory.
func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	pem, err := os.ReadFile("testdata/pop.pem")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pop.pem"), pem, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, key := tlsPair(t)
	copyTo(t, cert, filepath.Join(dir, "tls/c.pem"))
	y := strings.Replace(baseYAML(t), popKeyPath(t), "pop.pem", 1) +
		"  path: data/ynagw.db\nsip:\n  listen:\n    - transport: tls\n      cert_file: tls/c.pem\n      key_file: " + key + "\n"
	path := filepath.Join(dir, "ynagw.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Path != filepath.Join(dir, "data/ynagw.db") || c.Yna.PoPKeyFile != filepath.Join(dir, "pop.pem") ||
		c.Sip.Listen[0].CertFile != filepath.Join(dir, "tls/c.pem") || c.Sip.Listen[0].KeyFile != key {
		t.Fatalf("paths not resolved: %q %q %q %q", c.Store.Path, c.Yna.PoPKeyFile, c.Sip.Listen[0].CertFile, c.Sip.Listen[0].KeyFile)
	}
	if _, err := c.PoPKey(); err != nil {
		t.Fatal(err)
	}
	// Parse (no file): the relative key path is relative to the working directory, where
	// pop.pem does not exist.
	if _, err := Parse([]byte(y), noEnv); err == nil || !strings.Contains(err.Error(), "yna.pop_key_file") {
		t.Fatalf("Parse with relative missing file: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

// TestExample: configs/ynagw.yaml parses and validates, with its secrets provided.
func TestExample(t *testing.T) {
	dir := t.TempDir()
	ex, err := os.ReadFile("../configs/ynagw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("testdata/pop.pem", filepath.Join(dir, "pop.pem"))
	copyFile("testdata/secrets/bob.password", filepath.Join(dir, "secrets/bob.password"))
	certFile, keyFile := tlsPair(t)
	copyFile(certFile, filepath.Join(dir, "tls/sip.crt"))
	copyFile(keyFile, filepath.Join(dir, "tls/sip.key"))
	path := filepath.Join(dir, "ynagw.yaml")
	if err := os.WriteFile(path, ex, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"YNAGW_CLIENT_SECRET": "cs", "YNAGW_ALICE_PASSWORD": "a", "YNAGW_PBX_PASSWORD": "p",
		"YNAGW_PBX_OUT_PASSWORD": "o", "YNAGW_STORE_KEY": testKey, "YNAGW_ADMIN_PASSWORD": "ap", "YNAGW_ADMIN_TOKEN": "tok",
	} {
		t.Setenv(k, v)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Lines) != 2 || c.Users[1].Password != "bob-secret" || c.Lines[0].MSISDN != "14255550100" {
		t.Fatalf("example content: %+v", c.Lines)
	}
	b := c.Bridge()
	if b.Lines[0].MSISDN != "14255550100" || b.Lines[0].RingTrunk != "sip:pbx.example.com:5060;transport=udp" {
		t.Fatalf("bridge lines: %+v", b.Lines[0])
	}
	if b.Timers.MediaTimeout != 30*time.Second || b.Timers.DrainTimeout != 5*time.Second || !b.Media.AdvertiseIP.IsValid() {
		t.Fatalf("bridge timers/media: %+v %+v", b.Timers, b.Media)
	}
	s := c.SIP()
	if len(s.Listen) != 3 || s.Listen[2].CertFile != filepath.Join(dir, "tls/sip.crt") || len(s.Trunks[0].AllowFrom) != 2 ||
		s.Trunks[0].AllowFrom[1].String() != "198.51.100.7/32" || s.Trunks[0].OutPassword != "o" {
		t.Fatalf("sip: %+v", s)
	}
	w := c.WebRTC()
	if w.UDPPortMin != 30000 || w.UDPPortMax != 31000 || len(w.NAT1To1IPs) != 1 || len(w.STUNServers) != 1 {
		t.Fatalf("webrtc: %+v", w)
	}
	min, max, q := c.Ports()
	if _, err := rtpmedia.NewPortAllocator(min, max, q); err != nil {
		t.Fatalf("ports %d-%d: %v", min, max, err)
	}
	key, err := c.PoPKey()
	if err != nil {
		t.Fatal(err)
	}
	yc := c.YNA(key)
	if yc.ClientSecret != "cs" || yc.HTTPClient.Timeout != 60*time.Second || yc.Key != key {
		t.Fatalf("yna: %+v", yc)
	}
	l, err := c.Logger()
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Sync()
	if c.DrainTimeout() != 60*time.Second {
		t.Fatal("drain timeout")
	}
}
