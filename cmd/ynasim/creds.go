package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ynagw/ynagw/yna"
)

// creds are the demo application credentials kept in the state directory.
type creds struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	// KeyPath is the PKCS#8 private key PEM (not stored in the JSON file).
	KeyPath string `json:"-"`
	// PublicPEM is the matching public key PEM.
	PublicPEM string `json:"-"`
}

const (
	credsFile = "app.json"
	keyFile   = "private-key.pem"
	pubFile   = "public-key.pem"
)

// defaultStateDir is $XDG_STATE_HOME/ynasim, ~/.local/state/ynasim, or a temp dir.
func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "ynasim")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "ynasim")
	}
	return filepath.Join(os.TempDir(), "ynasim")
}

// loadOrCreateCreds reads the credentials in dir, generating them if absent.
func loadOrCreateCreds(dir string) (creds, bool, error) {
	c, err := loadCreds(dir)
	if err == nil {
		return c, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return creds{}, false, err
	}
	c, err = createCreds(dir)
	return c, true, err
}

func loadCreds(dir string) (creds, error) {
	var c creds
	b, err := os.ReadFile(filepath.Join(dir, credsFile))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", credsFile, err)
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		return c, fmt.Errorf("%s: clientId or clientSecret missing", credsFile)
	}
	c.KeyPath = filepath.Join(dir, keyFile)
	pemBytes, err := os.ReadFile(c.KeyPath)
	if err != nil {
		return c, err
	}
	key, err := yna.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		return c, fmt.Errorf("%s: %w", c.KeyPath, err)
	}
	pub, err := yna.MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		return c, err
	}
	c.PublicPEM = string(pub)
	return c, nil
}

// createCreds generates fresh credentials. The key is regenerated until its PEM text has no
// "/n", which the published SDK would strip before signing (§4.5, §18.5).
func createCreds(dir string) (creds, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return creds{}, err
	}
	var key *rsa.PrivateKey
	var pemBytes []byte
	for i := 0; ; i++ {
		if i == 50 {
			return creds{}, errors.New("could not generate a key without \"/n\" in its PEM")
		}
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return creds{}, err
		}
		p, err := yna.MarshalPrivateKeyPEM(k)
		if err != nil {
			return creds{}, err
		}
		if !strings.Contains(string(p), "/n") {
			key, pemBytes = k, p
			break
		}
	}
	pub, err := yna.MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		return creds{}, err
	}
	c := creds{ClientID: "ynasim-demo-" + randHex(4), ClientSecret: randHex(16),
		KeyPath: filepath.Join(dir, keyFile), PublicPEM: string(pub)}
	if err := os.WriteFile(c.KeyPath, pemBytes, 0o600); err != nil {
		return creds{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, pubFile), pub, 0o644); err != nil {
		return creds{}, err
	}
	j, _ := json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, credsFile), append(j, '\n'), 0o600); err != nil {
		return creds{}, err
	}
	return c, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
