package ynasim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/ynagw/ynagw/yna"
)

// grant is one link of an account's line(s) to an app: what a token pair stands for.
// Fields other than revoked are immutable; revoked is guarded by s.mu.
type grant struct {
	acct    *Account
	app     *App
	lines   []string
	refresh string
	revoked bool
}

// accessToken is an issued access token; expires is guarded by s.mu.
type accessToken struct {
	g       *grant
	expires time.Time
}

// authCode is an authorization code handed out by the link page (single use, §5.1).
type authCode struct {
	app         *App
	redirectURI string
	acct        *Account
	lines       []string
	expires     time.Time
}

// handleToken serves POST /oauth/token (§5.2): Basic client credentials, PoP signed with the
// app key, grant_type=authorization_code (single-use code, matching redirect_uri) or
// grant_type=refresh_token.
func (s *Sim) handleToken(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	clientID, secret, ok := r.BasicAuth()
	if !ok {
		writeError(w, http.StatusUnauthorized, "Authorization failed: Basic client credentials required")
		return
	}
	app := s.app(clientID)
	if app == nil || subtle.ConstantTimeCompare([]byte(secret), []byte(app.ClientSecret)) != 1 {
		writeError(w, http.StatusUnauthorized, "Authorization failed: invalid client credentials")
		return
	}
	if err := s.verifyPoP(r, body, app, endpointToken); err != nil {
		writeError(w, http.StatusUnauthorized, "Authorization failed: "+err.Error())
		return
	}
	if !s.applyEndpointFault(w, r, endpointToken) {
		return
	}
	q := r.URL.Query()
	switch gt := q.Get("grant_type"); gt {
	case "authorization_code":
		s.exchangeCode(w, app, q)
	case yna.RefreshGrantType:
		if !refreshGrantSupported {
			writeError(w, http.StatusBadRequest, "unsupported grant_type "+gt)
			return
		}
		s.exchangeRefresh(w, app, q)
	case "":
		writeError(w, http.StatusBadRequest, "Schema validation failed at grant_type: required")
	default:
		writeError(w, http.StatusBadRequest, "unsupported grant_type "+gt)
	}
}

func (s *Sim) exchangeCode(w http.ResponseWriter, app *App, q url.Values) {
	code, redirect := q.Get("code"), q.Get("redirect_uri")
	switch {
	case code == "":
		writeError(w, http.StatusBadRequest, "Schema validation failed at code: required")
		return
	case redirect == "":
		writeError(w, http.StatusBadRequest, "Schema validation failed at redirect_uri: required")
		return
	}
	now := s.now()
	s.mu.Lock()
	c := s.codes[code]
	var msg string
	switch {
	case c == nil:
		msg = "invalid authorization code"
	case !now.Before(c.expires):
		delete(s.codes, code)
		msg = "authorization code expired"
	case c.app != app:
		msg = "authorization code was issued to another client"
	case c.redirectURI != redirect:
		msg = "redirect_uri does not match the one used to link"
	}
	if msg != "" {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	delete(s.codes, code)
	g := &grant{acct: c.acct, app: app, lines: c.lines}
	g.refresh = s.newTokenLocked(g, now, now.Add(10*365*24*time.Hour))
	s.refresh[g.refresh] = g
	resp := s.issueAccessLocked(g, now)
	s.mu.Unlock()
	s.logf("token issued account=%s client=%s", g.acct.ID, app.ClientID)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Sim) exchangeRefresh(w http.ResponseWriter, app *App, q url.Values) {
	rt := q.Get("refresh_token")
	if rt == "" {
		writeError(w, http.StatusBadRequest, "Schema validation failed at refresh_token: required")
		return
	}
	now := s.now()
	s.mu.Lock()
	g := s.refresh[rt]
	if g == nil || g.revoked || g.app != app {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "invalid refresh token")
		return
	}
	// Rotate the refresh token; issued access tokens stay valid until they expire.
	delete(s.refresh, rt)
	g.refresh = s.newTokenLocked(g, now, now.Add(10*365*24*time.Hour))
	s.refresh[g.refresh] = g
	resp := s.issueAccessLocked(g, now)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// issueAccessLocked creates an access token for g. Caller holds s.mu.
func (s *Sim) issueAccessLocked(g *grant, now time.Time) yna.TokenResponse {
	s.pruneLocked(now)
	exp := now.Add(s.cfg.TokenLifetime)
	at := s.newTokenLocked(g, now, exp)
	s.access[at] = &accessToken{g: g, expires: exp}
	return yna.TokenResponse{
		AccessToken:  at,
		RefreshToken: g.refresh,
		TokenType:    "Bearer",
		ExpiresIn:    int64(s.cfg.TokenLifetime / time.Second),
	}
}

// newTokenLocked returns a JWT-shaped token like the spec example (§5.2). Its signature is
// random: the simulator looks tokens up by value, clients treat them as opaque.
func (s *Sim) newTokenLocked(g *grant, iat, exp time.Time) string {
	hdr := `{"kid":"ynasim","alg":"RS256","typ":"JWT"}`
	usn := make([]byte, 8)
	sig := make([]byte, 32)
	_, _ = rand.Read(usn)
	_, _ = rand.Read(sig)
	claims, _ := json.Marshal(struct {
		Iss      string `json:"iss"`
		Aud      string `json:"aud"`
		Scope    string `json:"scope"`
		ClientID string `json:"client_id"`
		USN      string `json:"usn"`
		IAT      int64  `json:"iat"`
		EXP      int64  `json:"exp"`
		Sub      string `json:"sub"`
		JTI      string `json:"jti"`
	}{tokenIssuer, g.app.ClientID, tokenScope, g.app.ClientID, hex.EncodeToString(usn),
		iat.Unix(), exp.Unix(), "U-" + g.acct.ID, uuid.NewString()})
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(sig)
}

// pruneLocked drops, at most every pruneEvery, what is dead and older than Config.Retention:
// access tokens expired that long ago, and expired link flows, authorization codes and E911
// forms (consumed codes are deleted when used). Caller holds s.mu.
func (s *Sim) pruneLocked(now time.Time) {
	keep := s.cfg.Retention
	if now.Sub(s.prunedAt) < pruneEvery(keep) {
		return
	}
	s.prunedAt = now
	for k, at := range s.access {
		if !now.Before(at.expires.Add(keep)) {
			delete(s.access, k)
		}
	}
	for k, c := range s.codes {
		if !now.Before(c.expires) {
			delete(s.codes, k)
		}
	}
	for k, f := range s.flows {
		if !now.Before(f.expires) {
			delete(s.flows, k)
		}
	}
	for k, f := range s.e911Forms {
		if !now.Before(f.expires) {
			delete(s.e911Forms, k)
		}
	}
}

// lookupAccess returns the grant of a valid, unexpired access token.
func (s *Sim) lookupAccess(tok string) (*grant, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	at := s.access[tok]
	switch {
	case at == nil || at.g.revoked:
		return nil, fmt.Errorf("invalid access token")
	case !now.Before(at.expires):
		return nil, fmt.Errorf("access token expired")
	}
	return at.g, nil
}

// revokeGrant revokes g and all its tokens (unlink).
func (s *Sim) revokeGrant(g *grant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g.revoked = true
	delete(s.refresh, g.refresh)
	for k, at := range s.access {
		if at.g == g {
			delete(s.access, k)
		}
	}
}

// ExpireTokens makes every access token of the account expire now (refresh tokens stay
// usable), so the next API call gets 401.
func (s *Sim) ExpireTokens(accountID string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.accounts[accountID] == nil {
		return fmt.Errorf("%w: account %s", ErrNotFound, accountID)
	}
	for _, at := range s.access {
		if at.g.acct.ID == accountID && at.expires.After(now) {
			at.expires = now
		}
	}
	return nil
}
