package bridge

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/yna"
)

// Timer defaults. Every value that depends on unknown network behaviour says so.
const (
	// DefaultRingTimeout bounds how long an inbound call rings the SIP side before we give
	// up with DELETE /end. guess: fact sheet §17 q10 — it must stay below the network's own
	// no-answer timer (unknown; the SDK itself gives up after 35 s, §12), otherwise the
	// network ends the call first and the caller never reaches voicemail through us.
	DefaultRingTimeout = 60 * time.Second
	// DefaultSetupTimeout bounds an outbound call from INVITE to Connected.
	DefaultSetupTimeout = 120 * time.Second
	// DefaultMediaTimeout ends a call when no RTP arrives from the SIP side for this long.
	DefaultMediaTimeout = 30 * time.Second
	// DefaultHeldMediaTimeout is the media timeout while the call is held.
	DefaultHeldMediaTimeout = 10 * time.Minute
	// DefaultDrainTimeout bounds the BYE + DELETE /end of each call on Close.
	DefaultDrainTimeout = 5 * time.Second
	// DefaultRESTTimeout bounds one YNA REST request made by a call.
	DefaultRESTTimeout = 15 * time.Second
	// pendingNotificationTTL is how long notifications for a not (yet) known callId are kept.
	pendingNotificationTTL = 10 * time.Second
)

// LineConfig is one YNA line (MSISDN) served by the gateway.
type LineConfig struct {
	// MSISDN is the line number, normalised to 1NXXNXXXXXX by Init.
	MSISDN string
	// Ring lists SIP user names (or AORs) whose registered contacts ring for inbound calls.
	Ring []string
	// RingTrunk is a SIP URI (e.g. "sip:pbx.example.com:5060") inbound calls are sent to,
	// in addition to (or instead of) Ring.
	RingTrunk string
	// RingTrunkSRTP is the trunk's srtp setting ("", off, optional, required) for
	// calls rung on RingTrunk.
	RingTrunkSRTP string
	// Outbound lists SIP user names and trunk names allowed to call out on this line;
	// "*" allows every authenticated caller.
	Outbound []string
	// Prefix, if set, routes dialled numbers starting with it to this line (the prefix is
	// stripped before the dial plan runs).
	Prefix string
}

// DialPlan normalises dialled numbers before yna.NormalizeDestination (§10.4).
type DialPlan struct {
	// StripPrefix is removed from the front of dialled numbers longer than it (e.g. "9",
	// the classic outside-line access code).
	StripPrefix string
	// CountryCode is prepended to numbers of exactly NationalLength digits; with the
	// default ("1", 10) NANP numbers become 1NXXNXXXXXX (NormalizeDestination does the
	// same for NANP; other plans need it).
	CountryCode    string
	NationalLength int
}

// Apply returns the dialled user part after the dial plan.
func (p DialPlan) Apply(dialled string) string {
	d := strings.TrimSpace(dialled)
	if p.StripPrefix != "" && len(d) > len(p.StripPrefix) && strings.HasPrefix(d, p.StripPrefix) {
		d = d[len(p.StripPrefix):]
	}
	if p.CountryCode != "" && p.NationalLength > 0 && len(d) == p.NationalLength && isDigits(d) {
		d = p.CountryCode + d
	}
	return d
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Timers configures the call timers. Zero values take the defaults.
type Timers struct {
	RingTimeout      time.Duration // inbound: SIP ringing before DELETE /end
	SetupTimeout     time.Duration // outbound: INVITE to Connected
	MediaTimeout     time.Duration // SIP-side RTP silence that ends an active call
	HeldMediaTimeout time.Duration // the same while held
	DrainTimeout     time.Duration // per call on Close
	RESTTimeout      time.Duration // one YNA request
}

// MediaConfig configures the SIP-side RTP.
type MediaConfig struct {
	// BindIP is the local IP RTP sockets bind to (unset: 0.0.0.0).
	BindIP netip.Addr
	// AdvertiseIP goes into our SDP (unset: BindIP; required if BindIP is unset).
	AdvertiseIP netip.Addr
	// PortMin, PortMax bound the RTP port range (0, 0: ephemeral ports).
	PortMin, PortMax int
	// Codecs are the SIP-side codecs we accept/offer, in preference order (telephone-event
	// included). Nil: PCMU, PCMA, G722, telephone-event/8000.
	Codecs []rtpmedia.Codec
	// PTime is the a=ptime we advertise (0: omit).
	PTime int
}

// Config configures a Gateway. Call Init then Validate (New does both).
type Config struct {
	Lines    []LineConfig
	DialPlan DialPlan
	Timers   Timers
	Media    MediaConfig
	// RedirectURI is the OAuth redirect URI registered for the DevEdge app (used to unlink).
	RedirectURI string
	// ChannelMaxAttempts is passed to yna.ChannelConfig.MaxAttempts (0: retry forever).
	ChannelMaxAttempts int
	// LeasedChannels (clustered mode): Start, AddLine and AddLineConfig only make
	// lines known (routing, tokens: outbound calls work) and open no
	// notification channel; whoever holds the line's lease opens and closes it
	// with OpenChannel and CloseChannel.
	LeasedChannels bool
}

// Init fills defaults and normalises line numbers (invalid numbers are left for Validate).
func (c *Config) Init() {
	t := &c.Timers
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.RingTimeout, DefaultRingTimeout)
	def(&t.SetupTimeout, DefaultSetupTimeout)
	def(&t.MediaTimeout, DefaultMediaTimeout)
	def(&t.HeldMediaTimeout, DefaultHeldMediaTimeout)
	def(&t.DrainTimeout, DefaultDrainTimeout)
	def(&t.RESTTimeout, DefaultRESTTimeout)
	if c.DialPlan.CountryCode == "" && c.DialPlan.NationalLength == 0 {
		c.DialPlan.CountryCode, c.DialPlan.NationalLength = "1", 10
	}
	if c.Media.Codecs == nil {
		c.Media.Codecs = []rtpmedia.Codec{
			{Name: "PCMU", PayloadType: 0, ClockRate: 8000},
			{Name: "PCMA", PayloadType: 8, ClockRate: 8000},
			{Name: "G722", PayloadType: 9, ClockRate: 8000},
			{Name: "telephone-event", PayloadType: 101, ClockRate: 8000, Fmtp: "0-16"},
		}
	}
	if !c.Media.AdvertiseIP.IsValid() {
		c.Media.AdvertiseIP = c.Media.BindIP
	}
	for i := range c.Lines {
		if n, err := yna.NormalizeLine(c.Lines[i].MSISDN); err == nil {
			c.Lines[i].MSISDN = n
		}
	}
}

// Validate reports configuration errors.
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	prefixes := map[string]bool{}
	for i, l := range c.Lines {
		if _, err := yna.NormalizeLine(l.MSISDN); err != nil {
			errs = append(errs, fmt.Errorf("lines[%d]: %w", i, err))
		}
		if seen[l.MSISDN] {
			errs = append(errs, fmt.Errorf("lines[%d]: duplicate line %s", i, l.MSISDN))
		}
		seen[l.MSISDN] = true
		if l.Prefix != "" {
			if prefixes[l.Prefix] {
				errs = append(errs, fmt.Errorf("lines[%d]: duplicate prefix %q", i, l.Prefix))
			}
			prefixes[l.Prefix] = true
		}
		if l.RingTrunk != "" && !strings.HasPrefix(strings.ToLower(l.RingTrunk), "sip") {
			errs = append(errs, fmt.Errorf("lines[%d]: RingTrunk %q is not a sip: URI", i, l.RingTrunk))
		}
	}
	m := c.Media
	if !m.AdvertiseIP.IsValid() || m.AdvertiseIP.IsUnspecified() {
		errs = append(errs, errors.New("media: AdvertiseIP (or BindIP) must be a concrete IP"))
	}
	if (m.PortMin != 0 || m.PortMax != 0) && (m.PortMin < 1024 || m.PortMax > 65535 || m.PortMax <= m.PortMin) {
		errs = append(errs, fmt.Errorf("media: bad RTP port range %d-%d", m.PortMin, m.PortMax))
	}
	audio := 0
	for _, cd := range m.Codecs {
		if !cd.IsDTMF() {
			audio++
		}
	}
	if audio == 0 {
		errs = append(errs, errors.New("media: no audio codec"))
	}
	if c.Timers.RingTimeout < time.Second {
		errs = append(errs, errors.New("timers: RingTimeout below 1s"))
	}
	return errors.Join(errs...)
}

// line returns the configuration of msisdn.
func (c *Config) line(msisdn string) (LineConfig, bool) {
	for _, l := range c.Lines {
		if l.MSISDN == msisdn {
			return l, true
		}
	}
	return LineConfig{}, false
}
