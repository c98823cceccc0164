package config

import (
	"os"
	"strings"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/yna"
)

// Defaults that are not taken from the configured packages.
const (
	DefaultDomain         = "ynagw"
	DefaultUDPBind        = "0.0.0.0:5060"
	DefaultTLSBind        = "0.0.0.0:5061"
	DefaultRTPPortMin     = 10000
	DefaultRTPPortMax     = 20000
	DefaultQuarantine     = 5 * time.Second
	DefaultBaseURL        = "https://naas.t-mobile.com" // fact sheet §1
	DefaultStorePath      = "/var/lib/ynagw/ynagw.db"   // systemd StateDirectory
	DefaultLeaseTTL       = 6 * time.Second             // cluster.lease_ttl
	DefaultAdminListen    = "127.0.0.1:8080"
	DefaultShutdownDrain  = 60 * time.Second // below the unit's TimeoutStopSec=90
	DefaultICEGather      = 5 * time.Second
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "json"
	DefaultAuthFailLimit  = 10
	DefaultAuthBlockFor   = 5 * time.Minute
	DefaultAuthBlockMax   = 24 * time.Hour
	DefaultMaxRingTime    = 3 * time.Minute
	DefaultNonceTTL       = 5 * time.Minute
	DefaultMinExpires     = 60 * time.Second
	DefaultMaxExpires     = time.Hour
	DefaultSessionExpires = 30 * time.Minute
	DefaultMinSE          = 90 * time.Second
)

// Init fills every zero field with its default and normalises case where the value is
// case-insensitive (transport, log level/format) and line numbers (1NXXNXXXXXX). Parse
// and Load call it.
func (c *Config) Init() {
	dur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	str := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	s := &c.Sip
	str(&s.Domain, DefaultDomain)
	str(&s.UserAgent, "ynagw")
	if len(s.Listen) == 0 {
		s.Listen = []Listener{{Transport: "udp"}}
	}
	for i := range s.Listen {
		l := &s.Listen[i]
		l.Transport = strings.ToLower(strings.TrimSpace(l.Transport))
		str(&l.Transport, "udp")
		if l.Transport == "tls" {
			str(&l.Bind, DefaultTLSBind)
		} else {
			str(&l.Bind, DefaultUDPBind)
		}
	}
	dur(&s.SessionTimer.Expires, DefaultSessionExpires)
	dur(&s.SessionTimer.MinSE, DefaultMinSE)
	dur(&s.Registrar.MinExpires, DefaultMinExpires)
	dur(&s.Registrar.MaxExpires, DefaultMaxExpires)
	dur(&s.Registrar.DefaultExpires, s.Registrar.MaxExpires)
	if s.AuthFailLimit == 0 {
		s.AuthFailLimit = DefaultAuthFailLimit
	}
	dur(&s.AuthBlockFor, DefaultAuthBlockFor)
	dur(&s.AuthBlockMax, DefaultAuthBlockMax)
	dur(&s.MaxRingTime, DefaultMaxRingTime)
	dur(&s.NonceTTL, DefaultNonceTTL)
	if len(s.DigestAlgorithms) == 0 {
		// MD5 only: some phones (baresip/libre 1.0) fail to register as soon as a
		// SHA-256 challenge is offered, even next to an MD5 one (see sip.Config).
		s.DigestAlgorithms = []string{"MD5"}
	}

	r := &c.RTP
	if r.PortMin == 0 && r.PortMax == 0 {
		r.PortMin, r.PortMax = DefaultRTPPortMin, DefaultRTPPortMax
	}
	dur(&r.Quarantine, DefaultQuarantine)
	dur(&r.MediaTimeout, bridge.DefaultMediaTimeout)
	dur(&r.HeldMediaTimeout, bridge.DefaultHeldMediaTimeout)

	dur(&c.Webrtc.ICEGatherTimeout, DefaultICEGather)

	y := &c.Yna
	str(&y.BaseURL, DefaultBaseURL)
	dur(&y.HTTPTimeout, yna.DefaultHTTPTimeout)

	for i := range c.Lines {
		if n, err := yna.NormalizeLine(c.Lines[i].MSISDN); err == nil {
			c.Lines[i].MSISDN = n // canonical 1NXXNXXXXXX; invalid numbers are left for Validate
		}
		c.Lines[i].Name = strings.TrimSpace(c.Lines[i].Name)
		str(&c.Lines[i].Name, DefaultLineName(i))
	}

	if c.DialPlan.CountryCode == "" && c.DialPlan.NationalLength == 0 {
		c.DialPlan.CountryCode, c.DialPlan.NationalLength = "1", 10
	}

	t := &c.Timers
	dur(&t.RingTimeout, bridge.DefaultRingTimeout)
	dur(&t.SetupTimeout, bridge.DefaultSetupTimeout)
	dur(&t.DrainTimeout, DefaultShutdownDrain)
	dur(&t.HangupTimeout, bridge.DefaultDrainTimeout)
	dur(&t.RESTTimeout, bridge.DefaultRESTTimeout)

	c.Store.Driver = strings.ToLower(strings.TrimSpace(c.Store.Driver))
	str(&c.Store.Driver, StoreSQLite)
	str(&c.Store.Path, DefaultStorePath)
	if c.Store.Driver == StorePostgres {
		if c.Cluster.NodeID == "" {
			c.Cluster.NodeID, _ = os.Hostname()
		}
		dur(&c.Cluster.LeaseTTL, DefaultLeaseTTL)
		if c.Cluster.SIPAddress == "" && len(c.Sip.Listen) > 0 {
			// The advertised or bound address; a bind to port 0 leaves it to the
			// daemon (the bound UDP address).
			c.Cluster.SIPAddress = c.Sip.Listen[0].Advertise
			if b := c.Sip.Listen[0].Bind; c.Cluster.SIPAddress == "" && !strings.HasSuffix(b, ":0") {
				c.Cluster.SIPAddress = b
			}
		}
	}
	str(&c.Admin.Listen, DefaultAdminListen)
	c.Admin.MetricsAuth = strings.ToLower(strings.TrimSpace(c.Admin.MetricsAuth))
	if c.Admin.MetricsAuth == "" {
		c.Admin.MetricsAuth = DefaultMetricsAuth(c.Admin.Listen)
	}
	c.Log.Level = strings.ToLower(strings.TrimSpace(c.Log.Level))
	c.Log.Format = strings.ToLower(strings.TrimSpace(c.Log.Format))
	str(&c.Log.Level, DefaultLogLevel)
	str(&c.Log.Format, DefaultLogFormat)
}
