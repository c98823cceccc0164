package rtpmedia

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// key30 is a 30-byte master key||salt (bytes 1..30) in base64.
const key30 = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e"

func TestParseCrypto(t *testing.T) {
	tests := []struct {
		name     string
		value    string
		parseErr bool
		usable   bool
		tag      uint32
		suite    string
	}{
		{"80", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30, false, true, 1, SuiteAES128SHA1_80},
		{"32 tag 9", "9 AES_CM_128_HMAC_SHA1_32 inline:" + key30, false, true, 9, SuiteAES128SHA1_32},
		{"lifetime", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^20", false, true, 1, SuiteAES128SHA1_80},
		{"extra spaces", "  2   AES_CM_128_HMAC_SHA1_80   inline:" + key30 + "  ", false, true, 2, SuiteAES128SHA1_80},
		{"MKI", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^20|1:4", false, false, 1, SuiteAES128SHA1_80},
		{"MKI no lifetime", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|1:4", false, false, 1, SuiteAES128SHA1_80},
		{"two keys", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^20|1:4;inline:" + key30 + "|2^20|2:4", false, false, 1, ""},
		{"session param", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " UNENCRYPTED_SRTP", false, false, 1, ""},
		{"unknown suite", "1 AEAD_AES_256_GCM inline:" + key30, false, false, 1, "AEAD_AES_256_GCM"},
		{"short key", "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=", false, false, 1, ""},
		{"no key", "1 AES_CM_128_HMAC_SHA1_80", true, false, 0, ""},
		{"bad tag", "x AES_CM_128_HMAC_SHA1_80 inline:" + key30, true, false, 0, ""},
		{"tag too long", "1234567890 AES_CM_128_HMAC_SHA1_80 inline:" + key30, true, false, 0, ""},
		{"not inline", "1 AES_CM_128_HMAC_SHA1_80 uri:http://x", true, false, 0, ""},
		{"bad base64", "1 AES_CM_128_HMAC_SHA1_80 inline:!!!", true, false, 0, ""},
		{"empty", "", true, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCrypto(tt.value)
			if tt.parseErr {
				if !errors.Is(err, ErrMalformedSDP) {
					t.Fatalf("err = %v, want ErrMalformedSDP", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Tag != tt.tag || (tt.suite != "" && c.Suite != tt.suite) {
				t.Errorf("tag %d suite %q", c.Tag, c.Suite)
			}
			if uerr := c.Usable(); (uerr == nil) != tt.usable {
				t.Errorf("Usable() = %v, want usable %v", uerr, tt.usable)
			} else if uerr != nil && !errors.Is(uerr, ErrSRTP) {
				t.Errorf("Usable() = %v, not ErrSRTP", uerr)
			}
			if tt.usable {
				back, err := ParseCrypto(c.String())
				if err != nil || back.Tag != c.Tag || back.Suite != c.Suite || !bytes.Equal(back.Key, c.Key) {
					t.Errorf("round trip %q: %+v %v", c.String(), back, err)
				}
			}
		})
	}
}

func TestNewCrypto(t *testing.T) {
	a, err := NewCrypto(1, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCrypto(1, SuiteAES128SHA1_80)
	if err != nil {
		t.Fatal(err)
	}
	if a.Suite != SuiteAES128SHA1_80 || len(a.Key) != 30 || bytes.Equal(a.Key, b.Key) || a.Usable() != nil {
		t.Fatalf("NewCrypto: %+v / %+v", a, b)
	}
	if !strings.HasPrefix(a.String(), "1 AES_CM_128_HMAC_SHA1_80 inline:") || len(a.String()) != len("1 AES_CM_128_HMAC_SHA1_80 inline:")+40 {
		t.Fatalf("String %q", a.String())
	}
	for _, bad := range []struct {
		tag   uint32
		suite string
	}{{0, ""}, {1e9, ""}, {1, "NULL_HMAC_SHA1_80"}} {
		if _, err := NewCrypto(bad.tag, bad.suite); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewCrypto(%d, %q) = %v", bad.tag, bad.suite, err)
		}
	}
}

func TestParseSRTPMode(t *testing.T) {
	for s, want := range map[string]SRTPMode{"": SRTPOff, "off": SRTPOff, "optional": SRTPOptional, "required": SRTPRequired} {
		if m, err := ParseSRTPMode(s); err != nil || m != want || (s != "" && m.String() != s) {
			t.Errorf("ParseSRTPMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseSRTPMode("yes"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ParseSRTPMode(yes) = %v", err)
	}
}
