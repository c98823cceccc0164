package rtpmedia

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/srtp/v3"
)

// SDES crypto suites (RFC 4568 §6.2) we support, in our preference order.
const (
	SuiteAES128SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
	SuiteAES128SHA1_32 = "AES_CM_128_HMAC_SHA1_32"
)

// suite is a supported suite's pion profile and master key||salt length.
type suite struct {
	profile srtp.ProtectionProfile
	keyLen  int
}

// suites maps a supported suite name to its profile and key length.
var suites = map[string]suite{
	SuiteAES128SHA1_80: {srtp.ProtectionProfileAes128CmHmacSha1_80, 30},
	SuiteAES128SHA1_32: {srtp.ProtectionProfileAes128CmHmacSha1_32, 30},
}

// Crypto is one SDES a=crypto attribute (RFC 4568 §9.1):
// "<tag> <suite> inline:<base64 key||salt>[|lifetime][|MKI:len] [session params]".
type Crypto struct {
	Tag   uint32 // 1-9 digits
	Suite string // e.g. AES_CM_128_HMAC_SHA1_80
	Key   []byte // master key || master salt
	// unusable says why this attribute cannot be used (unknown suite, MKI,
	// several keys, session parameters, wrong key length); "" = usable.
	unusable string
}

// NewCrypto returns a Crypto with a fresh random master key and salt for suite
// (SuiteAES128SHA1_80 if "").
func NewCrypto(tag uint32, suite string) (*Crypto, error) {
	if suite == "" {
		suite = SuiteAES128SHA1_80
	}
	s, ok := suites[suite]
	if !ok {
		return nil, newError(ErrInvalidConfig, 500, "unsupported crypto suite %q", suite)
	}
	if tag == 0 || tag > 999999999 {
		return nil, newError(ErrInvalidConfig, 500, "crypto tag %d out of range", tag)
	}
	key := make([]byte, s.keyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("rtpmedia: SRTP key: %w", err)
	}
	return &Crypto{Tag: tag, Suite: suite, Key: key}, nil
}

// ParseCrypto parses the value of an a=crypto attribute. It fails only on
// syntax; a well-formed attribute we cannot use (see Usable) parses.
func ParseCrypto(v string) (Crypto, error) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return Crypto{}, malformed("a=crypto %q: want <tag> <suite> <key-params>", v)
	}
	tag, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil || len(f[0]) > 9 {
		return Crypto{}, malformed("a=crypto tag %q", f[0])
	}
	c := Crypto{Tag: uint32(tag), Suite: f[1]}
	s, known := suites[c.Suite]
	switch {
	case !known:
		c.unusable = "unsupported suite " + c.Suite
	case len(f) > 3:
		c.unusable = "session parameters " + strings.Join(f[3:], " ")
	case strings.Contains(f[2], ";"):
		c.unusable = "several master keys"
	}
	for i, kp := range strings.Split(f[2], ";") {
		method, info, ok := strings.Cut(kp, ":")
		if !ok || method != "inline" {
			return Crypto{}, malformed("a=crypto key method %q: only inline", method)
		}
		keyText, rest, _ := strings.Cut(info, "|")
		key, err := base64.StdEncoding.DecodeString(keyText)
		if err != nil {
			if key, err = base64.RawStdEncoding.DecodeString(keyText); err != nil {
				return Crypto{}, malformedCause(err, "a=crypto key is not base64")
			}
		}
		if i > 0 {
			continue
		}
		c.Key = key
		if rest != "" && strings.Contains(rest, ":") && c.unusable == "" {
			c.unusable = "MKI" // lifetime alone is fine; |MKI:len is not supported
		}
		if c.unusable == "" && len(key) != s.keyLen {
			c.unusable = fmt.Sprintf("key of %d bytes, want %d", len(key), s.keyLen)
		}
	}
	return c, nil
}

// Usable returns nil if we can use this attribute, else an error saying why.
func (c Crypto) Usable() error {
	if c.unusable != "" {
		return srtpError("a=crypto:%d %s", c.Tag, c.unusable)
	}
	return nil
}

// String returns the attribute value "<tag> <suite> inline:<key>".
func (c Crypto) String() string {
	return strconv.FormatUint(uint64(c.Tag), 10) + " " + c.Suite + " inline:" + base64.StdEncoding.EncodeToString(c.Key)
}

// withTag returns a copy of c carrying tag (the answer repeats the offer's tag).
func (c *Crypto) withTag(tag uint32) *Crypto {
	cp := *c
	cp.Tag = tag
	return &cp
}
