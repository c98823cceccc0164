package store

import (
	"errors"
	"testing"
)

// FuzzParseKey: never panics; a nil error always means exactly KeySize bytes,
// otherwise the error is ErrKeyFormat.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		"", " ", "zz", "====",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			if !errors.Is(err, ErrKeyFormat) || k != nil {
				t.Fatalf("ParseKey(%q) = %x, %v", s, k, err)
			}
			return
		}
		if len(k) != KeySize {
			t.Fatalf("ParseKey(%q) returned %d bytes", s, len(k))
		}
	})
}
