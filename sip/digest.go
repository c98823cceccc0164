package sip

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// digestCreds are the parsed fields of an Authorization / Proxy-Authorization header.
type digestCreds struct {
	Username, Realm, Nonce, URI, Response, Algorithm, CNonce, Opaque, QOP, NC string
}

// parseDigestCreds parses `Digest k=v, k="v", ...`. Quoted strings may contain commas.
func parseDigestCreds(h string) (digestCreds, error) {
	var c digestCreds
	h = strings.TrimSpace(h)
	if len(h) < 7 || !strings.EqualFold(h[:7], "digest ") {
		return c, errors.New("digest: not a Digest header")
	}
	params, err := parseAuthParams(h[7:])
	if err != nil {
		return c, err
	}
	c = digestCreds{
		Username: params["username"], Realm: params["realm"], Nonce: params["nonce"], URI: params["uri"],
		Response: params["response"], Algorithm: params["algorithm"], CNonce: params["cnonce"],
		Opaque: params["opaque"], QOP: params["qop"], NC: params["nc"],
	}
	if c.Username == "" || c.Nonce == "" || c.Response == "" || c.URI == "" {
		return c, errors.New("digest: missing username, nonce, uri or response")
	}
	return c, nil
}

func parseAuthParams(s string) (map[string]string, error) {
	out := map[string]string{}
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ' ' || s[i] == ',' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, fmt.Errorf("digest: bad parameter %q", s[i:])
		}
		key := strings.ToLower(strings.TrimSpace(s[i : i+eq]))
		i += eq + 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		var val string
		if i < len(s) && s[i] == '"' {
			i++
			var b strings.Builder
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
				i++
			}
			if i >= len(s) {
				return nil, errors.New("digest: unterminated quoted string")
			}
			i++ // closing quote
			val = b.String()
		} else {
			j := strings.IndexByte(s[i:], ',')
			if j < 0 {
				j = len(s) - i
			}
			val = strings.TrimSpace(s[i : i+j])
			i += j
		}
		out[key] = val
	}
	return out, nil
}

func hasherFor(alg string) (func() hash.Hash, error) {
	switch strings.ToUpper(alg) {
	case "", "MD5":
		return md5.New, nil
	case "SHA-256":
		return sha256.New, nil
	}
	return nil, fmt.Errorf("digest: unsupported algorithm %q", alg)
}

func hexHash(h func() hash.Hash, s string) string {
	x := h()
	x.Write([]byte(s))
	return hex.EncodeToString(x.Sum(nil))
}

// digestResponse computes the RFC 2617 / RFC 8760 response value.
func digestResponse(alg, user, realm, password, method, uri, nonce, nc, cnonce, qop string) (string, error) {
	h, err := hasherFor(alg)
	if err != nil {
		return "", err
	}
	ha1 := hexHash(h, user+":"+realm+":"+password)
	ha2 := hexHash(h, method+":"+uri)
	if qop == "" {
		return hexHash(h, ha1+":"+nonce+":"+ha2), nil
	}
	return hexHash(h, ha1+":"+nonce+":"+nc+":"+cnonce+":"+qop+":"+ha2), nil
}

// challenge builds one WWW-Authenticate / Proxy-Authenticate value.
func challenge(realm, nonce, alg string, stale bool) string {
	s := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=%s, qop="auth"`, realm, nonce, alg)
	if stale {
		s += ", stale=true"
	}
	return s
}

// verifyDigest checks creds for method against password. It accepts qop=auth or
// no qop (RFC 2069); the server refuses the latter before it gets here
// (requireQOP), since without nc and cnonce a response cannot be bound to one use.
func verifyDigest(c digestCreds, method, password string) bool {
	if c.QOP != "" && !strings.EqualFold(c.QOP, "auth") {
		return false
	}
	if c.QOP != "" && (c.NC == "" || c.CNonce == "") {
		return false
	}
	want, err := digestResponse(c.Algorithm, c.Username, c.Realm, password, method, c.URI, c.Nonce, c.NC, c.CNonce, c.QOP)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(c.Response)), []byte(want)) == 1
}
