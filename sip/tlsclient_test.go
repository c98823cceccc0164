package sip

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testCA is a CA generated in the test, able to issue server certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM of the CA certificate
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), name+".pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// issue returns a server certificate for ips signed by the CA.
func (ca *testCA) issue(t *testing.T, ips ...net.IP) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "pbx"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: ips, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsTrunk is a minimal SIP-over-TLS peer: it answers every INVITE with 486 and
// reports handshake failures and INVITEs on events.
type tlsTrunk struct {
	ln     net.Listener
	events chan string // "invite", "handshake: <err>"
}

func startTLSTrunk(t *testing.T, cert tls.Certificate, maxVersion uint16) *tlsTrunk {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion})
	if err != nil {
		t.Fatal(err)
	}
	tr := &tlsTrunk{ln: ln, events: make(chan string, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go tr.serve(c.(*tls.Conn))
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return tr
}

func (tr *tlsTrunk) serve(c *tls.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		tr.events <- "handshake: " + err.Error()
		return
	}
	r := bufio.NewReader(c)
	for {
		hdrs := map[string]string{}
		var first string
		clen := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if line == "" {
				break
			}
			if first == "" {
				first = line
				continue
			}
			k, v, _ := strings.Cut(line, ":")
			k = strings.ToLower(strings.TrimSpace(k))
			if _, dup := hdrs[k]; !dup {
				hdrs[k] = strings.TrimSpace(v)
			}
			if k == "content-length" {
				clen, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if _, err := io.CopyN(io.Discard, r, int64(clen)); err != nil {
			return
		}
		if !strings.HasPrefix(first, "INVITE ") {
			continue // ACK
		}
		tr.events <- "invite"
		fmt.Fprintf(c, "SIP/2.0 486 Busy Here\r\nVia: %s\r\nFrom: %s\r\nTo: %s;tag=pbx1\r\nCall-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n",
			hdrs["via"], hdrs["from"], hdrs["to"], hdrs["call-id"], hdrs["cseq"])
	}
}

// TestTLSClientVerifiesServer: INVITEs over TLS reach a PBX only when its
// certificate chains to the trunk's ca_file (or the global one) and names the
// host, over TLS 1.2 or later. Without a configured CA the test CA is unknown
// (system roots), as before this option existed.
func TestTLSClientVerifiesServer(t *testing.T) {
	ca1, ca2 := newTestCA(t, "pbx-ca"), newTestCA(t, "other-ca")
	lo := net.IPv4(127, 0, 0, 1)
	certFile, keyFile, _ := selfSigned(t) // our own listener (TLS requests need one for Via/Contact)
	tests := []struct {
		name       string
		cert       tls.Certificate
		maxVersion uint16
		trunkCA    string
		globalCA   string
		reached    bool
		trunkHost  string // the trunk's URI host; "" = the PBX dialled
	}{
		{"trunk ca_file", ca1.issue(t, lo), 0, ca1.file, "", true, ""},
		{"global ca_file", ca1.issue(t, lo), 0, "", ca1.file, true, ""},
		{"trunk ca_file wins over global", ca1.issue(t, lo), 0, ca1.file, ca2.file, true, ""},
		{"other CA", ca2.issue(t, lo), 0, ca1.file, "", false, ""},
		{"global other CA", ca2.issue(t, lo), 0, "", ca1.file, false, ""},
		{"no CA configured", ca1.issue(t, lo), 0, "", "", false, ""},
		{"wrong host", ca1.issue(t, net.IPv4(127, 0, 0, 2)), 0, ca1.file, "", false, ""},
		{"TLS 1.1 only", ca1.issue(t, lo), tls.VersionTLS11, ca1.file, "", false, ""},
		{"TLS 1.1 only, global CA", ca1.issue(t, lo), tls.VersionTLS11, "", ca1.file, false, ""},
		{"trunk CA only for its trunk", ca2.issue(t, lo), 0, ca2.file, ca1.file, false, "127.0.0.2"},
		{"trunk host not vouched by global CA", ca1.issue(t, lo), 0, ca2.file, ca1.file, false, ""},
		{"global CA for a non-trunk host", ca1.issue(t, lo), 0, ca2.file, ca1.file, true, "127.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pbx := startTLSTrunk(t, tt.cert, tt.maxVersion)
			uri := fmt.Sprintf("sip:2000@%s;transport=tls", pbx.ln.Addr())
			trunkURI := uri
			if tt.trunkHost != "" {
				trunkURI = "sip:2000@" + tt.trunkHost + ":5061;transport=tls"
			}
			s := newTestServer(t, func(c *Config) {
				c.CAFile = tt.globalCA
				c.Listen = append(c.Listen, ListenConfig{Network: "tls", Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile})
				c.Trunks = append(c.Trunks, Trunk{Name: "pbx", URI: trunkURI, CAFile: tt.trunkCA})
			})
			oc, err := s.Dial(t.Context(), DialRequest{From: "<sip:gw@127.0.0.1>", Targets: []Target{{URI: uri}}, Offer: []byte(rawSDP("sendrecv")), RingTimeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			var code int
			deadline := time.After(30 * time.Second)
		wait:
			for {
				select {
				case ev, ok := <-oc.Events():
					if !ok {
						break wait
					}
					if f, isFail := ev.(*FailedEvent); isFail {
						code = f.Code
					}
				case <-deadline:
					t.Fatal("fork did not end")
				}
			}
			var ev string
			select {
			case ev = <-pbx.events:
			case <-time.After(10 * time.Second):
				t.Fatal("the PBX saw no connection")
			}
			if tt.reached {
				if ev != "invite" || code != 486 {
					t.Fatalf("PBX event %q, fork code %d: want the INVITE and its 486", ev, code)
				}
				return
			}
			if ev == "invite" || code == 486 {
				t.Fatalf("PBX event %q, fork code %d: the INVITE got through", ev, code)
			}
			t.Logf("refused: %s (fork %d)", ev, code)
		})
	}
}

// TestTLSListenerRefusesOldTLS: the listener takes TLS 1.2 and refuses TLS 1.1.
func TestTLSListenerRefusesOldTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	s := newTestServer(t, func(c *Config) {
		c.Listen = append(c.Listen, ListenConfig{Network: "tls", Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile})
	})
	for _, v := range []struct {
		max uint16
		ok  bool
	}{{tls.VersionTLS11, false}, {tls.VersionTLS12, true}} {
		conn, err := tls.Dial("tcp", s.Addr("tls").String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS10, MaxVersion: v.max})
		if (err == nil) != v.ok {
			t.Errorf("client max version %x: err %v", v.max, err)
		}
		if err == nil {
			_ = conn.Close()
		}
	}
}

// TestClientTLSConfigErrors: unreadable or empty CA files fail Start.
func TestClientTLSConfigErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("no pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{CAFile: "/nonexistent/ca.pem"},
		{CAFile: empty},
		{Trunks: []Trunk{{Name: "pbx", URI: "sip:pbx.test;transport=tls", CAFile: empty}}},
		{Trunks: []Trunk{{Name: "pbx", AllowFrom: nil, Username: "u", Password: "p", CAFile: empty}}},
	} {
		cfg.Listen = []ListenConfig{{Network: "udp", Addr: "127.0.0.1:0"}}
		s, err := NewServer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(t.Context()); err == nil {
			t.Errorf("Start with %+v succeeded", cfg.Trunks)
		}
		_ = s.Close()
	}
}
