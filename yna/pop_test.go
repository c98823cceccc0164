package yna

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	keyOnce    sync.Once
	testKeyA   *rsa.PrivateKey
	testKeyB   *rsa.PrivateKey
	testKeyErr error
)

// testKeys returns two RSA keys generated once per test binary (never committed).
func testKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keyOnce.Do(func() {
		testKeyA, testKeyErr = rsa.GenerateKey(rand.Reader, 2048)
		if testKeyErr == nil {
			testKeyB, testKeyErr = rsa.GenerateKey(rand.Reader, 2048)
		}
	})
	if testKeyErr != nil {
		t.Fatal(testKeyErr)
	}
	return testKeyA, testKeyB
}

// §4.4 test vectors.
const (
	vec1EDTS = "-Ssf0lw-dFe4LVA3IIZ6KlaaQMbc26hCsX9RMJzCy4A"
	vec2EDTS = "H8Z4qL8ISB0W_m9K-_PkLMfh08r8SYMNFttgg-827FU"
	vec2Body = `{"sdp":"v=0\r\n"}` // 17 bytes: backslash-r backslash-n as escaped on the wire
)

func TestEDTSVectors(t *testing.T) {
	if len(vec2Body) != 17 {
		t.Fatalf("vector 2 body is %d bytes, want 17", len(vec2Body))
	}
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"vector1 GET status", []string{"GET", "/cpaas/v1/account/status", "application/json", "Bearer AT", "00000000-0000-4000-8000-000000000000"}, vec1EDTS},
		{"vector2 POST hold", []string{"POST", "/cpaas/v1/call/hold/ABC123", "application/json", "application/json", "Bearer AT", "00000000-0000-4000-8000-000000000001", vec2Body}, vec2EDTS},
		{"vector1 as one string", []string{"GET/cpaas/v1/account/statusapplication/jsonBearer AT00000000-0000-4000-8000-000000000000"}, vec1EDTS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EDTS(tc.values); got != tc.want {
				t.Fatalf("EDTS = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPoPDigestVectors(t *testing.T) {
	ehts, edts := PoPDigest("GET", "/cpaas/v1/account/status", []Header{
		{HeaderAccept, "application/json"},
		{HeaderAuthorization, "Bearer AT"},
		{HeaderTransactionID, "00000000-0000-4000-8000-000000000000"},
	}, nil)
	if ehts != "http-method;uri;Accept;Authorization;X-Transaction-Id" || edts != vec1EDTS {
		t.Fatalf("vector1: ehts=%q edts=%q", ehts, edts)
	}
	ehts, edts = PoPDigest("post", "/cpaas/v1/call/hold/ABC123", []Header{
		{HeaderContentType, "application/json"},
		{HeaderAccept, "application/json"},
		{HeaderAuthorization, "Bearer AT"},
		{HeaderTransactionID, "00000000-0000-4000-8000-000000000001"},
	}, []byte(vec2Body))
	if ehts != "http-method;uri;Content-Type;Accept;Authorization;X-Transaction-Id;body" || edts != vec2EDTS {
		t.Fatalf("vector2: ehts=%q edts=%q", ehts, edts)
	}
	// Empty non-nil body still adds a body member; nil does not.
	if e, _ := PoPDigest("POST", "/x", nil, []byte{}); e != "http-method;uri;body" {
		t.Fatalf("empty body ehts = %q", e)
	}
	if e, _ := PoPDigest("POST", "/x", nil, nil); e != "http-method;uri" {
		t.Fatalf("nil body ehts = %q", e)
	}
}

func fixedSigner(key *rsa.PrivateKey, at time.Time, jti string) *PoPSigner {
	s := NewPoPSigner(key).WithClock(func() time.Time { return at })
	s.newJTI = func() string { return jti }
	return s
}

func decodePart(t *testing.T, part string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSignTokenShape(t *testing.T) {
	key, _ := testKeys(t)
	at := time.Unix(1700000000, 0)
	tok, err := fixedSigner(key, at, "0b8f0c1e-6a43-4b8e-9d7e-2f1a3c5d7e9f").Sign("GET", "/cpaas/v1/account/status", []Header{
		{HeaderAccept, "application/json"},
		{HeaderAuthorization, "Bearer AT"},
		{HeaderTransactionID, "00000000-0000-4000-8000-000000000000"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("parts = %d", len(parts))
	}
	if h := decodePart(t, parts[0]); h != `{"alg":"RS256","typ":"JWT"}` {
		t.Fatalf("header = %s", h)
	}
	want := `{"edts":"-Ssf0lw-dFe4LVA3IIZ6KlaaQMbc26hCsX9RMJzCy4A","v":"1","ehts":"http-method;uri;Accept;Authorization;X-Transaction-Id","iat":1700000000,"exp":1700000120,"jti":"0b8f0c1e-6a43-4b8e-9d7e-2f1a3c5d7e9f"}`
	if c := decodePart(t, parts[1]); c != want {
		t.Fatalf("claims =\n%s\nwant\n%s", c, want)
	}
}

func TestSignDefaultJTIIsUUID(t *testing.T) {
	key, _ := testKeys(t)
	s := NewPoPSigner(key)
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		tok, err := s.Sign("GET", "/", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var c PoPClaims
		if err := json.Unmarshal([]byte(decodePart(t, strings.Split(tok, ".")[1])), &c); err != nil {
			t.Fatal(err)
		}
		if len(c.JTI) != 36 || c.JTI[14] != '4' || seen[c.JTI] {
			t.Fatalf("jti %q not a fresh UUIDv4", c.JTI)
		}
		seen[c.JTI] = true
	}
}

func TestSignNoKey(t *testing.T) {
	if _, err := (&PoPSigner{}).Sign("GET", "/", nil, nil); err == nil {
		t.Fatal("want error")
	}
}

// holdRequest builds a server-side request like the one of vector 2 (header names in odd case).
func holdRequest(body string) *http.Request {
	r := httptest.NewRequest("POST", "/cpaas/v1/call/hold/ABC123?x=%41", strings.NewReader(body))
	r.Header.Set("content-type", "application/json")
	r.Header.Set("accept", "application/json")
	r.Header.Set("authorization", "Bearer AT")
	r.Header.Set("x-transaction-id", "00000000-0000-4000-8000-000000000001")
	return r
}

var holdHeaders = []Header{
	{HeaderContentType, "application/json"},
	{HeaderAccept, "application/json"},
	{HeaderAuthorization, "Bearer AT"},
	{HeaderTransactionID, "00000000-0000-4000-8000-000000000001"},
}

func TestSignVerifyRoundTrip(t *testing.T) {
	key, _ := testKeys(t)
	at := time.Unix(1700000000, 0)
	tok, err := fixedSigner(key, at, "jti-1").Sign("POST", "/cpaas/v1/call/hold/ABC123?x=%41", holdHeaders, []byte(vec2Body))
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	seen := func(j string) bool { old := used[j]; used[j] = true; return old }
	opt := VerifyOptions{Now: at.Add(60 * time.Second), Require: StrictPoPRequire(), SeenJTI: seen}
	c, err := VerifyPoP(tok, &key.PublicKey, holdRequest(vec2Body), []byte(vec2Body), opt)
	if err != nil {
		t.Fatal(err)
	}
	if c.JTI != "jti-1" || c.IAT != 1700000000 || c.EXP != 1700000120 || c.V != "1" {
		t.Fatalf("claims %+v", c)
	}
	// Replay is rejected.
	_, err = VerifyPoP(tok, &key.PublicKey, holdRequest(vec2Body), []byte(vec2Body), opt)
	var pe *PoPError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "jti") {
		t.Fatalf("replay: err = %v", err)
	}
}

func TestVerifyRoundTripViaRealServer(t *testing.T) {
	key, _ := testKeys(t)
	signer := NewPoPSigner(key)
	errc := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(body)
		_, err := VerifyPoP(r.Header.Get(HeaderPoP), &key.PublicKey, r, body, VerifyOptions{Require: StrictPoPRequire()})
		errc <- err
	}))
	defer srv.Close()
	uri := "/cpaas/v1/oauth/token?grant_type=authorization_code&redirect_uri=http%3A%2F%2Flocalhost%3A8080&code=XYZ"
	hs := []Header{{HeaderAuthorization, "Basic Zm9vOmJhcg=="}, {HeaderContentType, "application/json"}, {HeaderAccept, "application/json"}, {HeaderTransactionID, "t1"}}
	tok, err := signer.Sign("POST", uri, hs, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", srv.URL+uri, nil)
	for _, h := range hs {
		req.Header.Set(h.Name, h.Value)
	}
	req.Header.Set(HeaderPoP, tok)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("server verify: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no verification result")
	}
}

func TestVerifyFailures(t *testing.T) {
	key, other := testKeys(t)
	at := time.Unix(1700000000, 0)
	good := PoPClaims{V: "1", IAT: at.Unix(), EXP: at.Unix() + 120, JTI: "j"}
	good.EHTS, good.EDTS = PoPDigest("POST", "/cpaas/v1/call/hold/ABC123?x=%41", holdHeaders, []byte(vec2Body))
	sign := func(k *rsa.PrivateKey, c PoPClaims) string {
		tok, err := SignPoPClaims(k, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	mod := func(f func(*PoPClaims)) string { c := good; f(&c); return sign(key, c) }
	goodTok := sign(key, good)
	parts := strings.Split(goodTok, ".")
	noneHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	hs256Hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

	noBodyEHTS, noBodyEDTS := PoPDigest("POST", "/cpaas/v1/call/hold/ABC123?x=%41", holdHeaders, nil)
	noAuthHeaders := []Header{holdHeaders[0], holdHeaders[1], holdHeaders[3]}
	noAuthEHTS, noAuthEDTS := PoPDigest("POST", "/cpaas/v1/call/hold/ABC123?x=%41", noAuthHeaders, []byte(vec2Body))

	tests := []struct {
		name    string
		token   string
		body    string
		now     time.Time
		reqMod  func(*http.Request)
		seen    func(string) bool
		wantSub string
	}{
		{name: "valid", token: goodTok, body: vec2Body, now: at},
		{name: "valid within skew before iat", token: goodTok, body: vec2Body, now: at.Add(-20 * time.Second)},
		{name: "valid at exp+skew", token: goodTok, body: vec2Body, now: at.Add(140 * time.Second)},
		{name: "bad signature (other key)", token: sign(other, good), body: vec2Body, now: at, wantSub: "signature"},
		{name: "tampered payload", token: parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"v":"1"}`)) + "." + parts[2], body: vec2Body, now: at, wantSub: "signature"},
		{name: "alg none", token: noneHdr + "." + parts[1] + ".", body: vec2Body, now: at, wantSub: "alg"},
		{name: "alg HS256", token: hs256Hdr + "." + parts[1] + "." + parts[2], body: vec2Body, now: at, wantSub: "alg"},
		{name: "two parts", token: parts[0] + "." + parts[1], body: vec2Body, now: at, wantSub: "compact"},
		{name: "garbage", token: "!!!.###.$$$", body: vec2Body, now: at, wantSub: "encoding"},
		{name: "stale exp", token: goodTok, body: vec2Body, now: at.Add(200 * time.Second), wantSub: "expired"},
		{name: "iat in future", token: goodTok, body: vec2Body, now: at.Add(-time.Minute), wantSub: "future"},
		{name: "exp-iat>120", token: mod(func(c *PoPClaims) { c.EXP = c.IAT + 121 }), body: vec2Body, now: at, wantSub: "exceeds"},
		{name: "exp<iat", token: mod(func(c *PoPClaims) { c.EXP = c.IAT - 1 }), body: vec2Body, now: at, wantSub: "exp before iat"},
		{name: "v not 1", token: mod(func(c *PoPClaims) { c.V = "2" }), body: vec2Body, now: at, wantSub: "v "},
		{name: "wrong edts", token: mod(func(c *PoPClaims) { c.EDTS = vec1EDTS }), body: vec2Body, now: at, wantSub: "edts"},
		{name: "body altered", token: goodTok, body: `{"sdp":"v=1\r\n"}`, now: at, wantSub: "edts"},
		{name: "header altered", token: goodTok, body: vec2Body, now: at, reqMod: func(r *http.Request) { r.Header.Set("Authorization", "Bearer XX") }, wantSub: "edts"},
		{name: "uri altered", token: goodTok, body: vec2Body, now: at, reqMod: func(r *http.Request) { r.RequestURI = "/cpaas/v1/call/hold/ABC123?x=A" }, wantSub: "edts"},
		{name: "method altered", token: goodTok, body: vec2Body, now: at, reqMod: func(r *http.Request) { r.Method = "PUT" }, wantSub: "edts"},
		{name: "signed header missing", token: goodTok, body: vec2Body, now: at, reqMod: func(r *http.Request) { r.Header.Del("X-Transaction-Id") }, wantSub: "missing"},
		{name: "body sent but not in ehts", token: mod(func(c *PoPClaims) { c.EHTS, c.EDTS = noBodyEHTS, noBodyEDTS }), body: vec2Body, now: at, wantSub: `"body"`},
		{name: "required Authorization missing", token: mod(func(c *PoPClaims) { c.EHTS, c.EDTS = noAuthEHTS, noAuthEDTS }), body: vec2Body, now: at, wantSub: `"Authorization"`},
		{name: "reused jti", token: goodTok, body: vec2Body, now: at, seen: func(string) bool { return true }, wantSub: "jti reused"},
		{name: "empty jti", token: mod(func(c *PoPClaims) { c.JTI = "" }), body: vec2Body, now: at, wantSub: "jti"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := holdRequest(tc.body)
			if tc.reqMod != nil {
				tc.reqMod(r)
			}
			_, err := VerifyPoP(tc.token, &key.PublicKey, r, []byte(tc.body), VerifyOptions{Now: tc.now, Require: StrictPoPRequire(), SeenJTI: tc.seen})
			if tc.wantSub == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var pe *PoPError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *PoPError", err)
			}
			if !strings.Contains(pe.Reason, tc.wantSub) {
				t.Fatalf("reason %q does not contain %q", pe.Reason, tc.wantSub)
			}
		})
	}
}

func TestVerifyMissingClaim(t *testing.T) {
	key, _ := testKeys(t)
	// Hand-build a token whose claims lack jti.
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"edts":"x","v":"1","ehts":"http-method","iat":1,"exp":2}`))
	tok := signRaw(t, key, popJOSEHeader+"."+payload)
	_, err := VerifyPoP(tok, &key.PublicKey, holdRequest(""), nil, VerifyOptions{Now: time.Unix(1, 0)})
	var pe *PoPError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "missing claim") {
		t.Fatalf("err = %v", err)
	}
}

func TestVerifyZeroSkewOption(t *testing.T) {
	key, _ := testKeys(t)
	at := time.Unix(1700000000, 0)
	tok, err := fixedSigner(key, at, "j").Sign("POST", "/cpaas/v1/call/hold/ABC123?x=%41", holdHeaders, []byte(vec2Body))
	if err != nil {
		t.Fatal(err)
	}
	_, err = VerifyPoP(tok, &key.PublicKey, holdRequest(vec2Body), []byte(vec2Body), VerifyOptions{Now: at.Add(121 * time.Second), MaxSkew: -1})
	if err == nil {
		t.Fatal("want expired with zero skew")
	}
}

func TestParseKeys(t *testing.T) {
	key, _ := testKeys(t)
	privPEM, err := MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pemEncode("RSA PRIVATE KEY", x509MarshalPKCS1(key))
	oneLine := strings.ReplaceAll(string(privPEM), "\n", "")
	escaped := strings.ReplaceAll(string(privPEM), "\n", `\n`)
	for name, in := range map[string][]byte{
		"pkcs8": privPEM, "pkcs1": pkcs1, "one line": []byte(oneLine), "escaped newlines": []byte(escaped),
	} {
		t.Run(name, func(t *testing.T) {
			k, err := ParsePrivateKeyPEM(in)
			if err != nil {
				t.Fatal(err)
			}
			if !k.Equal(key) {
				t.Fatal("key differs")
			}
		})
	}
	pub, err := ParsePublicKeyPEM(pubPEM)
	if err != nil || !pub.Equal(&key.PublicKey) {
		t.Fatalf("public key: %v", err)
	}
	for _, bad := range []string{"", "hello", "-----BEGIN PRIVATE KEY-----AAAA-----END PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----@@@-----END PRIVATE KEY-----"} {
		if _, err := ParsePrivateKeyPEM([]byte(bad)); err == nil {
			t.Errorf("ParsePrivateKeyPEM(%q) succeeded", bad)
		}
		if _, err := ParsePublicKeyPEM([]byte(bad)); err == nil {
			t.Errorf("ParsePublicKeyPEM(%q) succeeded", bad)
		}
	}
}

// TestParseKeyKeepsSlashN checks that a PEM containing "/n" is parsed intact (§4.5: the SDK
// strips "/n"; we must not).
func TestParseKeyKeepsSlashN(t *testing.T) {
	for i := 0; i < 40; i++ {
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		p, err := MarshalPrivateKeyPEM(k)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(p), "/n") {
			continue
		}
		got, err := ParsePrivateKeyPEM(p)
		if err != nil || !got.Equal(k) {
			t.Fatalf("key with /n: %v", err)
		}
		return
	}
	t.Skip("no generated key contained /n")
}

func BenchmarkSign(b *testing.B) {
	key, _ := testKeys(b)
	s := NewPoPSigner(key)
	body := []byte(vec2Body)
	for b.Loop() {
		if _, err := s.Sign("POST", "/cpaas/v1/call/hold/ABC123", holdHeaders, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	key, _ := testKeys(b)
	tok, err := NewPoPSigner(key).Sign("POST", "/cpaas/v1/call/hold/ABC123?x=%41", holdHeaders, []byte(vec2Body))
	if err != nil {
		b.Fatal(err)
	}
	r := holdRequest(vec2Body)
	body := []byte(vec2Body)
	for b.Loop() {
		if _, err := VerifyPoP(tok, &key.PublicKey, r, body, VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func signRaw(t *testing.T, key *rsa.PrivateKey, signing string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func x509MarshalPKCS1(k *rsa.PrivateKey) []byte { return x509.MarshalPKCS1PrivateKey(k) }

func FuzzVerifyPoP(f *testing.F) {
	key, _ := testKeys(f)
	tok, err := NewPoPSigner(key).Sign("POST", "/cpaas/v1/call/hold/ABC123?x=%41", holdHeaders, []byte(vec2Body))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok, vec2Body)
	f.Add("a.b.c", "")
	f.Add(popJOSEHeader+".e30.", "{}")
	f.Fuzz(func(t *testing.T, token, body string) {
		r := holdRequest(body)
		c, err := VerifyPoP(token, &key.PublicKey, r, []byte(body), VerifyOptions{Require: StrictPoPRequire()})
		if err == nil && c == nil {
			t.Fatal("nil claims without error")
		}
		var pe *PoPError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("error %T is not *PoPError", err)
		}
	})
}

func TestJTICache(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := NewJTICache(func() time.Time { return now })
	if c.Seen("a") || !c.Seen("a") || c.Seen("b") {
		t.Fatal("first use must be unseen, second seen")
	}
	now = now.Add(PoPValidity + 2*DefaultPoPMaxSkew + time.Second)
	if c.Seen("c") {
		t.Fatal("c unseen")
	}
	if c.Len() != 1 {
		t.Fatalf("expired entries kept: %d", c.Len())
	}
	if c.Seen("a") {
		t.Fatal("a forgotten after TTL, counts as new")
	}
}
