package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Server is the admin HTTP listener. Create it with New, then Start; Close stops it.
type Server struct {
	cfg       Config
	b         Backend
	log       *zap.Logger
	public    *url.URL
	redirect  string // PublicURL + "/link/callback"
	ynaOrigin string // origin of Backend.LinkURL, allowed as CSP form-action (E911 POST)
	sess      *sessions
	handler   http.Handler
	draining  atomic.Bool

	mu   sync.Mutex
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returned
}

// CallbackPath is the path of the link redirect URI.
const CallbackPath = "/link/callback"

// New validates cfg and builds the server; it does not listen yet.
func New(cfg Config, b Backend) (*Server, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil Backend", ErrConfig)
	}
	pub, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, b: b, log: cfg.Logger, public: pub}
	s.redirect = pub.String() + CallbackPath
	if u, err := url.Parse(b.LinkURL(s.redirect, "")); err == nil && u.Scheme != "" && u.Host != "" {
		s.ynaOrigin = u.Scheme + "://" + u.Host
	}
	path := pub.Path
	if path == "" {
		path = "/"
	}
	s.sess = newSessions(cfg.Now, pub.Scheme == "https", path)
	s.handler = s.routes()
	return s, nil
}

// RedirectURI is the OAuth redirect URI this server uses: PublicURL + CallbackPath.
func (s *Server) RedirectURI() string { return s.redirect }

// Handler returns the full handler (auth and security headers included), for tests or for
// mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// SetDraining makes /readyz answer 503 ("draining") while on.
func (s *Server) SetDraining(on bool) { s.draining.Store(on) }

// Start listens on Config.Addr (or uses Config.Listener) and serves in a goroutine owned by the Server (stopped by
// Close). ctx bounds only the listen call.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("admin: already started")
	}
	ln := s.cfg.Listener
	if ln == nil {
		var lc net.ListenConfig
		var err error
		if ln, err = lc.Listen(ctx, "tcp", s.cfg.Addr); err != nil {
			return fmt.Errorf("admin: listen %s: %w", s.cfg.Addr, err)
		}
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
	s.done = make(chan struct{})
	srv, done := s.srv, s.done
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin: serve", zap.Error(err))
		}
	}()
	s.log.Info("admin: listening", zap.String("addr", ln.Addr().String()))
	return nil
}

// Addr is the listening address (nil before Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close shuts the listener down gracefully (bounded by ctx, then forcibly) and waits for
// the serving goroutine. It is safe to call more than once and before Start.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	<-done
	if err != nil {
		return fmt.Errorf("admin: shutdown: %w", err)
	}
	return nil
}

// routes builds the mux and wraps it in the middleware.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	auth := s.requireAuth
	// Unauthenticated probes.
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	if s.cfg.Metrics != nil {
		if s.cfg.MetricsOpen {
			mux.Handle("GET /metrics", s.cfg.Metrics)
		} else {
			mux.Handle("GET /metrics", auth(s.cfg.Metrics))
		}
	}
	if s.cfg.Pprof {
		mux.Handle("GET /debug/pprof/", auth(http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/cmdline", auth(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("GET /debug/pprof/profile", auth(http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/symbol", auth(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("GET /debug/pprof/trace", auth(http.HandlerFunc(pprof.Trace)))
	}
	// HTML.
	mux.Handle("GET /{$}", auth(http.HandlerFunc(s.handleIndex)))
	mux.Handle("GET /link", auth(http.HandlerFunc(s.handleLink)))
	mux.Handle("GET "+CallbackPath, auth(http.HandlerFunc(s.handleCallback)))
	mux.Handle("POST /lines/{msisdn}/unlink", auth(http.HandlerFunc(s.handleUnlinkForm)))
	mux.Handle("GET /lines/{msisdn}/e911", auth(http.HandlerFunc(s.handleE911)))
	mux.Handle("POST /lines/{msisdn}/e911", auth(http.HandlerFunc(s.handleE911Form)))
	mux.Handle("GET /static/style.css", auth(http.HandlerFunc(s.handleCSS)))
	mux.Handle("GET /static/app.js", auth(http.HandlerFunc(s.handleJS)))
	mux.Handle("POST /calls/{id}/hangup", auth(http.HandlerFunc(s.handleHangupForm)))
	// JSON API.
	mux.Handle("GET /api/v1/lines", auth(http.HandlerFunc(s.apiLines)))
	mux.Handle("GET /api/v1/phones", auth(http.HandlerFunc(s.apiPhones)))
	mux.Handle("GET /api/v1/calls", auth(http.HandlerFunc(s.apiCalls)))
	mux.Handle("DELETE /api/v1/calls/{id}", auth(http.HandlerFunc(s.apiHangup)))
	mux.Handle("GET /api/v1/registrations", auth(http.HandlerFunc(s.apiPhones)))
	mux.Handle("GET /api/v1/cdrs", auth(http.HandlerFunc(s.apiCDRs)))
	mux.Handle("POST /api/v1/lines/{msisdn}/unlink", auth(http.HandlerFunc(s.apiUnlink)))
	mux.Handle("GET /api/v1/link", auth(http.HandlerFunc(s.apiLink)))
	mux.Handle("GET /api/v1/loglevel", auth(http.HandlerFunc(s.apiLogLevel)))
	mux.Handle("GET /api/v1/sip/blocks", auth(http.HandlerFunc(s.apiBlocks)))
	mux.Handle("DELETE /api/v1/sip/blocks/{source}", auth(http.HandlerFunc(s.apiUnblock)))
	mux.Handle("PUT /api/v1/loglevel", auth(http.HandlerFunc(s.apiLogLevel)))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("admin: cross-origin request refused", zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.String("origin", r.Header.Get("Origin")))
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return s.securityHeaders(cop.Handler(mux))
}

// backendCtx bounds a Backend call made for r.
func backendCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), backendTimeout)
}
