package admin

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Defaults.
const (
	// StateLifetime is how long a link state stays valid.
	StateLifetime = 10 * time.Minute
	// SessionLifetime is how long an idle admin session lives.
	SessionLifetime = 12 * time.Hour
	// maxSessions and maxStates bound the server-side maps (the oldest entry is evicted).
	maxSessions = 1024
	maxStates   = 256
	// backendTimeout bounds one Backend call made for a request.
	backendTimeout = 30 * time.Second
)

// Config configures a Server.
type Config struct {
	// Addr is the listen address, e.g. "127.0.0.1:8080".
	Addr string
	// Listener, if set, is served instead of listening on Addr (Close closes it). Lets a
	// caller know the port before New (PublicURL) when Addr would be ":0".
	Listener net.Listener
	// Username and Password enable HTTP Basic auth.
	Username, Password string
	// BearerToken, if set, is accepted as "Authorization: Bearer <token>" (meant for the
	// JSON API; it is accepted on every authenticated route).
	BearerToken string
	// PublicURL is the base the browser reaches this server at, e.g.
	// "http://127.0.0.1:8080"; the link redirect URI is PublicURL + "/link/callback".
	PublicURL string
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// Level is the run-time log level served at /api/v1/loglevel; nil: that route answers 501.
	Level *zap.AtomicLevel
	// Metrics is served at /metrics; nil: 404.
	Metrics http.Handler
	// MetricsOpen serves /metrics without authentication (for a Prometheus scraper).
	MetricsOpen bool
	// Pprof serves Go's profiler (net/http/pprof) under /debug/pprof/, behind the admin
	// authentication, so operators can profile in place (admin.pprof).
	Pprof bool
	// Now is the clock (state and session expiry); defaults to time.Now.
	Now func() time.Time
}

// ErrConfig is wrapped by New's errors.
var ErrConfig = errors.New("admin: bad config")

func (c *Config) validate() (*url.URL, error) {
	if c.Username == "" && c.BearerToken == "" {
		return nil, fmt.Errorf("%w: set Username/Password or BearerToken", ErrConfig)
	}
	if c.Username != "" && c.Password == "" {
		return nil, fmt.Errorf("%w: Password is empty", ErrConfig)
	}
	if strings.Contains(c.Username, ":") {
		return nil, fmt.Errorf("%w: Username must not contain ':'", ErrConfig)
	}
	u, err := url.Parse(strings.TrimRight(c.PublicURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("%w: PublicURL: %w", ErrConfig, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: PublicURL %q must be http(s)://host[:port][/path]", ErrConfig, c.PublicURL)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return u, nil
}
