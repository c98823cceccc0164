package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// sessionCookie is the admin session cookie's name.
const sessionCookie = "ynagw_admin"

// session is one browser's admin session: its CSRF token and a one-shot flash message.
type session struct {
	id       string
	csrf     string
	flash    string
	flashErr bool
	lastSeen time.Time
}

// linkState is a pending link: the random state sent to YNA.
type linkState struct {
	session string // "" when issued by the JSON API (not bound to a browser session)
	expires time.Time
}

// sessions holds the server-side admin sessions and pending link states. All fields are
// guarded by mu.
type sessions struct {
	mu     sync.Mutex
	now    func() time.Time
	secure bool // cookie Secure flag (PublicURL is https)
	path   string
	byID   map[string]*session
	states map[string]linkState
}

func newSessions(now func() time.Time, secure bool, path string) *sessions {
	if path == "" {
		path = "/"
	}
	return &sessions{now: now, secure: secure, path: path, byID: map[string]*session{}, states: map[string]linkState{}}
}

// randomToken returns 32 random bytes in hex.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics on a broken source)
	return hex.EncodeToString(b)
}

// lookup returns the request's live session, or nil.
func (s *sessions) lookup(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byID[c.Value]
	if ss == nil {
		return nil
	}
	now := s.now()
	if now.Sub(ss.lastSeen) > SessionLifetime {
		delete(s.byID, ss.id)
		return nil
	}
	ss.lastSeen = now
	cp := *ss
	return &cp
}

// ensure returns the request's session, creating one (and setting the cookie) if needed.
// The returned value is a snapshot.
func (s *sessions) ensure(w http.ResponseWriter, r *http.Request) *session {
	if ss := s.lookup(r); ss != nil {
		return ss
	}
	ss := &session{id: randomToken(), csrf: randomToken(), lastSeen: s.now()}
	s.mu.Lock()
	s.pruneLocked()
	if len(s.byID) >= maxSessions {
		s.evictOldestSessionLocked()
	}
	s.byID[ss.id] = ss
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: ss.id, Path: s.path, HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, // the link callback is a top-level GET from the YNA site
	})
	cp := *ss
	return &cp
}

func (s *sessions) evictOldestSessionLocked() {
	var oldest *session
	for _, ss := range s.byID {
		if oldest == nil || ss.lastSeen.Before(oldest.lastSeen) {
			oldest = ss
		}
	}
	if oldest != nil {
		delete(s.byID, oldest.id)
	}
}

func (s *sessions) pruneLocked() {
	now := s.now()
	for id, ss := range s.byID {
		if now.Sub(ss.lastSeen) > SessionLifetime {
			delete(s.byID, id)
		}
	}
	for st, ls := range s.states {
		if !now.Before(ls.expires) {
			delete(s.states, st)
		}
	}
}

// checkCSRF reports whether token is the session's CSRF token.
func (s *sessions) checkCSRF(ss *session, token string) bool {
	if ss == nil || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ss.csrf), []byte(token)) == 1
}

// setFlash stores a one-shot message for the session's next page view.
func (s *sessions) setFlash(id, msg string, isErr bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.byID[id]; ss != nil {
		ss.flash, ss.flashErr = msg, isErr
	}
}

// takeFlash returns and clears the session's flash message.
func (s *sessions) takeFlash(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byID[id]
	if ss == nil {
		return "", false
	}
	msg, isErr := ss.flash, ss.flashErr
	ss.flash, ss.flashErr = "", false
	return msg, isErr
}

// newState issues a single-use link state bound to sessionID ("" = unbound, API).
func (s *sessions) newState(sessionID string) (string, time.Time) {
	st := randomToken()
	exp := s.now().Add(StateLifetime)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked()
	if len(s.states) >= maxStates {
		var oldK string
		var oldT time.Time
		for k, v := range s.states {
			if oldK == "" || v.expires.Before(oldT) {
				oldK, oldT = k, v.expires
			}
		}
		delete(s.states, oldK)
	}
	s.states[st] = linkState{session: sessionID, expires: exp}
	return st, exp
}

// stateProblem says why a state was refused.
type stateProblem string

const (
	stateOK         stateProblem = ""
	stateUnknown    stateProblem = "unknown, already used or expired link state"
	stateExpired    stateProblem = "expired link state"
	stateNoSession  stateProblem = "no admin session (open the admin page in this browser first)"
	stateWrongOwner stateProblem = "link state belongs to another admin session"
)

// consumeState checks and removes (single use) a link state for the given session id
// ("" when the request has no session).
func (s *sessions) consumeState(state, sessionID string) stateProblem {
	if state == "" {
		return stateUnknown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ls, ok := s.states[state]
	if !ok {
		return stateUnknown
	}
	delete(s.states, state) // single use even when refused below
	switch {
	case !s.now().Before(ls.expires):
		return stateExpired
	case ls.session == "":
		return stateOK // issued by the API; not bound to a browser
	case sessionID == "":
		return stateNoSession
	case subtle.ConstantTimeCompare([]byte(ls.session), []byte(sessionID)) != 1:
		return stateWrongOwner
	}
	return stateOK
}
