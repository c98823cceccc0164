package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// KeySize is the token encryption key length (AES-256).
const KeySize = 32

// sealVersion prefixes every ciphertext so the format can evolve.
const sealVersion byte = 1

// ParseKey decodes a 32-byte token encryption key given as hex (64 digits) or
// base64 (standard or URL alphabet, padded or not). Surrounding whitespace is
// ignored, so the value can come straight from an environment file.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrKeyFormat)
	}
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		k, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("%w: base64 decodes to %d bytes", ErrKeyFormat, len(k))
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: neither 64 hex digits nor base64", ErrKeyFormat)
}

// NewKey returns a fresh random key, base64 encoded (for `ynagw keygen`-style use).
func NewKey() (string, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("store: random key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// sealer encrypts token values with AES-256-GCM. Output layout:
// version(1) || nonce(12) || ciphertext+tag. The additional data binds a
// ciphertext to its row and column so values cannot be swapped between lines.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: got %d bytes", ErrKeyFormat, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: gcm: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(plaintext, aad string) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("store: nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:], []byte(plaintext), []byte(aad)), nil
}

func (s *sealer) open(ciphertext []byte, aad string) (string, error) {
	ns := s.aead.NonceSize()
	if len(ciphertext) < 1+ns+s.aead.Overhead() || ciphertext[0] != sealVersion {
		return "", fmt.Errorf("%w: malformed ciphertext", ErrBadKey)
	}
	pt, err := s.aead.Open(nil, ciphertext[1:1+ns], ciphertext[1+ns:], []byte(aad))
	if err != nil {
		return "", ErrBadKey
	}
	return string(pt), nil
}

// sealOptional stores "" as NULL.
func (s *sealer) sealOptional(plaintext, aad string) (any, error) {
	if plaintext == "" {
		return nil, nil
	}
	return s.seal(plaintext, aad)
}

func (s *sealer) openOptional(ciphertext []byte, aad string) (string, error) {
	if ciphertext == nil {
		return "", nil
	}
	return s.open(ciphertext, aad)
}

func tokenAAD(column, msisdn string) string { return "ynagw/lines/" + column + "/" + msisdn }

const keyCheckAAD = "ynagw/meta/key_check"
const keyCheckPlain = "ynagw token key check"
