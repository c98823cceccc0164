package daemon

import (
	"errors"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/metrics"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
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
	// StoreDriver is "sqlite" (default: StorePath) or "postgres" (StoreDSN, clustered
	// mode: this node is Cluster.NodeID).
	StoreDriver string
	StoreDSN    string
	Cluster     ClusterOptions

	// Admin is the admin HTTP listener ("" = none).
	Admin AdminOptions
	// Metrics decides how the metrics label lines.
	Metrics MetricsOptions

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
	// MetricsAuth is MetricsAuthRequired (/metrics needs Username/Password or Token) or
	// MetricsAuthNone; "" is required unless Listen binds loopback only.
	MetricsAuth string
	// Pprof serves net/http/pprof under /debug/pprof/ (authenticated).
	Pprof bool
}

// MetricsOptions decide the value of the metrics' line label.
type MetricsOptions struct {
	// LineNames maps a line's number (MSISDN) to its label, the configured line name;
	// nil: "line1", "line2", ... by position in Bridge.Lines. Lines not in it (linked
	// through the admin page but not configured) are labelled "other".
	LineNames map[string]string
	// LabelMSISDN labels lines with their number instead (metrics.label_msisdn).
	LabelMSISDN bool
}

// lineLabels is the metrics.LineLabels of o for the configured lines.
func (o MetricsOptions) lineLabels(lines []bridge.LineConfig) metrics.LineLabels {
	names := o.LineNames
	if names == nil {
		names = make(map[string]string, len(lines))
		for i, l := range lines {
			names[l.MSISDN] = config.DefaultLineName(i)
		}
	}
	return metrics.LineLabels{Names: names, MSISDN: o.LabelMSISDN}
}

// Values of AdminOptions.MetricsAuth (those of admin.metrics_auth).
const (
	MetricsAuthRequired = config.MetricsAuthRequired
	MetricsAuthNone     = config.MetricsAuthNone
)

// Defaults of the daemon itself.
const (
	// DefaultRefreshBefore: tokens are refreshed this long before they expire.
	DefaultRefreshBefore = 10 * time.Minute
	// DefaultDrainTimeout bounds SIGTERM's wait for active calls.
	DefaultDrainTimeout = 60 * time.Second
)

// FromConfig converts the daemon configuration into Options (logger not set) with the
// config package's converters. The configuration must come from config.Load/Parse
// (defaults filled, validated).
func FromConfig(c *config.Config) (Options, error) {
	var errs []error
	o := Options{
		SIP:          c.SIP(),
		Bridge:       c.Bridge(),
		WebRTC:       c.WebRTC(),
		StorePath:    c.Store.Path,
		StoreDriver:  c.Store.Driver,
		StoreDSN:     c.Store.DSN,
		Cluster:      ClusterOptions{NodeID: c.Cluster.NodeID, SIPAddress: c.Cluster.SIPAddress, LeaseTTL: c.Cluster.LeaseTTL},
		DrainTimeout: c.DrainTimeout(),
		Admin: AdminOptions{Listen: c.Admin.Listen, Username: c.Admin.Username, Password: c.Admin.Password,
			Token: c.Admin.Token, MetricsAuth: c.Admin.MetricsAuth, Pprof: c.Admin.Pprof},
		Metrics: MetricsOptions{LineNames: c.LineNames(), LabelMSISDN: c.Metrics.LabelMSISDN},
	}
	k, err := c.StoreKey()
	if err != nil {
		errs = append(errs, err)
	}
	o.StoreKey = k
	key, err := c.PoPKey()
	if err != nil {
		errs = append(errs, err)
	}
	o.YNA = c.YNA(key)
	return o, errors.Join(errs...)
}
