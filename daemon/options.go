package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// Options are the already-converted configurations of every part. FromConfig builds them
// from the YAML configuration; the demo builds them directly.
type Options struct {
	SIP    sip.Config
	Bridge bridge.Config
	YNA    yna.Config // Key is required; Logger, Observe are set by New
	WebRTC rtpmedia.WebRTCConfig

	StorePath string
	StoreKey  []byte

	// Admin is the admin HTTP listener ("" = none).
	Admin AdminOptions

	// DrainTimeout is how long SIGTERM waits for active calls before ending them.
	DrainTimeout time.Duration
	// RefreshBefore refreshes a line's access token this long before it expires
	// (0: DefaultRefreshBefore).
	RefreshBefore time.Duration
	// Version is reported in ynagw_build_info.
	Version string

	Logger *zap.Logger      // nil: zap.NewNop()
	Level  *zap.AtomicLevel // the logger's level (admin log level route); may be nil
}

// AdminOptions configures the admin/metrics HTTP listener.
type AdminOptions struct {
	Listen             string // host:port; "" disables the listener
	Username, Password string
	Token              string
}

// Defaults of the daemon itself.
const (
	// DefaultRefreshBefore: tokens are refreshed this long before they expire.
	DefaultRefreshBefore = 10 * time.Minute
	// DefaultDrainTimeout bounds SIGTERM's wait for active calls.
	DefaultDrainTimeout = 60 * time.Second
)

// FromConfig converts the daemon configuration into Options (logger not set). The
// configuration must come from config.Load/Parse (defaults filled, validated).
func FromConfig(c *config.Config) (Options, error) {
	var errs []error
	o := Options{
		StorePath:    c.Store.Path,
		DrainTimeout: c.Timers.DrainTimeout,
		Admin:        AdminOptions{Listen: c.Admin.Listen, Username: c.Admin.Username, Password: c.Admin.Password, Token: c.Admin.Token},
	}
	if c.Store.Key != "" {
		k, err := store.ParseKey(c.Store.Key)
		if err != nil {
			errs = append(errs, fmt.Errorf("store.key: %w", err))
		}
		o.StoreKey = k
	} else {
		errs = append(errs, errors.New("store.key: required (32 bytes, hex or base64)"))
	}

	o.SIP = sipConfig(c)

	key, err := yna.ParsePrivateKeyPEM([]byte(c.Yna.PoPKey))
	if err != nil {
		errs = append(errs, fmt.Errorf("yna.pop_key: %w", err))
	}
	o.YNA = yna.Config{BaseURL: c.Yna.BaseURL, ClientID: c.Yna.ClientID, ClientSecret: c.Yna.ClientSecret, Key: key}

	bc, err := bridgeConfig(c)
	if err != nil {
		errs = append(errs, err)
	}
	o.Bridge = bc
	w := c.Webrtc
	o.WebRTC = rtpmedia.WebRTCConfig{
		AllowLoopback: w.AllowLoopback, NAT1To1IPs: w.NAT1To1IPs,
		UDPPortMin: uint16(w.UDPPortMin), UDPPortMax: uint16(w.UDPPortMax), UDPMuxPort: w.UDPMuxPort,
		STUNServers: w.STUNServers, ICEGatherTimeout: w.ICEGatherTimeout,
	}
	return o, errors.Join(errs...)
}

// sipConfig converts the SIP side (users and trunks included; also used by reload).
func sipConfig(c *config.Config) sip.Config {
	s := c.Sip
	sc := sip.Config{
		Domain: s.Domain, UserAgent: s.UserAgent, AuthFailLimit: s.AuthFailLimit, AuthBlockFor: s.AuthBlockFor,
		MaxConcurrentCalls: s.MaxConcurrentCalls, MaxRingTime: s.MaxRingTime, NonceTTL: s.NonceTTL,
		DigestAlgorithms: s.DigestAlgorithms,
		Registrar: sip.RegistrarConfig{MinExpires: s.Registrar.MinExpires, MaxExpires: s.Registrar.MaxExpires,
			DefaultExpires: s.Registrar.DefaultExpires, KeepAlive: s.Registrar.KeepAlive},
		SessionTimer: sip.SessionTimerConfig{Enabled: s.SessionTimer.Enabled, Expires: s.SessionTimer.Expires, MinSE: s.SessionTimer.MinSE},
	}
	for _, l := range s.Listen {
		sc.Listen = append(sc.Listen, sip.ListenConfig{Network: l.Transport, Addr: l.Bind, Advertise: l.Advertise, CertFile: l.CertFile, KeyFile: l.KeyFile})
	}
	sc.Users, sc.Trunks = sipUsers(c)
	return sc
}

func sipUsers(c *config.Config) ([]sip.User, []sip.Trunk) {
	var us []sip.User
	for _, u := range c.Users {
		us = append(us, sip.User{Username: u.Username, Password: u.Password})
	}
	var ts []sip.Trunk
	for _, t := range c.Trunks {
		st := sip.Trunk{Name: t.Name, Username: t.Username, Password: t.Password, URI: t.URI,
			OutUsername: t.OutUsername, OutPassword: t.OutPassword}
		for _, a := range t.AllowFrom {
			if p, err := netip.ParsePrefix(a); err == nil {
				st.AllowFrom = append(st.AllowFrom, p)
			} else if ip, err := netip.ParseAddr(a); err == nil {
				st.AllowFrom = append(st.AllowFrom, netip.PrefixFrom(ip, ip.BitLen()))
			}
		}
		ts = append(ts, st)
	}
	return us, ts
}

// lineConfigs converts the lines' routing (also used by reload). A ring_trunk naming a
// configured trunk becomes that trunk's URI.
func lineConfigs(c *config.Config) []bridge.LineConfig {
	var out []bridge.LineConfig
	for _, l := range c.Lines {
		lc := bridge.LineConfig{MSISDN: l.MSISDN, Ring: l.Ring, Outbound: l.Outbound, Prefix: l.Prefix, RingTrunk: l.RingTrunk}
		if lc.RingTrunk != "" && !strings.HasPrefix(strings.ToLower(lc.RingTrunk), "sip") {
			for _, t := range c.Trunks {
				if t.Name == lc.RingTrunk {
					lc.RingTrunk = t.URI
				}
			}
		}
		if n, err := yna.NormalizeLine(lc.MSISDN); err == nil {
			lc.MSISDN = n
		}
		out = append(out, lc)
	}
	return out
}

func bridgeConfig(c *config.Config) (bridge.Config, error) {
	bc := bridge.Config{
		Lines:    lineConfigs(c),
		DialPlan: bridge.DialPlan{StripPrefix: c.DialPlan.StripPrefix, CountryCode: c.DialPlan.CountryCode, NationalLength: c.DialPlan.NationalLength},
		Timers: bridge.Timers{RingTimeout: c.Timers.RingTimeout, SetupTimeout: c.Timers.SetupTimeout,
			MediaTimeout: c.RTP.MediaTimeout, HeldMediaTimeout: c.RTP.HeldMediaTimeout,
			DrainTimeout: c.Timers.HangupTimeout, RESTTimeout: c.Timers.RESTTimeout},
		Media:              bridge.MediaConfig{PortMin: c.RTP.PortMin, PortMax: c.RTP.PortMax, PTime: c.RTP.PTime},
		RedirectURI:        c.Yna.RedirectURI,
		ChannelMaxAttempts: c.Yna.ChannelMaxAttempts,
	}
	var errs []error
	if c.RTP.BindIP != "" {
		ip, err := netip.ParseAddr(c.RTP.BindIP)
		if err != nil {
			errs = append(errs, fmt.Errorf("rtp.bind_ip: %w", err))
		}
		bc.Media.BindIP = ip
	}
	if c.RTP.AdvertiseIP != "" {
		ip, err := netip.ParseAddr(c.RTP.AdvertiseIP)
		if err != nil {
			errs = append(errs, fmt.Errorf("rtp.advertise_ip: %w", err))
		}
		bc.Media.AdvertiseIP = ip
	}
	return bc, errors.Join(errs...)
}
