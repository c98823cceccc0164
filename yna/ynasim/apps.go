package ynasim

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"

	"github.com/ynagw/ynagw/yna"
)

// App is a DevEdge application registered with the simulated service.
type App struct {
	// ClientID and ClientSecret are the Basic credentials of the token call.
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	// PublicKeyPEM is the app's RSA public key (PKIX "BEGIN PUBLIC KEY" or PKCS#1) used to
	// verify its PoP tokens. A private key PEM is accepted too; only its public half is kept.
	PublicKeyPEM string `json:"publicKeyPem"`
	// RedirectURIs are the registered redirect URIs; empty accepts any http(s) URI.
	RedirectURIs []string `json:"redirectUris,omitempty"`
	// Name is shown on the link page.
	Name string `json:"name,omitempty"`

	pub *rsa.PublicKey
}

// ErrInvalid is wrapped by the errors of the Go control API for invalid input.
var ErrInvalid = errors.New("ynasim: invalid input")

// ErrNotFound is wrapped when a named account or app does not exist.
var ErrNotFound = errors.New("ynasim: not found")

// ErrConflict is wrapped when an account, line or app already exists.
var ErrConflict = errors.New("ynasim: conflict")

// AddApp registers (or replaces) an application.
func (s *Sim) AddApp(app App) error {
	if app.ClientID == "" || app.ClientSecret == "" {
		return fmt.Errorf("%w: app needs clientId and clientSecret", ErrInvalid)
	}
	if strings.ContainsRune(app.ClientID, ':') {
		return fmt.Errorf("%w: clientId must not contain ':'", ErrInvalid)
	}
	pub, err := yna.ParsePublicKeyPEM([]byte(app.PublicKeyPEM))
	if err != nil {
		priv, perr := yna.ParsePrivateKeyPEM([]byte(app.PublicKeyPEM))
		if perr != nil {
			return fmt.Errorf("%w: app %s public key: %w", ErrInvalid, app.ClientID, err)
		}
		pub = &priv.PublicKey
		b, merr := yna.MarshalPublicKeyPEM(pub)
		if merr != nil {
			return fmt.Errorf("%w: app %s key: %w", ErrInvalid, app.ClientID, merr)
		}
		app.PublicKeyPEM = string(b)
	}
	app.pub = pub
	app.RedirectURIs = append([]string(nil), app.RedirectURIs...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[app.ClientID]; !ok {
		s.appOrder = append(s.appOrder, app.ClientID)
	}
	s.apps[app.ClientID] = &app
	return nil
}

// Apps returns the registered applications in registration order.
func (s *Sim) Apps() []App {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]App, 0, len(s.appOrder))
	for _, id := range s.appOrder {
		a := *s.apps[id]
		a.RedirectURIs = append([]string(nil), a.RedirectURIs...)
		out = append(out, a)
	}
	return out
}

// app returns the registered app with clientID, or nil.
func (s *Sim) app(clientID string) *App {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apps[clientID]
}
