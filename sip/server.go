package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// Handler receives new inbound calls.
type Handler interface {
	// HandleInvite is called in its own goroutine for every new (authorised) INVITE.
	// It must end the call with Answer or Reject (or see it cancelled: c.Done()).
	// ctx is cancelled when the INVITE is cancelled, the call's dialog ends or the
	// server closes; HandleInvite must return soon after (Close waits for it).
	HandleInvite(ctx context.Context, c *InboundCall)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c *InboundCall)

// HandleInvite calls f.
func (f HandlerFunc) HandleInvite(ctx context.Context, c *InboundCall) { f(ctx, c) }

// Contact is one registrar binding.
type Contact struct {
	AOR       string         // address of record, e.g. "sip:alice@ynagw"
	URI       string         // Contact URI as registered
	Source    netip.AddrPort // where the REGISTER came from (used to reach NATed phones)
	Transport string         // "udp", "tcp", "tls"
	Expires   time.Time
	CallID    string
	CSeq      uint32
	UserAgent string
	// User is the registrar's key: the lower-case user name of the account.
	User string
	// Path is the Path (RFC 3327) the REGISTER came with, top first, each a
	// name-addr as received ("<sip:10.0.0.1:5060;lr>"). Requests to this
	// contact carry it as their Route set (Target.Route).
	Path []string
	// Node is Config.NodeID of the node that accepted the registration.
	Node string
}

const (
	allowMethods    = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO"
	acceptTypes     = "application/sdp, application/dtmf-relay, application/dtmf"
	supportedOpts   = "timer"
	housekeepPeriod = time.Second
)

// Server is the SIP endpoint: listeners, registrar, inbound calls and dialogs.
//
// For the outbound code in this package (uac.go, fork.go) the useful fields are
// ua, client, dialogUAs (per transport, carries our Contact), cfg and log, plus
// newClientDialog to turn an answered sipgo.DialogClientSession into a *Dialog.
type Server struct {
	cfg        Config
	log        *zap.Logger
	nonces     *nonceMaker
	guard      *authGuard
	ncs        *ncTracker // nonce-counts used per nonce (replay defence)
	now        func() time.Time
	reg        *registrar
	digestAlgs []string
	obs        Observer                  // never nil
	users      atomic.Pointer[userTable] // desk-phone accounts; replaced by SetUsers
	usersMu    sync.Mutex                // serialises SetUsers

	ua        *sipgo.UserAgent
	sipSrv    *sipgo.Server
	client    *sipgo.Client
	dialogUAs map[string]*sipgo.DialogUA // by network
	udpListen *udpListener               // the UDP listener socket s.client sends from

	handler atomic.Pointer[Handler]

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	started   bool
	closing   bool
	wg        sync.WaitGroup // every goroutine we own and every request in a handler
	addrs     map[string]netip.AddrPort
	advertise map[string]string
	closers   []io.Closer
	dialogs   map[string]*Dialog
	calls     map[*InboundCall]struct{}
	active    atomic.Int32 // calls counted against MaxConcurrentCalls
	closeOnce sync.Once

	readyMu  sync.Mutex // guards readyAt, readyErr: Config.Ready's last answer (readiness)
	readyAt  time.Time
	readyErr error

	releaseSlog func()                // stops routing sipgo's default logger to s.log
	streams     map[string]*gatedConn // accepted TCP/TLS connections by streamKey
}

// NewServer fills defaults (Config.Init), validates cfg and builds a Server. Call Start to listen.
func NewServer(cfg Config) (*Server, error) {
	cfg.Init()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sip config: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger.Named("sip"),
		nonces:     newNonceMaker(cfg.NonceTTL),
		guard:      newAuthGuard(cfg.AuthFailLimit, cfg.AuthBlockFor, cfg.AuthBlockMax),
		ncs:        newNCTracker(cfg.MaxTrackedNonces),
		now:        cfg.now,
		digestAlgs: []string{"MD5"},
		ctx:        ctx,
		cancel:     cancel,
		addrs:      map[string]netip.AddrPort{},
		advertise:  map[string]string{},
		dialogs:    map[string]*Dialog{},
		calls:      map[*InboundCall]struct{}{},
		dialogUAs:  map[string]*sipgo.DialogUA{},
		streams:    map[string]*gatedConn{},
	}
	s.obs = cfg.Observer
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	if len(cfg.DigestAlgorithms) > 0 {
		s.digestAlgs = cfg.DigestAlgorithms
	}
	s.users.Store(newUserTable(cfg.Users))
	s.reg = newRegistrar(s)
	return s, nil
}

// Start binds all listeners and starts serving; it returns once sipgo serves
// every listener (so requests sent right after Start leave from the UDP
// listener socket). ctx only bounds the start-up.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started || s.closing {
		s.mu.Unlock()
		return errors.New("sip: server already started or closed")
	}
	s.started = true
	s.mu.Unlock()

	// sipgo's own log lines go to our zap logger (logbridge.go)
	sgl := s.log.Named("sipgo")
	sl := slog.New(newZapSlogHandler(sgl))
	s.mu.Lock()
	s.releaseSlog = useSipgoDefault(sgl)
	s.mu.Unlock()
	tlsConf, err := clientTLSConfig(&s.cfg)
	if err != nil {
		return fmt.Errorf("sip tls client: %w", err)
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgenTLSConfig(tlsConf),
		sipgo.WithUserAgent(s.cfg.UserAgent),
		sipgo.WithUserAgentHostname(s.cfg.Domain),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sl),
			sip.WithTransactionLayerUnhandledResponseHandler(s.onUnhandledResponse),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sl)),
	)
	if err != nil {
		return fmt.Errorf("sip ua: %w", err)
	}
	if s.cfg.Observer != nil {
		// before any listener runs: the handler list is not synchronised
		ua.TransportLayer().OnMessage(s.observeMessages)
	}
	sipSrv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sl))
	if err != nil {
		_ = ua.Close()
		return fmt.Errorf("sip server: %w", err)
	}
	copts := []sipgo.ClientOption{sipgo.WithClientLogger(sl)}
	for _, l := range s.cfg.Listen {
		if host, _, err := net.SplitHostPort(l.Advertise); err == nil && host != "" {
			copts = append(copts, sipgo.WithClientHostname(host)) // Via sent-by host behind NAT
			break
		}
	}
	client, err := sipgo.NewClient(ua, copts...)
	if err != nil {
		_ = ua.Close()
		return fmt.Errorf("sip client: %w", err)
	}
	client.TxRequester = listenerRequester{s: s} // UDP requests leave from the listener
	s.mu.Lock()
	s.ua, s.sipSrv, s.client = ua, sipSrv, client
	s.mu.Unlock()
	s.routes()

	for _, l := range s.cfg.Listen {
		if err := s.listen(ctx, l); err != nil {
			_ = s.Close()
			return err
		}
	}
	s.goOwned(s.housekeeping)
	if s.cfg.Registrar.KeepAlive > 0 {
		s.goOwned(s.keepAliveLoop)
	}
	s.log.Info("sip server started", zap.Any("addrs", s.addrs))
	return nil
}

func (s *Server) listen(ctx context.Context, l ListenConfig) error {
	var lc net.ListenConfig
	var bound netip.AddrPort
	switch l.Network {
	case "udp":
		pc, err := lc.ListenPacket(ctx, "udp", l.Addr)
		if err != nil {
			return fmt.Errorf("sip listen udp %s: %w", l.Addr, err)
		}
		local := pc.LocalAddr().(*net.UDPAddr)
		bound = local.AddrPort()
		s.mu.Lock()
		s.udpListen = newUDPListener(local, l.Advertise)
		s.mu.Unlock()
		s.addCloser(pc)
		ppc := newPinnedPacketConn(newGatedPacketConn(pc, s), s.ua.TransportLayer().Pool("udp"))
		spc, served := newServedPacketConn(ppc), make(chan struct{})
		if !s.goOwned(func() { defer close(served); _ = s.sipSrv.ServeUDP(spc) }) {
			return fmt.Errorf("sip listen udp %s: %w", l.Addr, ErrClosed)
		}
		if err := waitServed(ctx, "udp "+l.Addr, spc.ready, served); err != nil {
			return err
		}
	case "tcp", "tls":
		ln, err := lc.Listen(ctx, "tcp", l.Addr)
		if err != nil {
			return fmt.Errorf("sip listen %s %s: %w", l.Network, l.Addr, err)
		}
		bound = ln.Addr().(*net.TCPAddr).AddrPort()
		if l.Network == "tls" {
			cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
			if err != nil {
				_ = ln.Close()
				return fmt.Errorf("sip tls cert: %w", err)
			}
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		}
		ln = newGatedListener(ln, s, l.Network)
		s.addCloser(ln)
		sln, served := newServedListener(ln), make(chan struct{})
		serve := s.sipSrv.ServeTCP
		if l.Network == "tls" {
			serve = s.sipSrv.ServeTLS
		}
		if !s.goOwned(func() { defer close(served); _ = serve(sln) }) {
			return fmt.Errorf("sip listen %s %s: %w", l.Network, l.Addr, ErrClosed)
		}
		if err := waitServed(ctx, l.Network+" "+l.Addr, sln.ready, served); err != nil {
			return err
		}
	}
	bound = netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port())
	adv := l.Advertise
	if adv == "" {
		adv = bound.String()
	}
	host, portS, _ := net.SplitHostPort(adv)
	port, _ := strconv.Atoi(portS)
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: s.cfg.UserAgent, Host: host, Port: port}}
	if l.Network != "udp" {
		contact.Address.UriParams = sip.NewParams()
		contact.Address.UriParams.Add("transport", l.Network)
	}
	s.mu.Lock()
	s.addrs[l.Network] = bound
	s.advertise[l.Network] = adv
	s.dialogUAs[l.Network] = &sipgo.DialogUA{Client: s.client, ContactHDR: contact, RewriteContact: true}
	s.mu.Unlock()
	return nil
}

func (s *Server) addCloser(c io.Closer) {
	s.mu.Lock()
	s.closers = append(s.closers, c)
	s.mu.Unlock()
}

// goOwned runs f in a goroutine that Close waits for.
func (s *Server) goOwned(f func()) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// enter registers a request being handled; false when closing.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

// Addr returns the actual bound address of the listener for network ("udp", "tcp", "tls").
func (s *Server) Addr(network string) netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[network]
}

// closeForksWait bounds how long Close waits for ringing forks to be CANCELled
// (200 to the CANCEL, 487 to the INVITE, our ACK) before closing the transports.
const closeForksWait = 2 * time.Second

// Close CANCELs ringing outbound forks (Reason SIP;cause=503, best effort, 2 s),
// ends every inbound call (480) and dialog (BYE, best effort, 2 s), then stops
// listeners and waits for all goroutines it owns.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		// First, while transports and the server context are still up: phones
		// ringing for a fork get a CANCEL instead of ringing on until their own
		// timeout. A fork answered meanwhile becomes a dialog, hung up below.
		fctx, fcancel := context.WithTimeout(context.Background(), closeForksWait)
		s.cancelForks(fctx)
		fcancel()

		s.mu.Lock()
		dialogs := make([]*Dialog, 0, len(s.dialogs))
		for _, d := range s.dialogs {
			dialogs = append(dialogs, d)
		}
		calls := make([]*InboundCall, 0, len(s.calls))
		for c := range s.calls {
			calls = append(calls, c)
		}
		s.mu.Unlock()

		for _, c := range calls {
			_ = c.Reject(480, "Server shutting down")
		}
		var bw sync.WaitGroup
		for _, d := range dialogs {
			bw.Add(1)
			go func() {
				defer bw.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = d.hangup(ctx, "server shutdown", ErrClosed)
			}()
		}
		bw.Wait()

		s.mu.Lock()
		s.closing = true
		closers := s.closers
		s.mu.Unlock()
		s.cancel()
		for _, c := range closers {
			_ = c.Close()
		}
		if s.ua != nil {
			s.ua.TransactionLayer().Close() // again in closeUA: releases the transactions' connection references first
			s.closeStreams()
			_ = closeUA(s.ua) // not ua.Close: see pinnedPacketConn
		}
		s.wg.Wait()
		s.mu.Lock()
		release := s.releaseSlog
		s.mu.Unlock()
		if release != nil {
			release()
		}
	})
	return nil
}

// SetHandler sets the inbound call handler (calls are rejected 480 without one).
func (s *Server) SetHandler(h Handler) {
	if h == nil {
		s.handler.Store(nil)
		return
	}
	s.handler.Store(&h)
}

// Contacts returns the unexpired bindings of aor ("sip:alice@domain" or just "alice").
func (s *Server) Contacts(aor string) []Contact { return s.reg.contacts(aor) }

// Registrations returns the number of unexpired bindings.
func (s *Server) Registrations() int { return s.reg.count() }

// housekeeping purges expired bindings and old auth-failure records.
func (s *Server) housekeeping() {
	t := time.NewTicker(housekeepPeriod)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.reg.purge(now)
			s.guard.purge(s.now())
			s.ncs.purge(s.now())
			s.reportBlocked(s.now())
		}
	}
}

func (s *Server) dialogUA(network string) *sipgo.DialogUA {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ua := s.dialogUAs[sip.NetworkToLower(network)]; ua != nil {
		return ua
	}
	for _, n := range []string{"udp", "tcp", "tls"} {
		if ua := s.dialogUAs[n]; ua != nil {
			return ua
		}
	}
	return nil
}

// --- dialog table ---

func dialogKey(callID, localTag, remoteTag string) string {
	return callID + "\x00" + localTag + "\x00" + remoteTag
}

// requestDialogKey is the key of the dialog an incoming in-dialog request belongs to.
func requestDialogKey(req *sip.Request) (string, bool) {
	cid, from, to := req.CallID(), req.From(), req.To()
	if cid == nil || from == nil || to == nil {
		return "", false
	}
	lt, _ := to.Params.Get("tag")
	rt, _ := from.Params.Get("tag")
	if lt == "" {
		return "", false
	}
	return dialogKey(cid.Value(), lt, rt), true
}

func (s *Server) addDialog(d *Dialog) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.dialogs[d.key] = d
	return true
}

func (s *Server) removeDialog(d *Dialog) {
	s.mu.Lock()
	if s.dialogs[d.key] == d {
		delete(s.dialogs, d.key)
	}
	s.mu.Unlock()
}

func (s *Server) findDialog(req *sip.Request) *Dialog {
	k, ok := requestDialogKey(req)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dialogs[k]
}

// --- responses ---

// respond builds and sends a response to req.
func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, body []byte, hdrs ...sip.Header) {
	if reason == "" {
		reason = StatusText(code)
	}
	res := sip.NewResponseFromRequest(req, code, reason, body)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	s.send(tx, res)
}

func (s *Server) send(tx sip.ServerTransaction, res *sip.Response) {
	if res.GetHeader("Server") == nil {
		res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	}
	if tx == nil {
		if err := s.ua.TransportLayer().WriteMsg(res); err != nil {
			s.log.Debug("write response failed", zap.Error(err))
			return
		}
		s.obs.Response(res.StatusCode)
		return
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond failed", zap.Int("code", res.StatusCode), zap.Error(err))
		return
	}
	s.obs.Response(res.StatusCode)
}

func retryAfter(sec int) sip.Header { return sip.NewHeader("Retry-After", strconv.Itoa(sec)) }
