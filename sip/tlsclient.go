package sip

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// ErrTLSVerify: a TLS server we connected to presented a certificate that does
// not chain to the configured CAs (or does not name the host).
var ErrTLSVerify = errors.New("sip: TLS server certificate not trusted")

// clientTLSConfig is the tls.Config of every TLS connection we open (INVITEs to
// trunks and phones): TLS 1.2 at least, and the server certificate must chain to
// Config.CAFile (system roots when empty) and name the host dialled (crypto/tls's
// own verification). A trunk's CAFile adds its CAs, restricted to that trunk:
// VerifyConnection then requires that a certificate naming a trunk host with
// its own CAs chains to one of them, and that a chain ending in a trunk-only CA
// names that trunk's host.
func clientTLSConfig(cfg *Config) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	var global []*x509.Certificate
	if cfg.CAFile != "" {
		certs, err := readCAs(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("sip ca_file: %w", err)
		}
		global = certs
	}
	byHost := map[string][]*x509.Certificate{}
	for _, t := range cfg.Trunks {
		if t.CAFile == "" {
			continue
		}
		host, err := trunkHost(t.URI)
		if err != nil {
			return nil, fmt.Errorf("trunk %s: ca_file needs a uri: %w", t.Name, err)
		}
		certs, err := readCAs(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("trunk %s ca_file: %w", t.Name, err)
		}
		byHost[host] = append(byHost[host], certs...)
	}
	if len(global) == 0 && len(byHost) == 0 {
		return conf, nil // system roots
	}
	var pool *x509.CertPool
	if len(global) == 0 {
		sys, err := x509.SystemCertPool()
		if err != nil || sys == nil {
			sys = x509.NewCertPool()
		}
		pool = sys
	} else {
		pool = x509.NewCertPool()
	}
	for _, c := range global {
		pool.AddCert(c)
	}
	for _, certs := range byHost {
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	conf.RootCAs = pool
	if len(byHost) > 0 {
		conf.VerifyConnection = trunkCAsOnlyForTrunks(global, byHost)
	}
	return conf, nil
}

// trunkCAsOnlyForTrunks keeps each trunk's CAs to that trunk (see clientTLSConfig).
// It runs after crypto/tls verified the chain and the dialled name.
func trunkCAsOnlyForTrunks(global []*x509.Certificate, byHost map[string][]*x509.Certificate) func(tls.ConnectionState) error {
	in := func(c *x509.Certificate, list []*x509.Certificate) bool {
		for _, x := range list {
			if x.Equal(c) {
				return true
			}
		}
		return false
	}
	trunkOnly := func(root *x509.Certificate) bool {
		if in(root, global) {
			return false
		}
		for _, certs := range byHost {
			if in(root, certs) {
				return true
			}
		}
		return false
	}
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 || len(cs.VerifiedChains) == 0 {
			return fmt.Errorf("%w: no verified chain", ErrTLSVerify)
		}
		leaf := cs.PeerCertificates[0]
		ok := false
		for _, chain := range cs.VerifiedChains {
			root := chain[len(chain)-1]
			good := !trunkOnly(root)
			for host, certs := range byHost {
				if leaf.VerifyHostname(host) != nil {
					continue
				}
				if !in(root, certs) {
					good = false // a trunk host with its own CAs: only those vouch for it
					break
				}
				good = true
			}
			ok = ok || good
		}
		if !ok {
			return fmt.Errorf("%w: %q chains to a CA not configured for it", ErrTLSVerify, leaf.Subject.CommonName)
		}
		return nil
	}
}

func readCAs(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for len(b) > 0 {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return out, nil
}

// trunkHost is the lower-cased host of a trunk URI.
func trunkHost(uri string) (string, error) {
	var u sipmsg.Uri
	if err := sipmsg.ParseUri(strings.Trim(strings.TrimSpace(uri), "<>"), &u); err != nil {
		return "", err
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q has no host", uri)
	}
	return strings.ToLower(strings.Trim(u.Host, "[]")), nil
}
