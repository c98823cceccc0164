package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tlsListener replaces the default listener list with a udp and a tls one (with a real
// certificate and key: they are opened when the configuration is loaded).
func tlsListener(t *testing.T) string {
	cert, key := tlsPair(t)
	return "sip:\n  listen:\n    - transport: udp\n    - transport: tls\n      cert_file: " + cert + "\n      key_file: " + key + "\nusers:"
}

// TestSRTPAndCAFile: users[].srtp, trunks[].srtp, trunks[].ca_file and sip.ca_file
// are checked and reach sip.Config.
func TestSRTPAndCAFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	writeTestCA(t, ca)
	tests := []struct {
		name     string
		edits    []string // old, new pairs applied to base
		wantPath string   // "" = valid
		wantText string
	}{
		{"bad user value", []string{"    password: pw", "    password: pw\n    srtp: yes"}, "users[0].srtp", "not off, optional or required"},
		{"bad trunk value", []string{"    uri: sip:127.0.0.1:5070", "    uri: sip:127.0.0.1:5070\n    srtp: mandatory"}, "trunks[0].srtp", "not off"},
		{"required without tls listener", []string{"    password: pw", "    password: pw\n    srtp: required"}, "users[0].srtp", "needs a tls listener"},
		{"optional without tls listener", []string{"    uri: sip:127.0.0.1:5070", "    uri: sip:127.0.0.1:5070\n    srtp: optional"}, "trunks[0].srtp", "needs a tls listener"},
		{"off without tls listener", []string{"    password: pw", "    password: pw\n    srtp: off"}, "", ""},
		{"required with tls listener", []string{"users:", tlsListener(t), "    password: pw", "    password: pw\n    srtp: required"}, "", ""},
		{"trunk ca_file missing", []string{"    uri: sip:127.0.0.1:5070", "    uri: sip:127.0.0.1:5070\n    ca_file: /nonexistent/ca.pem"}, "trunks[0].ca_file", "no such file"},
		{"global ca_file not PEM", []string{"users:", "sip:\n  ca_file: " + notPEM + "\nusers:"}, "sip.ca_file", "no PEM certificate"},
		{"ca_files valid", []string{"users:", "sip:\n  ca_file: " + ca + "\nusers:", "    uri: sip:127.0.0.1:5070", "    uri: sip:127.0.0.1:5070\n    ca_file: " + ca}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := baseYAML(t)
			for i := 0; i+1 < len(tt.edits); i += 2 {
				if !strings.Contains(y, tt.edits[i]) {
					t.Fatalf("edit %q not in base", tt.edits[i])
				}
				y = strings.Replace(y, tt.edits[i], tt.edits[i+1], 1)
			}
			c, err := Parse([]byte(y), noEnv)
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("unexpected error %v for\n%s", err, y)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error for\n%s", y)
			}
			for _, fe := range FieldErrors(err) {
				if fe.Path == tt.wantPath && strings.Contains(fe.Msg, tt.wantText) {
					return
				}
			}
			t.Fatalf("no FieldError at %q with %q in %v (config %v)", tt.wantPath, tt.wantText, err, c != nil)
		})
	}
}

// TestSRTPConverted: the options reach sip.Config (users also through SIPUsers, so a
// SIGHUP reload carries them).
func TestSRTPConverted(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writeTestCA(t, ca)
	y := strings.NewReplacer(
		"users:", strings.Replace(tlsListener(t), "users:", "  ca_file: "+ca+"\nusers:", 1),
		"    password: pw", "    password: pw\n    srtp: required",
		"    uri: sip:127.0.0.1:5070", "    uri: sip:127.0.0.1:5070\n    srtp: optional\n    ca_file: "+ca,
	).Replace(baseYAML(t))
	c, err := Parse([]byte(y), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := c.SIP()
	if s.CAFile != ca || len(s.Users) != 1 || s.Users[0].SRTP != "required" || len(s.Trunks) != 1 ||
		s.Trunks[0].SRTP != "optional" || s.Trunks[0].CAFile != ca {
		t.Fatalf("sip config: CAFile %q users %+v trunks %+v", s.CAFile, s.Users, s.Trunks)
	}
	if u := c.SIPUsers(); u[0].SRTP != "required" {
		t.Fatalf("SIPUsers lost srtp: %+v", u)
	}
}

// writeTestCA writes a freshly generated self-signed CA certificate (PEM) to path.
func writeTestCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "config test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
