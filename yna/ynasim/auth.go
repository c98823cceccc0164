package ynasim

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ynagw/ynagw/yna"
)

// Endpoint names used by authorize and by endpoint faults. The calling endpoints use their
// operation names (yna.OpStart, yna.OpHold, ...).
const (
	endpointToken  = "token"
	endpointStatus = "status"
	endpointUnlink = "unlink"
)

// maxBody bounds request bodies (SDP offers are a few kB).
const maxBody = 1 << 20

// readBody reads the whole request body; on failure it writes 400 and returns ok=false.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Body == nil {
		return nil, true
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Schema validation failed: cannot read body")
		return nil, false
	}
	if len(body) > maxBody {
		writeError(w, http.StatusBadRequest, "Schema validation failed: body too large")
		return nil, false
	}
	return body, true
}

// authorize checks an API request: bearer access token valid and unexpired, PoP verified with
// the token's app key (per Config.PoP), then applies the injected faults of endpoint. On
// failure it writes the error (401 with the §3 body, or the fault) and returns ok=false.
// It reads and returns the raw body.
func (s *Sim) authorize(w http.ResponseWriter, r *http.Request, endpoint string) (acct *Account, body []byte, ok bool) {
	g, body, ok := s.authorizeGrant(w, r, endpoint)
	if !ok {
		return nil, nil, false
	}
	return g.acct, body, true
}

// authorizeGrant is authorize returning the grant (account, app, linked lines).
func (s *Sim) authorizeGrant(w http.ResponseWriter, r *http.Request, endpoint string) (*grant, []byte, bool) {
	body, ok := readBody(w, r)
	if !ok {
		return nil, nil, false
	}
	tok, found := bearerToken(r.Header.Get(yna.HeaderAuthorization))
	if !found {
		writeError(w, http.StatusUnauthorized, "Authorization failed: bearer access token required")
		return nil, nil, false
	}
	g, err := s.lookupAccess(tok)
	if err != nil {
		writeError(w, http.StatusUnauthorized, "Authorization failed: "+err.Error())
		return nil, nil, false
	}
	if err := s.verifyPoP(r, body, g.app, endpoint); err != nil {
		s.logf("PoP rejected endpoint=%s: %v", endpoint, err)
		writeError(w, http.StatusUnauthorized, "Authorization failed: "+err.Error())
		return nil, nil, false
	}
	if !s.applyEndpointFault(w, r, endpoint) {
		return nil, nil, false
	}
	return g, body, true
}

// bearerToken extracts the token of "Bearer <token>" (scheme case-insensitive).
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// errNoPoP is returned when X-Authorization is missing in strict mode.
var errNoPoP = errors.New("X-Authorization PoP token required")

// verifyPoP checks the request's X-Authorization against app's key per Config.PoP (§4.3).
func (s *Sim) verifyPoP(r *http.Request, body []byte, app *App, endpoint string) error {
	mode := s.cfg.PoP
	if mode == PoPOff {
		return nil
	}
	tok := r.Header.Get(yna.HeaderPoP)
	if tok == "" {
		if mode == PoPLax {
			return nil
		}
		return errNoPoP
	}
	opt := yna.VerifyOptions{Now: s.now(), MaxSkew: s.cfg.PoPSkew}
	if mode == PoPStrict {
		opt.Require = popRequired(endpoint, yna.StrictPoPRequire())
		opt.SeenJTI = s.seenJTI
	}
	_, err := yna.VerifyPoP(tok, app.pub, r, body, opt)
	return err
}

// seenJTI records jti and reports whether it was seen before (replay, §4.3). Entries are kept
// for as long as a token carrying them could still be accepted.
func (s *Sim) seenJTI(jti string) bool {
	now := s.now()
	keep := yna.PoPValidity + 2*s.cfg.PoPSkew
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.jtiPruned) > 10*time.Second {
		for k, t := range s.jtis {
			if now.Sub(t) > keep {
				delete(s.jtis, k)
			}
		}
		s.jtiPruned = now
	}
	if _, ok := s.jtis[jti]; ok {
		return true
	}
	s.jtis[jti] = now
	return false
}
