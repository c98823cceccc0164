package store

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab, 0x01, 0xfe, 0x7f}, 8)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"hex lower", hex.EncodeToString(raw), true},
		{"hex upper", strings.ToUpper(hex.EncodeToString(raw)), true},
		{"base64 std", base64.StdEncoding.EncodeToString(raw), true},
		{"base64 raw", base64.RawStdEncoding.EncodeToString(raw), true},
		{"base64 url", base64.URLEncoding.EncodeToString(raw), true},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString(raw), true},
		{"whitespace around", "  " + hex.EncodeToString(raw) + "\n", true},
		{"empty", "", false},
		{"31 bytes hex", hex.EncodeToString(raw[:31]), false},
		{"16 bytes base64", base64.StdEncoding.EncodeToString(raw[:16]), false},
		{"33 bytes base64", base64.StdEncoding.EncodeToString(append(raw, 1)), false},
		{"garbage", "not a key!!", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey(tt.in)
			if !tt.ok {
				if !errors.Is(err, ErrKeyFormat) {
					t.Fatalf("ParseKey(%q) err = %v, want ErrKeyFormat", tt.in, err)
				}
				return
			}
			if err != nil || !bytes.Equal(k, raw) {
				t.Fatalf("ParseKey(%q) = %x, %v; want %x", tt.in, k, err, raw)
			}
		})
	}
}

func TestNewKey(t *testing.T) {
	a, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKey()
	if a == b {
		t.Fatal("two NewKey calls returned the same key")
	}
	if k, err := ParseKey(a); err != nil || len(k) != KeySize {
		t.Fatalf("ParseKey(NewKey()) = %d bytes, %v", len(k), err)
	}
}

func TestSealer(t *testing.T) {
	s1, err := newSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Clone(testKey)
	other[0] ^= 1
	s2, _ := newSealer(other)

	ct, err := s1.seal("secret-token", "aad-1")
	if err != nil {
		t.Fatal(err)
	}
	ct2, _ := s1.seal("secret-token", "aad-1")
	if bytes.Equal(ct, ct2) {
		t.Fatal("same plaintext sealed twice gave identical ciphertexts (nonce reuse)")
	}
	if bytes.Contains(ct, []byte("secret-token")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	tampered := bytes.Clone(ct)
	tampered[len(tampered)-1] ^= 1

	tests := []struct {
		name    string
		s       *sealer
		ct      []byte
		aad     string
		wantErr error
	}{
		{"round trip", s1, ct, "aad-1", nil},
		{"wrong key", s2, ct, "aad-1", ErrBadKey},
		{"wrong aad (value moved to another row)", s1, ct, "aad-2", ErrBadKey},
		{"tampered", s1, tampered, "aad-1", ErrBadKey},
		{"truncated", s1, ct[:10], "aad-1", ErrBadKey},
		{"unknown version", s1, append([]byte{9}, ct[1:]...), "aad-1", ErrBadKey},
		{"empty", s1, []byte{}, "aad-1", ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.s.open(tt.ct, tt.aad)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || pt != "" {
					t.Fatalf("open = %q, %v; want error %v", pt, err, tt.wantErr)
				}
				return
			}
			if err != nil || pt != "secret-token" {
				t.Fatalf("open = %q, %v", pt, err)
			}
		})
	}

	if _, err := newSealer(testKey[:16]); !errors.Is(err, ErrKeyFormat) {
		t.Fatalf("newSealer(16 bytes) err = %v, want ErrKeyFormat", err)
	}
}
