// Package demo owns `ynagw demo`: a self-contained run of the whole gateway on loopback.
// It starts an embedded YNA simulator (auto-approving links, a generated demo app key),
// the daemon (SQLite in a temp dir, SIP on a random 127.0.0.1 port), links a line through
// the real link flow, and plays a scripted desk phone through one outbound call (register,
// dial, ringing, connected, audio both ways, hold, resume, hang up) and one inbound call,
// printing each step as it happens.
package demo

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/daemon"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
	"go.uber.org/zap"
)

// Demo identities.
const (
	Line       = "14255550100"
	Account    = "demo"
	PhoneUser  = "201"
	Domain     = "ynagw.local"
	DialNumber = "2065550123"  // the number the phone dials
	Caller     = "12065550199" // who calls the line
	redirect   = "http://127.0.0.1:8080/link/callback"
)

// DefaultDeadline bounds the whole demo.
const DefaultDeadline = 60 * time.Second

// audioPackets is how many packets each side must receive before a call counts as
// carrying audio both ways (50 packets = 1 s of 20 ms G.711).
const audioPackets = 50

// Options configure Run.
type Options struct {
	Out      io.Writer     // step lines (nil: os.Stdout)
	Logs     io.Writer     // gateway JSON logs (nil: discarded)
	Version  string        // ynagw version printed in the banner
	Deadline time.Duration // 0: DefaultDeadline
}

// printer writes "[ 0.12s] message" lines.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (p *printer) step(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = fmt.Fprintf(p.w, "[%5.2fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// Run plays the demo; it returns an error naming the step that failed.
func Run(ctx context.Context, o Options) error {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Deadline <= 0 {
		o.Deadline = DefaultDeadline
	}
	ctx, cancel := context.WithTimeout(ctx, o.Deadline)
	defer cancel()
	pr := &printer{w: o.Out, start: time.Now()}
	log := zap.NewNop()
	if o.Logs != nil {
		l, _, err := daemon.NewLogger(o.Logs, "info", "json")
		if err != nil {
			return err
		}
		log = l
	}
	e := &env{pr: pr, log: log}
	defer e.close()
	steps := []struct {
		name string
		f    func(context.Context) error
	}{
		{"start simulator", e.startSim},
		{"start gateway", e.startGateway},
		{"link line", e.link},
		{"register phone", e.register},
		{"outbound call", e.outbound},
		{"inbound call", e.inbound},
		{"summary", e.summary},
	}
	for _, s := range steps {
		if err := s.f(ctx); err != nil {
			pr.step("FAILED: %s: %v", s.name, err)
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	pr.step("demo finished OK")
	return nil
}

// env is what the demo started; close stops it in reverse order.
type env struct {
	pr        *printer
	log       *zap.Logger
	dir       string
	sim       *ynasim.Sim
	key       *rsa.PrivateKey
	appID     string
	appSc     string
	d         *daemon.Daemon
	phone     *Phone
	phonePass string

	outID, inID string
}

func (e *env) close() {
	if e.phone != nil {
		e.phone.Close()
	}
	if e.d != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_ = e.d.Close(ctx)
		cancel()
	}
	if e.sim != nil {
		_ = e.sim.Close()
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
	_ = e.log.Sync()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (e *env) startSim(context.Context) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := yna.MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		return err
	}
	e.key, e.appID, e.appSc = key, "ynagw-demo-"+randomHex(4), randomHex(16)
	e.sim, err = ynasim.New(ynasim.Config{
		Apps:        []ynasim.App{{ClientID: e.appID, ClientSecret: e.appSc, PublicKeyPEM: string(pub), Name: "ynagw demo"}},
		Accounts:    []ynasim.Account{{ID: Account, Lines: []string{Line}}},
		AutoApprove: true,
		Log:         e.log.Named("ynasim"),
	})
	if err != nil {
		return err
	}
	if err := e.sim.Start("127.0.0.1:0"); err != nil {
		return err
	}
	// The far end answers 1 s after ringing, so the phone sees 183, 180 and then 200.
	if err := e.sim.SetNumberBehaviour(DialNumber, ynasim.Behaviour{Kind: ynasim.BehaviourAnswerAfter, DelayMs: 1000}); err != nil {
		return err
	}
	e.pr.step("ynasim (simulated T-Mobile YNA) listening at %s, demo app %s, account %q with line %s", e.sim.URL(), e.appID, Account, Line)
	return nil
}

func (e *env) startGateway(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "ynagw-demo-")
	if err != nil {
		return err
	}
	e.dir = dir
	skey, err := store.NewKey()
	if err != nil {
		return err
	}
	k, err := store.ParseKey(skey)
	if err != nil {
		return err
	}
	lo := netip.MustParseAddr("127.0.0.1")
	opts := daemon.Options{
		SIP: sip.Config{
			Listen:    []sip.ListenConfig{{Network: "udp", Addr: "127.0.0.1:0"}},
			Domain:    Domain,
			Users:     []sip.User{{Username: PhoneUser, Password: randomHex(8)}},
			Registrar: sip.RegistrarConfig{MinExpires: 30 * time.Second, MaxExpires: time.Hour, DefaultExpires: 600 * time.Second},
		},
		Bridge: bridge.Config{
			Lines:       []bridge.LineConfig{{MSISDN: Line, Ring: []string{PhoneUser}, Outbound: []string{PhoneUser}}},
			Media:       bridge.MediaConfig{BindIP: lo},
			Timers:      bridge.Timers{RingTimeout: 20 * time.Second, SetupTimeout: 20 * time.Second, DrainTimeout: 3 * time.Second, RESTTimeout: 10 * time.Second},
			RedirectURI: redirect,
		},
		YNA:          yna.Config{BaseURL: e.sim.URL(), ClientID: e.appID, ClientSecret: e.appSc, Key: e.key, StatusRetryDelay: 100 * time.Millisecond},
		WebRTC:       rtpmedia.WebRTCConfig{AllowLoopback: true, ICEGatherTimeout: 2 * time.Second},
		StorePath:    filepath.Join(dir, "ynagw.db"),
		StoreKey:     k,
		DrainTimeout: 5 * time.Second,
		Version:      "demo",
		Logger:       e.log,
	}
	e.phonePass = opts.SIP.Users[0].Password
	d, err := daemon.New(ctx, opts)
	if err != nil {
		return err
	}
	e.d = d
	if err := d.Start(ctx); err != nil {
		return err
	}
	e.pr.step("gateway started: SIP udp %s, store %s", d.SIPAddr("udp"), opts.StorePath)
	return nil
}

func (e *env) link(ctx context.Context) error {
	b := e.d.Backend()
	u := b.LinkURL(redirect, "demo-state") + "&login_hint=" + url.QueryEscape(Account)
	e.pr.step("linking line: GET %s", shorten(u, 90))
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	_ = res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return fmt.Errorf("link page answered %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	e.pr.step("link approved: redirected to %s with an authorization code", loc.Scheme+"://"+loc.Host+loc.Path)
	msisdn, err := b.CompleteLink(ctx, loc.Query().Get("code"), redirect)
	if err != nil {
		return err
	}
	e.pr.step("line %s linked: tokens exchanged and stored (encrypted)", msisdn)
	if _, err := e.sim.WaitChannel(ctx, Account, func(ci ynasim.ChannelInfo) bool { return ci.SocketsOpen > 0 }); err != nil {
		return fmt.Errorf("notification channel: %w", err)
	}
	e.pr.step("notification channel of line %s connected", msisdn)
	return nil
}
