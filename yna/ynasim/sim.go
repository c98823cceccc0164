package ynasim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ynagw/ynagw/yna"
)

// Sim is one simulated YNA service: REST endpoints, link page, notification channel, calls and
// the /sim control API. Create it with New, serve it with Start (or mount Handler), stop it
// with Close. All methods are safe for concurrent use.
type Sim struct {
	cfg Config
	log *zap.Logger
	now func() time.Time

	// mu guards the account, app, grant and fault state below. Lock order: s.mu before hub.mu;
	// never call into the hub or callStore while holding s.mu.
	mu        sync.Mutex
	apps      map[string]*App
	appOrder  []string
	accounts  map[string]*Account
	acctOrder []string
	lines     map[string]*Account // MSISDN -> account
	flows     map[string]*linkFlow
	codes     map[string]*authCode
	e911Forms map[string]*e911Form
	access    map[string]*accessToken
	refresh   map[string]*grant
	jtis      map[string]time.Time
	jtiPruned time.Time
	prunedAt  time.Time // last sweep of dead tokens, codes, flows and forms (pruneLocked)
	faults    map[string]*EndpointFault
	nextAcct  int

	hub   *hub
	calls *callStore

	handler http.Handler
	done    chan struct{} // closed by Close; aborts fault delays

	srvMu     sync.Mutex
	srv       *http.Server
	url       string
	serveDone chan struct{}
	closed    bool
}

// New creates a simulator from cfg (defaults applied with cfg.Init). It does not listen;
// call Start or mount Handler.
func New(cfg Config) (*Sim, error) {
	cfg.Init()
	s := &Sim{
		cfg:       cfg,
		log:       cfg.Log,
		now:       cfg.Now,
		apps:      map[string]*App{},
		accounts:  map[string]*Account{},
		lines:     map[string]*Account{},
		flows:     map[string]*linkFlow{},
		codes:     map[string]*authCode{},
		e911Forms: map[string]*e911Form{},
		access:    map[string]*accessToken{},
		refresh:   map[string]*grant{},
		jtis:      map[string]time.Time{},
		faults:    map[string]*EndpointFault{},
		done:      make(chan struct{}),
	}
	for _, a := range cfg.Apps {
		if err := s.AddApp(a); err != nil {
			return nil, err
		}
	}
	for _, a := range cfg.Accounts {
		if _, err := s.AddAccount(a); err != nil {
			return nil, err
		}
	}
	s.hub = newHub(s)
	s.calls = newCallStore(s)

	mux := http.NewServeMux()
	s.routes(mux)
	s.controlRoutes(mux)
	s.calls.routes(mux)
	s.handler = withCORS(withJSONErrors(mux))
	return s, nil
}

// routes registers the service endpoints of §2 (the calling endpoints are the callStore's).
func (s *Sim) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+yna.PathLinkAccount, s.handleLinkPage)
	mux.HandleFunc("POST "+yna.PathLinkAccount, s.handleLinkSubmit)
	mux.HandleFunc("POST "+yna.PathToken, s.handleToken)
	mux.HandleFunc("GET "+yna.PathAccountStatus, s.handleStatus)
	mux.HandleFunc("DELETE "+yna.PathUnlink, s.handleUnlink)
	mux.HandleFunc("POST "+yna.PathChangeEmergencyAddress, s.handleE911)
	mux.HandleFunc("GET /ping/networkPing", s.handleNetworkPing)
	mux.HandleFunc("GET "+channelPathPrefix+"{token}"+channelPathSuffix, s.hub.handleUpgrade)
	mux.HandleFunc("GET /{$}", s.handleIndex)
}

// Handler returns the simulator's HTTP handler (service endpoints, channel, control API).
func (s *Sim) Handler() http.Handler { return s.handler }

// Start listens on addr (e.g. "127.0.0.1:0") and serves in a goroutine owned by s until Close.
func (s *Sim) Start(addr string) error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.closed {
		return errors.New("ynasim: closed")
	}
	if s.srv != nil {
		return errors.New("ynasim: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ynasim: listen %s: %w", addr, err)
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	s.url = "http://" + ln.Addr().String()
	s.serveDone = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ynasim: serve", zap.Error(err))
		}
	}(s.srv, s.serveDone)
	s.log.Info("ynasim: listening", zap.String("url", s.url))
	return nil
}

// URL returns the base URL ("http://127.0.0.1:port") after Start, else "".
func (s *Sim) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.url
}

// Close stops the server, closes every socket and call, and waits for the goroutines it owns.
func (s *Sim) Close() error {
	s.srvMu.Lock()
	if s.closed {
		s.srvMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	srv, serveDone := s.srv, s.serveDone
	s.srvMu.Unlock()

	s.hub.close()
	s.calls.close()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(ctx)
		cancel()
		if err != nil {
			err = srv.Close()
		}
		<-serveDone
	}
	return err
}

// logf logs a debug message.
func (s *Sim) logf(format string, args ...any) {
	s.log.Debug(fmt.Sprintf(format, args...))
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, mustErrorJSON(http.StatusInternalServerError, "encode: "+err.Error())
	}
	w.Header().Set("Content-Type", yna.ContentTypeJSON)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes the §3 error body {"errors":[{reasonCode,systemMessage,userMessage}]}.
func writeError(w http.ResponseWriter, status int, userMessage string) {
	writeJSON(w, status, yna.NewErrorBody(status, userMessage))
}

func mustErrorJSON(status int, msg string) []byte {
	b, _ := json.Marshal(yna.NewErrorBody(status, msg))
	return b
}

// withJSONErrors turns the mux's plain-text 404 and 405 answers into §3 error bodies.
func withJSONErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(&errorRewriter{ResponseWriter: w}, r)
	})
}

// errorRewriter replaces the body of a 404/405 written by the mux.
type errorRewriter struct {
	http.ResponseWriter
	swallow bool
}

func (e *errorRewriter) WriteHeader(code int) {
	if code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		e.ResponseWriter.WriteHeader(code)
		return
	}
	msg := "Entity does not exist"
	if code == http.StatusMethodNotAllowed {
		msg = "Method not allowed"
	}
	e.ResponseWriter.Header().Del("X-Content-Type-Options")
	e.ResponseWriter.Header().Set("Content-Type", yna.ContentTypeJSON)
	e.ResponseWriter.WriteHeader(code)
	_, _ = e.ResponseWriter.Write(mustErrorJSON(code, msg))
	e.swallow = true
}

func (e *errorRewriter) Write(b []byte) (int, error) {
	if e.swallow {
		return len(b), nil
	}
	return e.ResponseWriter.Write(b)
}

// corsAllowHeaders are the request headers a browser running the JS SDK sends (§14.14).
const corsAllowHeaders = "Authorization, X-Authorization, X-Transaction-Id, Content-Type, Accept, Conference, Reason"

// withCORS answers preflight requests and adds CORS headers so the JS SDK can run in a browser
// against the simulator (§14 item 14; guess).
func withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if origin := r.Header.Get("Origin"); origin != "" {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
		} else {
			h.Set("Access-Control-Allow-Origin", "*")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// handleNetworkPing serves the SDK's reachability probe (§5.7): no auth, any answer is "online".
func (s *Sim) handleNetworkPing(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
