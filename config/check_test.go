package config

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ynagw/ynagw/internal/testenv"
)

// tlsPair writes a certificate and its key (signed by a fresh test CA) and returns their
// paths.
func tlsPair(t *testing.T) (cert, key string) {
	t.Helper()
	cert, key, _ = testenv.NewCA(t, "ynagw-test").Issue(t, "sip", net.ParseIP("127.0.0.1"))
	return cert, key
}

// lineOf returns the 1-based line of the first line of y containing marker.
func lineOf(t *testing.T, y, marker string) int {
	t.Helper()
	for i, l := range strings.Split(y, "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	t.Fatalf("%q not in\n%s", marker, y)
	return 0
}

// goTypes are the Go-isms an error text for an operator must not contain.
var goTypes = regexp.MustCompile("!!str|!!int|!!map|!!seq|time\\.Duration|\\[\\]string|config\\.|into int|into bool|Username|Password |RingTrunk|MSISDN ")

// TestEveryProblemWithFieldAndLine (issue 11): five broken fields, two of them YAML type
// errors, one an unknown key and two bad values, give five problems, each naming its
// field path and its line, in plain words (no Go types).
func TestEveryProblemWithFieldAndLine(t *testing.T) {
	y := strings.NewReplacer(
		`"4255550100"`, `"12"`,
		"store:", "timers:\n  ring_timeout: ten\nlog:\n  level: loud\nstore:",
		"  advertise_ip: 127.0.0.1", "  advertise_ip: 127.0.0.1\n  port_min: lots",
		"  client_id: cid", "  client_id: cid\n  clientid: x",
	).Replace(baseYAML(t))
	_, err := Parse([]byte(y), noEnv)
	if err == nil {
		t.Fatal("accepted")
	}
	want := []struct {
		path, marker, text string
	}{
		{"timers.ring_timeout", "ring_timeout: ten", "unit"},
		{"rtp.port_min", "port_min: lots", "whole number"},
		{"yna.clientid", "clientid: x", "client_id"},
		{"lines[0].msisdn", `msisdn: "12"`, "NANP"},
		{"log.level", "level: loud", "debug, info, warn or error"},
	}
	text := err.Error()
	for _, w := range want {
		line := lineOf(t, y, w.marker)
		re := regexp.MustCompile(regexp.QuoteMeta(w.path) + ` \(line ` + strconv.Itoa(line) + `\): [^\n]*` + regexp.QuoteMeta(w.text))
		if !re.MatchString(text) {
			t.Errorf("no problem %s at line %d mentioning %q in:\n%s", w.path, line, w.text, text)
		}
	}
	if n := len(FieldErrors(err)); n != len(want) {
		t.Errorf("%d problems, want %d:\n%s", n, len(want), text)
	}
	if m := goTypes.FindString(text); m != "" {
		t.Errorf("error text leaks %q:\n%s", m, text)
	}
}

// TestNoGoFieldNames (issue 11): a trunk whose password comes from an unset variable
// gets one problem naming the variable, not a second one from the sip package's own
// check in Go field names ("trunks[0]: Username and Password go together").
func TestNoGoFieldNames(t *testing.T) {
	y := strings.Replace(baseYAML(t), "    uri: sip:127.0.0.1:5070", "    uri: sip:127.0.0.1:5070\n    username: pbx\n    password_env: YNAGW_TEST_UNSET_PBX", 1)
	_, err := Parse([]byte(y), noEnv)
	if err == nil {
		t.Fatal("accepted")
	}
	fes := FieldErrors(err)
	if len(fes) != 1 || fes[0].Path != "trunks[0].password_env" || !strings.Contains(fes[0].Msg, "YNAGW_TEST_UNSET_PBX") {
		t.Errorf("problems %q, want one at trunks[0].password_env", err)
	}
	if m := goTypes.FindString(err.Error()); m != "" {
		t.Errorf("error text leaks %q: %s", m, err)
	}
}

// TestTLSFilesOpened (issue 11): check-config said OK on the shipped example, then run
// died on the missing TLS certificate. A tls listener's certificate and key are opened
// and paired when the configuration is loaded.
func TestTLSFilesOpened(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, "ynagw-test")
	cert, key, _ := ca.Issue(t, "sip", net.ParseIP("127.0.0.1"))
	_, otherKey, _ := ca.Issue(t, "other", net.ParseIP("127.0.0.1"))
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listener := func(c, k string) string {
		return "sip:\n  listen:\n    - transport: tls\n      cert_file: " + c + "\n      key_file: " + k + "\nusers:"
	}
	tests := []struct {
		name, cert, key string
		wantPath        string // "" = valid
		wantText        string
	}{
		{"valid pair", cert, key, "", ""},
		{"missing certificate", filepath.Join(dir, "nope.crt"), key, "sip.listen[0].cert_file", "no such file"},
		{"missing key", cert, filepath.Join(dir, "nope.key"), "sip.listen[0].key_file", "no such file"},
		{"certificate not PEM", garbage, key, "sip.listen[0].cert_file", "no PEM certificate"},
		{"key of another certificate", cert, otherKey, "sip.listen[0].key_file", "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(baseYAML(t), "users:", listener(tt.cert, tt.key), 1)
			_, err := Parse([]byte(y), noEnv)
			if tt.wantPath == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, fe := range FieldErrors(err) {
				if fe.Path == tt.wantPath && strings.Contains(fe.Msg, tt.wantText) {
					return
				}
			}
			t.Errorf("no problem at %s mentioning %q in %v", tt.wantPath, tt.wantText, err)
		})
	}
}

// copyTo copies file from to to (creating to's directory).
func copyTo(t *testing.T, from, to string) {
	t.Helper()
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

// TestLineOf: the line of an option, of its section when it is not written, 0 outside.
func TestLineOf(t *testing.T) {
	c, err := Parse([]byte(baseYAML(t)), nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(baseYAML(t), "\n")
	n := c.LineOf("store.key")
	if n == 0 || !strings.Contains(lines[n-1], "key:") {
		t.Errorf("LineOf(store.key) = %d (%q)", n, lines[max(n-1, 0)])
	}
	if s := c.LineOf("store"); s == 0 || s >= n {
		t.Errorf("LineOf(store) = %d, store.key on %d", s, n)
	}
	if c.LineOf("nowhere.at.all") != 0 {
		t.Error("LineOf of an unknown section is not 0")
	}
}
