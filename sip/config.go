package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"
)

// ListenConfig is one SIP listener.
type ListenConfig struct {
	Network   string // "udp", "tcp" or "tls"
	Addr      string // bind address, e.g. "127.0.0.1:5060"; port 0 picks a free port
	Advertise string // optional "host:port" put in Via/Contact instead of the bound address
	CertFile  string // tls only
	KeyFile   string // tls only
}

// User is a desk phone account allowed to REGISTER and place calls.
type User struct {
	Username string
	Password string
	AOR      string // address of record; default "sip:<Username>@<Domain>"
	// SRTP is the media encryption policy toward this phone ("", "off",
	// "optional", "required"). The sip package only carries it
	// (InboundCall.SRTP, Server.UserSRTP); the bridge applies it.
	SRTP string
}

// Trunk is a PBX / SIP trunk peer.
type Trunk struct {
	Name      string
	AllowFrom []netip.Prefix // source addresses accepted without digest (if Username is empty) or before digest
	Username  string         // optional inbound digest user
	Password  string         // optional inbound digest password
	URI       string         // outbound target, e.g. "sip:pbx.example.com:5060;transport=udp"

	OutUsername string // credentials we answer the trunk's challenges with (outbound)
	OutPassword string

	SRTP   string // media encryption policy toward the trunk, carried like User.SRTP
	CAFile string // PEM CAs the trunk's TLS server certificate must chain to; "" = Config.CAFile
}

// RegistrarConfig bounds registration lifetimes.
type RegistrarConfig struct {
	MinExpires     time.Duration // shorter requests get 423 with Min-Expires
	MaxExpires     time.Duration // longer requests are clamped
	DefaultExpires time.Duration // used when the REGISTER carries no expiry
	KeepAlive      time.Duration // >0: send OPTIONS to every registered contact at this interval
}

// SessionTimerConfig configures RFC 4028 session timers.
type SessionTimerConfig struct {
	Enabled bool
	Expires time.Duration // session interval we ask for / accept at most
	MinSE   time.Duration // smallest interval we accept (422 below)
}

// Config configures a Server. Call Init to fill defaults and Validate before NewServer
// (NewServer does both).
type Config struct {
	Listen             []ListenConfig
	Domain             string // realm and AOR host; default "ynagw"
	Users              []User
	Trunks             []Trunk
	Registrar          RegistrarConfig
	SessionTimer       SessionTimerConfig
	AuthFailLimit      int           // failed digest attempts from one source before it is blocked; default 10
	AuthBlockFor       time.Duration // first block of a (source, username); each further block doubles; default 5m
	AuthBlockMax       time.Duration // longest block; default 24h
	MaxTrackedNonces   int           // bound on nonces whose nonce-counts are tracked; default DefaultMaxTrackedNonces
	MaxConcurrentCalls int           // >0: further INVITEs get 503 with Retry-After
	MaxRingTime        time.Duration // an INVITE neither answered nor rejected by then gets 480; default 3m
	UserAgent          string        // User-Agent / Server header; default "ynagw"
	NonceTTL           time.Duration // digest nonce lifetime; default 5m (older nonces get stale=true)
	DigestAlgorithms   []string      // challenge algorithms in order; default ["MD5"]. Add "SHA-256" only if every phone copes: baresip/libre fails on any non-MD5 challenge
	CAFile             string        // PEM CAs that TLS servers we connect to (trunks, phones) must chain to; "" = system roots
	Logger             *zap.Logger
	Observer           Observer // metrics hooks; nil = none
	// Registrations keeps the registrar's bindings; nil = in memory, private to
	// this Server. A store shared by several nodes lets each ring every phone.
	Registrations RegistrationStore
	// NodeID names this node in the bindings it writes (Contact.Node); "" is fine for one node.
	NodeID string
	// Proxies are the SIP proxies in front of this node (Kamailio,
	// configs/kamailio). Their requests name the client in X-Ynagw-Source
	// (the proxy drops any copy a client sent); digest nonces and the auth
	// guard key on that address, so a phone's failures do not block a username
	// for every phone behind the proxy. Trunk allow-lists still see the proxy.
	Proxies []netip.Prefix
	// Ready, if set, decides how out-of-dialog OPTIONS are answered: nil error
	// 200, else 503 with Retry-After (a proxy's health probe takes the node out
	// of rotation). nil: always 200 while the server runs.
	Ready func(ctx context.Context) error

	now func() time.Time // clock for auth decisions; tests set it; default time.Now
	// readyTTL is how long one Ready answer serves OPTIONS (a flood of
	// unauthenticated OPTIONS costs one Ready call per period); default
	// defaultReadyTTL, <0 none (tests).
	readyTTL time.Duration
}

// Init fills zero fields with defaults.
func (c *Config) Init() {
	if c.Domain == "" {
		c.Domain = "ynagw"
	}
	if c.Registrar.MinExpires == 0 {
		c.Registrar.MinExpires = 60 * time.Second
	}
	if c.Registrar.MaxExpires == 0 {
		c.Registrar.MaxExpires = time.Hour
	}
	if c.Registrar.DefaultExpires == 0 {
		c.Registrar.DefaultExpires = 3600 * time.Second
		if c.Registrar.DefaultExpires > c.Registrar.MaxExpires {
			c.Registrar.DefaultExpires = c.Registrar.MaxExpires
		}
	}
	if c.SessionTimer.MinSE == 0 {
		c.SessionTimer.MinSE = 90 * time.Second
	}
	if c.SessionTimer.Expires == 0 {
		c.SessionTimer.Expires = 1800 * time.Second
	}
	if c.AuthFailLimit == 0 {
		c.AuthFailLimit = 10
	}
	if c.AuthBlockFor == 0 {
		c.AuthBlockFor = 5 * time.Minute
	}
	if c.AuthBlockMax == 0 {
		c.AuthBlockMax = 24 * time.Hour
	}
	if c.AuthBlockMax < c.AuthBlockFor {
		c.AuthBlockMax = c.AuthBlockFor
	}
	if c.MaxTrackedNonces == 0 {
		c.MaxTrackedNonces = DefaultMaxTrackedNonces
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.readyTTL == 0 {
		c.readyTTL = defaultReadyTTL
	}
	if c.UserAgent == "" {
		c.UserAgent = "ynagw"
	}
	if c.MaxRingTime == 0 {
		c.MaxRingTime = 3 * time.Minute
	}
	if c.NonceTTL == 0 {
		c.NonceTTL = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	fillUserAORs(c.Users, c.Domain)
	for i := range c.Listen {
		c.Listen[i].Network = strings.ToLower(c.Listen[i].Network)
	}
}

// Validate reports configuration errors.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Listen) == 0 {
		errs = append(errs, errors.New("no listeners"))
	}
	seen := map[string]bool{}
	for i, l := range c.Listen {
		switch l.Network {
		case "udp", "tcp":
		case "tls":
			if l.CertFile == "" || l.KeyFile == "" {
				errs = append(errs, fmt.Errorf("listen[%d]: tls needs CertFile and KeyFile", i))
			}
		default:
			errs = append(errs, fmt.Errorf("listen[%d]: unsupported network %q", i, l.Network))
		}
		if seen[l.Network] {
			errs = append(errs, fmt.Errorf("listen[%d]: only one %s listener supported", i, l.Network))
		}
		seen[l.Network] = true
		if _, _, err := net.SplitHostPort(l.Addr); err != nil {
			errs = append(errs, fmt.Errorf("listen[%d]: addr %q: %w", i, l.Addr, err))
		}
		if l.Advertise != "" {
			if _, _, err := net.SplitHostPort(l.Advertise); err != nil {
				errs = append(errs, fmt.Errorf("listen[%d]: advertise %q: %w", i, l.Advertise, err))
			}
		}
	}
	if err := validateUsers(c.Users); err != nil {
		errs = append(errs, err)
	}
	for i, t := range c.Trunks {
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("trunks[%d]: name required", i))
		}
		if len(t.AllowFrom) == 0 && t.Username == "" && t.URI == "" {
			errs = append(errs, fmt.Errorf("trunks[%d]: needs AllowFrom, Username or URI", i))
		}
		if (t.Username == "") != (t.Password == "") {
			errs = append(errs, fmt.Errorf("trunks[%d]: Username and Password go together", i))
		}
	}
	r := c.Registrar
	if r.MinExpires < 0 || r.MaxExpires < r.MinExpires {
		errs = append(errs, fmt.Errorf("registrar: need 0 <= MinExpires <= MaxExpires"))
	}
	if c.SessionTimer.Enabled && c.SessionTimer.Expires < c.SessionTimer.MinSE {
		errs = append(errs, fmt.Errorf("session timer: Expires < MinSE"))
	}
	if c.MaxConcurrentCalls < 0 || c.AuthFailLimit < 0 {
		errs = append(errs, fmt.Errorf("negative limits"))
	}
	return errors.Join(errs...)
}
