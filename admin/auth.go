package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// authRealm is the Basic auth realm.
const authRealm = "ynagw admin"

// equalSecret compares two secrets in constant time (hashing first so that the length
// does not leak either).
func equalSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// authorized reports whether r carries valid Basic credentials or the bearer token.
func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if h == "" {
		return false
	}
	if s.cfg.BearerToken != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return equalSecret(strings.TrimSpace(tok), s.cfg.BearerToken)
		}
	}
	if s.cfg.Username != "" {
		if u, p, ok := r.BasicAuth(); ok {
			// Evaluate both, so that a wrong user costs as much as a wrong password.
			uok, pok := equalSecret(u, s.cfg.Username), equalSecret(p, s.cfg.Password)
			return uok && pok
		}
	}
	return false
}

// requireAuth answers 401 unless the request is authorized.
func (s *Server) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			if r.Header.Get("Authorization") != "" {
				s.log.Warn("admin: authentication failed", zap.String("path", r.URL.Path),
					zap.String("remote", r.RemoteAddr))
			}
			if s.cfg.Username != "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="`+authRealm+`", charset="UTF-8"`)
			} else {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+authRealm+`"`)
			}
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers every response carries.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	formAction := "'self'"
	if s.ynaOrigin != "" {
		formAction += " " + s.ynaOrigin // the E911 form is redirected (307) to the provider
	}
	csp := "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action " + formAction +
		"; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
