package yna

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// PoP (X-Authorization) token, fact sheet §4.

// Names of the pseudo-headers in ehts (§4.1).
const (
	PoPNameMethod = "http-method"
	PoPNameURI    = "uri"
	PoPNameBody   = "body"
)

// PoPValidity is exp − iat of every token the SDK builds, and the maximum a verifier accepts (§4.1, §12).
const PoPValidity = 120 * time.Second

// popJOSEHeader is the exact JOSE header of §4.1 step 5, base64url-encoded once.
var popJOSEHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))

// Header is one (name, value) pair signed into a PoP token, in order.
type Header struct{ Name, Value string }

// PoPClaims is the claim set of a PoP token; fields marshal in the §4.1 member order.
type PoPClaims struct {
	EDTS string `json:"edts"`
	V    string `json:"v"`
	EHTS string `json:"ehts"`
	IAT  int64  `json:"iat"`
	EXP  int64  `json:"exp"`
	JTI  string `json:"jti"`
}

// ParsePrivateKeyPEM parses an RSA private key in PKCS#8 ("BEGIN PRIVATE KEY") or PKCS#1
// ("BEGIN RSA PRIVATE KEY") PEM. PEM text without real line breaks, or with literal "\n"
// escapes, is accepted too. Unlike the SDK, the text "/n" is NOT stripped (§4.5).
func ParsePrivateKeyPEM(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, err := decodePEM(pemBytes)
	if err != nil {
		return nil, err
	}
	if k, err8 := x509.ParsePKCS8PrivateKey(block.Bytes); err8 == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("yna: private key is %T, not RSA", k)
		}
		return rk, nil
	} else if k1, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 == nil {
		return k1, nil
	} else {
		return nil, fmt.Errorf("yna: parse private key (%s): %w", block.Type, err8)
	}
}

// ParsePublicKeyPEM parses an RSA public key in PKIX ("BEGIN PUBLIC KEY") PEM; PKCS#1
// ("BEGIN RSA PUBLIC KEY") is accepted too.
func ParsePublicKeyPEM(pemBytes []byte) (*rsa.PublicKey, error) {
	block, err := decodePEM(pemBytes)
	if err != nil {
		return nil, err
	}
	if k, errX := x509.ParsePKIXPublicKey(block.Bytes); errX == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("yna: public key is %T, not RSA", k)
		}
		return rk, nil
	} else if k1, err1 := x509.ParsePKCS1PublicKey(block.Bytes); err1 == nil {
		return k1, nil
	} else {
		return nil, fmt.Errorf("yna: parse public key (%s): %w", block.Type, errX)
	}
}

// MarshalPrivateKeyPEM encodes key as PKCS#8 "BEGIN PRIVATE KEY" PEM.
func MarshalPrivateKeyPEM(key *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("yna: marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKeyPEM encodes pub as PKIX "BEGIN PUBLIC KEY" PEM.
func MarshalPublicKeyPEM(pub *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("yna: marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// decodePEM decodes the first PEM block; if the standard decoder fails it retries after
// turning literal "\n" escapes into line breaks and re-wrapping a single-line PEM.
func decodePEM(b []byte) (*pem.Block, error) {
	if block, _ := pem.Decode(b); block != nil {
		return block, nil
	}
	s := strings.ReplaceAll(string(b), `\r`, "")
	s = strings.ReplaceAll(s, `\n`, "\n")
	if block, _ := pem.Decode([]byte(s)); block != nil {
		return block, nil
	}
	// Single-line PEM: -----BEGIN X-----<base64>-----END X-----
	const begin, dashes = "-----BEGIN ", "-----"
	i := strings.Index(s, begin)
	if i < 0 {
		return nil, errors.New("yna: no PEM block found")
	}
	rest := s[i+len(begin):]
	j := strings.Index(rest, dashes)
	if j < 0 {
		return nil, errors.New("yna: malformed PEM header")
	}
	typ := rest[:j]
	rest = rest[j+len(dashes):]
	end := "-----END " + typ + dashes
	k := strings.Index(rest, end)
	if k < 0 {
		return nil, errors.New("yna: PEM end marker not found")
	}
	b64 := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, rest[:k])
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("yna: PEM body: %w", err)
	}
	return &pem.Block{Type: typ, Bytes: der}, nil
}

// PoPSigner builds X-Authorization tokens with an application's RSA key (§4.1).
// It is safe for concurrent use.
type PoPSigner struct {
	key    *rsa.PrivateKey
	now    func() time.Time
	newJTI func() string
}

// NewPoPSigner returns a signer using the wall clock and random UUID v4 jti values.
func NewPoPSigner(key *rsa.PrivateKey) *PoPSigner {
	return &PoPSigner{key: key, now: time.Now, newJTI: func() string { return uuid.NewString() }}
}

// WithClock returns a copy of s that takes iat from now (for tests and simulators).
func (s *PoPSigner) WithClock(now func() time.Time) *PoPSigner {
	c := *s
	c.now = now
	return &c
}

// Sign builds the X-Authorization JWT per §4.1: ehts/edts cover http-method, uri (path plus
// query exactly as sent), the headers in the given order, and body unless body is nil.
func (s *PoPSigner) Sign(method, uri string, headers []Header, body []byte) (string, error) {
	if s == nil || s.key == nil {
		return "", errors.New("yna: PoP signer has no key")
	}
	ehts, edts := PoPDigest(method, uri, headers, body)
	iat := s.now().Unix()
	return SignPoPClaims(s.key, PoPClaims{
		EDTS: edts, V: "1", EHTS: ehts,
		IAT: iat, EXP: iat + int64(PoPValidity/time.Second), JTI: s.newJTI(),
	})
}

// PoPDigest returns the ehts and edts members for a request (§4.1 steps 1–3).
func PoPDigest(method, uri string, headers []Header, body []byte) (ehts, edts string) {
	names := make([]string, 0, len(headers)+3)
	values := make([]string, 0, len(headers)+3)
	names = append(names, PoPNameMethod, PoPNameURI)
	values = append(values, strings.ToUpper(method), uri)
	for _, h := range headers {
		names = append(names, h.Name)
		values = append(values, h.Value)
	}
	if body != nil {
		names = append(names, PoPNameBody)
		values = append(values, string(body))
	}
	return strings.Join(names, ";"), EDTS(values)
}

// EDTS returns base64url-nopad(SHA-256(concat(values))) (§4.1 step 3).
func EDTS(values []string) string {
	h := sha256.New()
	for _, v := range values {
		h.Write([]byte(v))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// SignPoPClaims signs arbitrary claims as an RS256 compact JWS with the §4.1 JOSE header.
// Sign is the normal entry point; this one lets tests and simulators build odd tokens.
func SignPoPClaims(key *rsa.PrivateKey, c PoPClaims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("yna: marshal PoP claims: %w", err)
	}
	signing := popJOSEHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("yna: sign PoP: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// PoPError is returned by VerifyPoP when a token is rejected.
type PoPError struct {
	Reason string
}

func (e *PoPError) Error() string { return "yna: PoP rejected: " + e.Reason }

func popErr(format string, args ...any) error {
	return &PoPError{Reason: fmt.Sprintf(format, args...)}
}

// VerifyOptions tunes VerifyPoP.
type VerifyOptions struct {
	// Now is the verification time; zero means time.Now().
	Now time.Time
	// MaxSkew is the tolerated clock skew on iat/exp; zero means DefaultPoPMaxSkew,
	// negative means none.
	MaxSkew time.Duration
	// Require lists names that must appear in ehts; "body" is implicitly required when the
	// request body is non-empty. See StrictPoPRequire.
	Require []string
	// SeenJTI, if set, is called last (only for otherwise valid tokens) and returns true if
	// the jti was already used; it should also record jti.
	SeenJTI func(jti string) bool
}

// VerifyPoP checks a PoP token server-side per §4.3 and §18.7 against the request: r.Method,
// r.RequestURI (the raw request-target; r.URL.RequestURI() if empty), headers looked up
// case-insensitively, and the raw body bytes. A rejection is a *PoPError.
func VerifyPoP(token string, pub *rsa.PublicKey, r *http.Request, body []byte, opt VerifyOptions) (*PoPClaims, error) {
	if pub == nil {
		return nil, popErr("no public key")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, popErr("token is not a compact JWS (%d parts)", len(parts))
	}
	hdrJSON, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, popErr("bad JOSE header encoding")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return nil, popErr("bad JOSE header JSON")
	}
	if hdr.Alg != "RS256" {
		return nil, popErr("alg %q is not RS256", hdr.Alg)
	}
	if hdr.Typ != "" && !strings.EqualFold(hdr.Typ, "JWT") {
		return nil, popErr("typ %q is not JWT", hdr.Typ)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, popErr("bad signature encoding")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return nil, popErr("bad signature")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, popErr("bad claims encoding")
	}
	var raw struct {
		EDTS *string `json:"edts"`
		V    *string `json:"v"`
		EHTS *string `json:"ehts"`
		IAT  *int64  `json:"iat"`
		EXP  *int64  `json:"exp"`
		JTI  *string `json:"jti"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&raw); err != nil {
		return nil, popErr("bad claims JSON: %v", err)
	}
	if raw.EDTS == nil || raw.V == nil || raw.EHTS == nil || raw.IAT == nil || raw.EXP == nil || raw.JTI == nil {
		return nil, popErr("missing claim (need edts, v, ehts, iat, exp, jti)")
	}
	c := &PoPClaims{EDTS: *raw.EDTS, V: *raw.V, EHTS: *raw.EHTS, IAT: *raw.IAT, EXP: *raw.EXP, JTI: *raw.JTI}
	if c.V != "1" {
		return nil, popErr("v %q is not \"1\"", c.V)
	}

	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	skew := opt.MaxSkew
	if skew == 0 {
		skew = DefaultPoPMaxSkew
	} else if skew < 0 {
		skew = 0
	}
	nowS := now.Unix()
	skewS := int64(skew / time.Second)
	switch {
	case c.EXP < c.IAT:
		return nil, popErr("exp before iat")
	case c.EXP-c.IAT > int64(PoPValidity/time.Second):
		return nil, popErr("exp-iat %d s exceeds %d s", c.EXP-c.IAT, int64(PoPValidity/time.Second))
	case c.IAT > nowS+skewS:
		return nil, popErr("iat in the future")
	case c.EXP < nowS-skewS:
		return nil, popErr("token expired")
	}

	names := strings.Split(c.EHTS, ";")
	present := make(map[string]bool, len(names))
	for _, n := range names {
		present[n] = true
	}
	for _, n := range opt.Require {
		if !present[n] {
			return nil, popErr("ehts lacks required %q", n)
		}
	}
	if len(body) > 0 && !present[PoPNameBody] {
		return nil, popErr("ehts lacks \"body\" although a body was sent")
	}

	values := make([]string, 0, len(names))
	for _, n := range names {
		switch n {
		case PoPNameMethod:
			values = append(values, r.Method)
		case PoPNameURI:
			uri := r.RequestURI
			if uri == "" && r.URL != nil {
				uri = r.URL.RequestURI()
			}
			values = append(values, uri)
		case PoPNameBody:
			values = append(values, string(body))
		case "":
			return nil, popErr("empty name in ehts")
		default:
			vs := r.Header.Values(n)
			if len(vs) == 0 {
				return nil, popErr("header %q named in ehts is missing", n)
			}
			values = append(values, vs[0])
		}
	}
	if subtle.ConstantTimeCompare([]byte(EDTS(values)), []byte(c.EDTS)) != 1 {
		return nil, popErr("edts mismatch")
	}
	if c.JTI == "" {
		return nil, popErr("empty jti")
	}
	if opt.SeenJTI != nil && opt.SeenJTI(c.JTI) {
		return nil, popErr("jti reused")
	}
	return c, nil
}

// JTICache remembers PoP jti values long enough to reject replays (a token is only valid
// for PoPValidity plus skew) and forgets them afterwards, so memory stays bounded.
// Its Seen method fits VerifyOptions.SeenJTI. Safe for concurrent use.
type JTICache struct {
	mu        sync.Mutex
	ttl       time.Duration
	now       func() time.Time
	seen      map[string]time.Time
	lastSweep time.Time
}

// NewJTICache returns a cache keeping each jti for PoPValidity + 2×DefaultPoPMaxSkew.
// now may be nil (time.Now).
func NewJTICache(now func() time.Time) *JTICache {
	if now == nil {
		now = time.Now
	}
	return &JTICache{ttl: PoPValidity + 2*DefaultPoPMaxSkew, now: now, seen: make(map[string]time.Time)}
}

// Seen records jti and reports whether it had been recorded before (within the TTL).
func (c *JTICache) Seen(jti string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Sub(c.lastSweep) > c.ttl {
		for k, t := range c.seen {
			if now.Sub(t) > c.ttl {
				delete(c.seen, k)
			}
		}
		c.lastSweep = now
	}
	if t, ok := c.seen[jti]; ok && now.Sub(t) <= c.ttl {
		return true
	}
	c.seen[jti] = now
	return false
}

// Len returns the number of remembered jti values.
func (c *JTICache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
