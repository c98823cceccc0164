package config

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
)

// SIP returns the sip.Config (Logger unset). Users' display names have no sip field.
func (c *Config) SIP() sip.Config {
	s := c.Sip
	out := sip.Config{
		Domain: s.Domain,
		Registrar: sip.RegistrarConfig{
			MinExpires:     s.Registrar.MinExpires,
			MaxExpires:     s.Registrar.MaxExpires,
			DefaultExpires: s.Registrar.DefaultExpires,
			KeepAlive:      s.Registrar.KeepAlive,
		},
		SessionTimer: sip.SessionTimerConfig{
			Enabled: s.SessionTimer.Enabled,
			Expires: s.SessionTimer.Expires,
			MinSE:   s.SessionTimer.MinSE,
		},
		AuthFailLimit:      s.AuthFailLimit,
		AuthBlockFor:       s.AuthBlockFor,
		AuthBlockMax:       s.AuthBlockMax,
		MaxConcurrentCalls: s.MaxConcurrentCalls,
		MaxRingTime:        s.MaxRingTime,
		UserAgent:          s.UserAgent,
		NonceTTL:           s.NonceTTL,
		DigestAlgorithms:   append([]string(nil), s.DigestAlgorithms...),
		CAFile:             s.CAFile,
	}
	for _, l := range s.Listen {
		out.Listen = append(out.Listen, sip.ListenConfig{
			Network: l.Transport, Addr: l.Bind, Advertise: l.Advertise, CertFile: l.CertFile, KeyFile: l.KeyFile,
		})
	}
	for _, a := range s.Proxies {
		if pf, err := parsePrefix(a); err == nil {
			out.Proxies = append(out.Proxies, pf)
		}
	}
	out.Users = c.SIPUsers()
	for _, t := range c.Trunks {
		st := sip.Trunk{
			Name: t.Name, Username: t.Username, Password: t.Password, URI: t.URI,
			OutUsername: t.OutUsername, OutPassword: t.OutPassword,
			SRTP: t.SRTP, CAFile: t.CAFile,
		}
		for _, a := range t.AllowFrom {
			if pf, err := parsePrefix(a); err == nil {
				st.AllowFrom = append(st.AllowFrom, pf)
			}
		}
		out.Trunks = append(out.Trunks, st)
	}
	return out
}

// SIPUsers returns the desk phone accounts (what a reload may replace).
func (c *Config) SIPUsers() []sip.User {
	var out []sip.User
	for _, u := range c.Users {
		out = append(out, sip.User{Username: u.Username, Password: u.Password, SRTP: u.SRTP})
	}
	return out
}

// Bridge returns the bridge.Config. A ring_trunk naming a trunk becomes that trunk's URI;
// line numbers are normalised to 1NXXNXXXXXX.
func (c *Config) Bridge() bridge.Config {
	out := bridge.Config{
		DialPlan: bridge.DialPlan{
			StripPrefix:    c.DialPlan.StripPrefix,
			CountryCode:    c.DialPlan.CountryCode,
			NationalLength: c.DialPlan.NationalLength,
		},
		Timers: bridge.Timers{
			RingTimeout:      c.Timers.RingTimeout,
			SetupTimeout:     c.Timers.SetupTimeout,
			MediaTimeout:     c.RTP.MediaTimeout,
			HeldMediaTimeout: c.RTP.HeldMediaTimeout,
			DrainTimeout:     c.Timers.HangupTimeout,
			RESTTimeout:      c.Timers.RESTTimeout,
		},
		Media: bridge.MediaConfig{
			PortMin: c.RTP.PortMin,
			PortMax: c.RTP.PortMax,
			PTime:   c.RTP.PTime,
		},
		RedirectURI:        c.Yna.RedirectURI,
		ChannelMaxAttempts: c.Yna.ChannelMaxAttempts,
	}
	if a, err := netip.ParseAddr(c.RTP.BindIP); err == nil {
		out.Media.BindIP = a
	}
	if a, err := netip.ParseAddr(c.RTP.AdvertiseIP); err == nil {
		out.Media.AdvertiseIP = a
	}
	for _, l := range c.Lines {
		bl := bridge.LineConfig{
			MSISDN:    l.MSISDN,
			Ring:      append([]string(nil), l.Ring...),
			RingTrunk: l.RingTrunk,
			Outbound:  append([]string(nil), l.Outbound...),
			Prefix:    l.Prefix,
		}
		if n, err := yna.NormalizeLine(l.MSISDN); err == nil {
			bl.MSISDN = n
		}
		if t := c.trunk(l.RingTrunk); t.Name != "" {
			bl.RingTrunk, bl.RingTrunkSRTP = t.URI, t.SRTP
		}
		out.Lines = append(out.Lines, bl)
	}
	return out
}

// YNA returns the yna.Config with the PoP key (see PoPKey) and an HTTP client using
// yna.http_timeout that does not follow redirects. Observe and Logger are unset.
func (c *Config) YNA(key *rsa.PrivateKey) yna.Config {
	return yna.Config{
		BaseURL:      c.Yna.BaseURL,
		ClientID:     c.Yna.ClientID,
		ClientSecret: c.Yna.ClientSecret,
		Key:          key,
		HTTPClient: &http.Client{
			Timeout:   c.Yna.HTTPTimeout,
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// PoPKey parses the configured PoP signing key.
func (c *Config) PoPKey() (*rsa.PrivateKey, error) {
	k, err := yna.ParsePrivateKeyPEM([]byte(c.Yna.PoPKey))
	if err != nil {
		return nil, &FieldError{Path: secretPath("yna.pop_key", c.Yna.PoPKeyEnv, c.Yna.PoPKeyFile), Msg: err.Error()}
	}
	return k, nil
}

// StoreKey decodes the token encryption key (for store.OpenSQLite).
func (c *Config) StoreKey() ([]byte, error) {
	k, err := store.ParseKey(c.Store.Key)
	if err != nil {
		return nil, &FieldError{Path: secretPath("store.key", c.Store.KeyEnv, c.Store.KeyFile), Msg: keyProblem(err)}
	}
	return k, nil
}

// WebRTC returns the rtpmedia.WebRTCConfig (Logger and IPFilter unset).
func (c *Config) WebRTC() rtpmedia.WebRTCConfig {
	w := c.Webrtc
	return rtpmedia.WebRTCConfig{
		AllowLoopback:    w.AllowLoopback,
		NAT1To1IPs:       append([]string(nil), w.NAT1To1IPs...),
		UDPPortMin:       uint16(w.UDPPortMin),
		UDPPortMax:       uint16(w.UDPPortMax),
		UDPMuxPort:       w.UDPMuxPort,
		STUNServers:      append([]string(nil), w.STUNServers...),
		ICEGatherTimeout: w.ICEGatherTimeout,
	}
}

// Ports returns the SIP-side RTP port range and quarantine for rtpmedia.NewPortAllocator.
func (c *Config) Ports() (min, max int, quarantine time.Duration) {
	return c.RTP.PortMin, c.RTP.PortMax, c.RTP.Quarantine
}

// DrainTimeout is how long SIGTERM waits for active calls before hanging them up.
func (c *Config) DrainTimeout() time.Duration { return c.Timers.DrainTimeout }

// Logger builds the zap logger of log.level / log.format.
func (c *Config) Logger() (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.Log.Level)
	if err != nil {
		return nil, &FieldError{Path: "log.level", Msg: err.Error()}
	}
	zc := zap.NewProductionConfig()
	if c.Log.Format == "console" {
		zc = zap.NewDevelopmentConfig()
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	l, err := zc.Build()
	if err != nil {
		return nil, fmt.Errorf("config: build logger: %w", err)
	}
	return l, nil
}
