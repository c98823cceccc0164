package config

import "time"

// Config is the whole daemon configuration, one field per YAML section. The sections
// whose package has a converter method (SIP, YNA, WebRTC) are named after the YAML key
// (Sip, Yna, Webrtc) because the method names are taken.
type Config struct {
	Sip      SIPSection    `yaml:"sip"`
	RTP      RTPSection    `yaml:"rtp"`
	Webrtc   WebRTCSection `yaml:"webrtc"`
	Yna      YNASection    `yaml:"yna"`
	Lines    []Line        `yaml:"lines"`
	DialPlan DialPlan      `yaml:"dialplan"`
	Users    []User        `yaml:"users"`
	Trunks   []Trunk       `yaml:"trunks"`
	Timers   Timers        `yaml:"timers"`
	Store    Store         `yaml:"store"`
	Cluster  Cluster       `yaml:"cluster"`
	Admin    Admin         `yaml:"admin"`
	Metrics  Metrics       `yaml:"metrics"`
	Log      Log           `yaml:"log"`

	baseDir string // relative paths are resolved against it ("" = working directory)
	lines   lines  // YAML path → line in the file (from Load/Parse)
}

// SIPSection is the SIP side (sip.Config).
type SIPSection struct {
	Domain             string        `yaml:"domain"`
	UserAgent          string        `yaml:"user_agent"`
	Listen             []Listener    `yaml:"listen"`
	SessionTimer       SessionTimer  `yaml:"session_timer"`
	Registrar          Registrar     `yaml:"registrar"`
	AuthFailLimit      int           `yaml:"auth_fail_limit"`
	AuthBlockFor       time.Duration `yaml:"auth_block_for"`
	AuthBlockMax       time.Duration `yaml:"auth_block_max"`
	MaxConcurrentCalls int           `yaml:"max_concurrent_calls"`
	MaxRingTime        time.Duration `yaml:"max_ring_time"`
	NonceTTL           time.Duration `yaml:"nonce_ttl"`
	DigestAlgorithms   []string      `yaml:"digest_algorithms"`
	CAFile             string        `yaml:"ca_file"` // PEM CAs for TLS connections we open (trunks, phones); "" = system roots
	// Proxies are the SIP proxies in front of this node (CIDR or IP, e.g. the
	// Kamailio of configs/kamailio): digest nonces and the auth guard key on
	// the client they name in X-Ynagw-Source instead of the proxy's address.
	Proxies []string `yaml:"proxies"`
}

// Listener is one SIP listener.
type Listener struct {
	Transport string `yaml:"transport"` // udp, tcp, tls
	Bind      string `yaml:"bind"`      // host:port
	Advertise string `yaml:"advertise"` // host:port in Via/Contact, optional
	CertFile  string `yaml:"cert_file"` // tls only
	KeyFile   string `yaml:"key_file"`  // tls only
}

// SessionTimer configures RFC 4028 session timers.
type SessionTimer struct {
	Enabled bool          `yaml:"enabled"`
	Expires time.Duration `yaml:"expires"`
	MinSE   time.Duration `yaml:"min_se"`
}

// Registrar bounds registration lifetimes.
type Registrar struct {
	MinExpires     time.Duration `yaml:"min_expires"`
	MaxExpires     time.Duration `yaml:"max_expires"`
	DefaultExpires time.Duration `yaml:"default_expires"`
	KeepAlive      time.Duration `yaml:"keepalive"`
}

// RTPSection is the SIP-side media.
type RTPSection struct {
	BindIP           string        `yaml:"bind_ip"`
	AdvertiseIP      string        `yaml:"advertise_ip"`
	PortMin          int           `yaml:"port_min"`
	PortMax          int           `yaml:"port_max"`
	Quarantine       time.Duration `yaml:"quarantine"`
	PTime            int           `yaml:"ptime"`
	MediaTimeout     time.Duration `yaml:"media_timeout"`
	HeldMediaTimeout time.Duration `yaml:"held_media_timeout"`
}

// WebRTCSection is the network-side (WebRTC) media.
type WebRTCSection struct {
	NAT1To1IPs       []string      `yaml:"nat_1to1_ips"`
	UDPPortMin       int           `yaml:"udp_port_min"`
	UDPPortMax       int           `yaml:"udp_port_max"`
	UDPMuxPort       int           `yaml:"udp_mux_port"`
	STUNServers      []string      `yaml:"stun_servers"`
	AllowLoopback    bool          `yaml:"allow_loopback"`
	ICEGatherTimeout time.Duration `yaml:"ice_gather_timeout"`
}

// YNASection is the T-Mobile YNA API client.
type YNASection struct {
	BaseURL            string        `yaml:"base_url"`
	ClientID           string        `yaml:"client_id"`
	ClientSecret       string        `yaml:"client_secret"`
	ClientSecretEnv    string        `yaml:"client_secret_env"`
	ClientSecretFile   string        `yaml:"client_secret_file"`
	PoPKey             string        `yaml:"pop_key"`
	PoPKeyEnv          string        `yaml:"pop_key_env"`
	PoPKeyFile         string        `yaml:"pop_key_file"`
	RedirectURI        string        `yaml:"redirect_uri"`
	HTTPTimeout        time.Duration `yaml:"http_timeout"`
	ChannelMaxAttempts int           `yaml:"channel_max_attempts"`
}

// Line is one YNA line (MSISDN).
type Line struct {
	MSISDN    string   `yaml:"msisdn"`
	Name      string   `yaml:"name"`       // metrics line label; default line<position>, never the number
	Ring      []string `yaml:"ring"`       // user names rung for inbound calls
	RingTrunk string   `yaml:"ring_trunk"` // trunk name or sip: URI rung for inbound calls
	Outbound  []string `yaml:"outbound"`   // user/trunk names allowed to call out, "*" = all
	Prefix    string   `yaml:"prefix"`     // dialled prefix selecting this line
}

// DialPlan normalises dialled numbers.
type DialPlan struct {
	StripPrefix    string `yaml:"strip_prefix"`
	CountryCode    string `yaml:"country_code"`
	NationalLength int    `yaml:"national_length"`
}

// User is a desk phone account.
type User struct {
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	DisplayName  string `yaml:"display_name"`
	SRTP         string `yaml:"srtp"` // off (default), optional, required: SDES-SRTP toward this phone (only over TLS)
}

// Trunk is a PBX / SIP trunk peer.
type Trunk struct {
	Name            string   `yaml:"name"`
	AllowFrom       []string `yaml:"allow_from"` // CIDRs or IPs
	Username        string   `yaml:"username"`   // inbound digest
	Password        string   `yaml:"password"`
	PasswordEnv     string   `yaml:"password_env"`
	PasswordFile    string   `yaml:"password_file"`
	URI             string   `yaml:"uri"` // outbound target
	OutUsername     string   `yaml:"out_username"`
	OutPassword     string   `yaml:"out_password"`
	OutPasswordEnv  string   `yaml:"out_password_env"`
	OutPasswordFile string   `yaml:"out_password_file"`
	SRTP            string   `yaml:"srtp"`    // off (default), optional, required: SDES-SRTP toward this trunk (only over TLS)
	CAFile          string   `yaml:"ca_file"` // PEM CAs the trunk's TLS certificate must chain to; "" = sip.ca_file
}

// Timers are the call timers.
type Timers struct {
	RingTimeout   time.Duration `yaml:"ring_timeout"`
	SetupTimeout  time.Duration `yaml:"setup_timeout"`
	DrainTimeout  time.Duration `yaml:"drain_timeout"`  // SIGTERM: wait for active calls
	HangupTimeout time.Duration `yaml:"hangup_timeout"` // per call: BYE + DELETE /end when forced
	RESTTimeout   time.Duration `yaml:"rest_timeout"`
}

// Store is the store of linked lines, tokens and CDRs: the embedded SQLite file
// (driver sqlite, the default) or a PostgreSQL database shared by the nodes of a
// cluster (driver postgres, DSN a secret: it may carry a password).
type Store struct {
	Driver  string `yaml:"driver"` // StoreSQLite (default) or StorePostgres
	Path    string `yaml:"path"`   // sqlite
	DSN     string `yaml:"dsn"`    // postgres: postgres://user@host:5432/ynagw
	DSNEnv  string `yaml:"dsn_env"`
	DSNFile string `yaml:"dsn_file"`
	Key     string `yaml:"key"`
	KeyEnv  string `yaml:"key_env"`
	KeyFile string `yaml:"key_file"`
}

// Store drivers.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
)

// Cluster is this node's identity when several nodes share a postgres store
// (unused with sqlite). Each line's notification channel is owned by one node
// at a time through a lease in the database.
type Cluster struct {
	// NodeID names the node in leases, CDRs and registrations (default: the host name).
	NodeID string `yaml:"node_id"`
	// SIPAddress is the node's SIP address (host:port) other nodes and the admin
	// page show as a line's owner (default: the first SIP listener).
	SIPAddress string `yaml:"sip_address"`
	// LeaseTTL is how long a line's lease lasts without renewal (default 6s); it
	// is renewed every LeaseTTL/3. A dead node's lines move within about LeaseTTL+LeaseTTL/3.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// Admin is the admin/metrics HTTP listener.
type Admin struct {
	Listen       string `yaml:"listen"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	Token        string `yaml:"token"`
	TokenEnv     string `yaml:"token_env"`
	TokenFile    string `yaml:"token_file"`
	// MetricsAuth is MetricsAuthRequired (/metrics needs the admin credentials) or
	// MetricsAuthNone; Init defaults it to required unless Listen is loopback only.
	MetricsAuth string `yaml:"metrics_auth"`
	// Pprof serves Go's profiler at /debug/pprof/ on this listener, behind the admin
	// credentials (off by default).
	Pprof bool `yaml:"pprof"`
}

// Metrics configures the Prometheus metrics served at the admin listener's /metrics.
type Metrics struct {
	// LabelMSISDN labels lines with their number instead of their name (personal data:
	// off by default).
	LabelMSISDN bool `yaml:"label_msisdn"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json, console
}
