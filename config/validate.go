package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
)

// Validate checks the configuration (after Init) and returns every problem joined, each
// a *FieldError naming the field path.
func (c *Config) Validate() error {
	if err := c.validate(); err != nil {
		return err
	}
	var p problems
	for _, fe := range c.crossCheck() {
		p = append(p, fe)
	}
	return p.err()
}

func (c *Config) validate() error {
	var p problems
	c.validateSIP(&p)
	c.validateRTP(&p)
	c.validateWebRTC(&p)
	c.validateYNA(&p)
	c.validateUsersTrunks(&p)
	c.validateLines(&p)
	c.validateMisc(&p)
	return p.err()
}

// crossCheck is a safety net run once every other check passed: the converted package
// configurations must accept what this package accepted. Their messages use Go names,
// so a failure here is worded as the gap in these checks it is.
func (c *Config) crossCheck() []*FieldError {
	var out []*FieldError
	sc := c.SIP()
	sc.Init()
	if err := sc.Validate(); err != nil {
		out = append(out, &FieldError{Path: "sip", Msg: fmt.Sprintf("the SIP settings were refused (%v); "+
			"this check should have named the option: please report it", err)})
	}
	bc := c.Bridge()
	bc.Init()
	if err := bc.Validate(); err != nil {
		out = append(out, &FieldError{Path: "lines", Msg: fmt.Sprintf("the call routing settings were refused (%v); "+
			"this check should have named the option: please report it", err)})
	}
	return out
}

func positive(p *problems, path string, d time.Duration) {
	if d <= 0 {
		p.add(path, "must be a positive duration such as 30s or 5m, got %s", d)
	}
}

// hostPort checks "host:port" (port 0..65535; wantPort: 1..65535).
func hostPort(p *problems, path, v string, wantPort bool) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		p.add(path, "%q is not an address and port such as 0.0.0.0:5060", v)
		return
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (wantPort && n == 0) {
		p.add(path, "%q is not a port number (1-65535)", port)
	}
	if host == "" && wantPort {
		p.add(path, "%q has no host before the port", v)
	}
}

func optionalIP(p *problems, path, v string, concrete bool) netip.Addr {
	if v == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		p.add(path, "%q is not an IP address", v)
		return netip.Addr{}
	}
	if concrete && a.IsUnspecified() {
		p.add(path, "%s is not a concrete address", v)
	}
	return a
}

func (c *Config) validateSIP(p *problems) {
	s := c.Sip
	if s.Domain == "" || strings.ContainsAny(s.Domain, " @:;/") {
		p.add("sip.domain", "%q is not a host name", s.Domain)
	}
	seen := map[string]int{}
	for i, l := range s.Listen {
		base := fmt.Sprintf("sip.listen[%d]", i)
		switch l.Transport {
		case "udp", "tcp":
			if l.CertFile != "" || l.KeyFile != "" {
				p.add(base+".cert_file", "only tls listeners take cert_file/key_file")
			}
		case "tls":
			if l.CertFile == "" {
				p.add(base+".cert_file", "required for a tls listener (PEM certificate chain)")
			}
			if l.KeyFile == "" {
				p.add(base+".key_file", "required for a tls listener (PEM private key)")
			}
			if l.CertFile != "" && l.KeyFile != "" {
				validateKeyPair(p, base, l.CertFile, l.KeyFile)
			}
		default:
			p.add(base+".transport", "%q is not udp, tcp or tls", l.Transport)
		}
		if j, dup := seen[l.Transport]; dup {
			p.add(base+".transport", "second %s listener (first is sip.listen[%d])", l.Transport, j)
		}
		seen[l.Transport] = i
		hostPort(p, base+".bind", l.Bind, false)
		if l.Advertise != "" {
			hostPort(p, base+".advertise", l.Advertise, true)
		}
	}
	st := s.SessionTimer
	positive(p, "sip.session_timer.expires", st.Expires)
	positive(p, "sip.session_timer.min_se", st.MinSE)
	if st.MinSE > 0 && st.MinSE < 90*time.Second {
		p.add("sip.session_timer.min_se", "%s is below the RFC 4028 minimum of 90s", st.MinSE)
	}
	if st.Expires < st.MinSE {
		p.add("sip.session_timer.expires", "%s is below min_se %s", st.Expires, st.MinSE)
	}
	r := s.Registrar
	positive(p, "sip.registrar.min_expires", r.MinExpires)
	positive(p, "sip.registrar.max_expires", r.MaxExpires)
	if r.MaxExpires < r.MinExpires {
		p.add("sip.registrar.max_expires", "%s is below min_expires %s", r.MaxExpires, r.MinExpires)
	}
	if r.DefaultExpires < r.MinExpires || r.DefaultExpires > r.MaxExpires {
		p.add("sip.registrar.default_expires", "%s is outside min_expires..max_expires", r.DefaultExpires)
	}
	if r.KeepAlive < 0 {
		p.add("sip.registrar.keepalive", "must not be negative (0s turns keep-alives off)")
	}
	if s.AuthFailLimit < 0 {
		p.add("sip.auth_fail_limit", "must not be negative (0 never blocks)")
	}
	positive(p, "sip.auth_block_for", s.AuthBlockFor)
	positive(p, "sip.auth_block_max", s.AuthBlockMax)
	if s.AuthBlockMax > 0 && s.AuthBlockMax < s.AuthBlockFor {
		p.add("sip.auth_block_max", "%s is below auth_block_for %s", s.AuthBlockMax, s.AuthBlockFor)
	}
	if s.MaxConcurrentCalls < 0 {
		p.add("sip.max_concurrent_calls", "must not be negative (0 means no limit)")
	}
	positive(p, "sip.max_ring_time", s.MaxRingTime)
	positive(p, "sip.nonce_ttl", s.NonceTTL)
	for i, a := range s.DigestAlgorithms {
		if a != "MD5" && a != "SHA-256" {
			p.add(fmt.Sprintf("sip.digest_algorithms[%d]", i), "%q is not MD5 or SHA-256", a)
		}
	}
	for i, a := range s.Proxies {
		if _, err := parsePrefix(a); err != nil {
			p.add(fmt.Sprintf("sip.proxies[%d]", i), "%q is not a CIDR or IP address", a)
		}
	}
}

// portRange checks an RTP/UDP port range; even requires an even min (RTP/RTCP pairs).
func portRange(p *problems, base, minKey, maxKey string, lo, hi int, even bool) {
	if lo < 1024 || lo > 65535 {
		p.add(base+"."+minKey, "%d is outside 1024-65535", lo)
	}
	if hi < 1024 || hi > 65535 {
		p.add(base+"."+maxKey, "%d is outside 1024-65535", hi)
	}
	if lo > hi {
		p.add(base+"."+minKey, "%d is above %s %d", lo, maxKey, hi)
	}
	if even && lo%2 != 0 {
		p.add(base+"."+minKey, "%d is odd; RTP uses even ports (RTCP the next odd one)", lo)
	}
	if even && lo <= hi && hi-lo < 1 {
		p.add(base+"."+maxKey, "range %d-%d holds no RTP/RTCP port pair", lo, hi)
	}
}

func (c *Config) validateRTP(p *problems) {
	r := c.RTP
	bind := optionalIP(p, "rtp.bind_ip", r.BindIP, false)
	optionalIP(p, "rtp.advertise_ip", r.AdvertiseIP, true)
	if r.AdvertiseIP == "" && (r.BindIP == "" || (bind.IsValid() && bind.IsUnspecified())) {
		p.add("rtp.advertise_ip", "required when bind_ip is not a concrete address (it goes into SDP)")
	}
	portRange(p, "rtp", "port_min", "port_max", r.PortMin, r.PortMax, true)
	if r.Quarantine < 0 {
		p.add("rtp.quarantine", "must not be negative")
	}
	if r.PTime < 0 || r.PTime > 200 || (r.PTime != 0 && r.PTime%10 != 0) {
		p.add("rtp.ptime", "%d is not 0 or a multiple of 10 up to 200", r.PTime)
	}
	positive(p, "rtp.media_timeout", r.MediaTimeout)
	positive(p, "rtp.held_media_timeout", r.HeldMediaTimeout)
}

func (c *Config) validateWebRTC(p *problems) {
	w := c.Webrtc
	for i, ip := range w.NAT1To1IPs {
		optionalIP(p, fmt.Sprintf("webrtc.nat_1to1_ips[%d]", i), ip, true)
		if ip == "" {
			p.add(fmt.Sprintf("webrtc.nat_1to1_ips[%d]", i), "empty")
		}
	}
	if w.UDPPortMin != 0 || w.UDPPortMax != 0 {
		portRange(p, "webrtc", "udp_port_min", "udp_port_max", w.UDPPortMin, w.UDPPortMax, false)
		if w.UDPMuxPort != 0 {
			p.add("webrtc.udp_mux_port", "set either udp_mux_port or udp_port_min/udp_port_max, not both")
		}
		if w.UDPPortMin <= c.RTP.PortMax && c.RTP.PortMin <= w.UDPPortMax {
			p.add("webrtc.udp_port_min", "range %d-%d overlaps rtp.port_min..port_max %d-%d",
				w.UDPPortMin, w.UDPPortMax, c.RTP.PortMin, c.RTP.PortMax)
		}
	}
	if w.UDPMuxPort < 0 || w.UDPMuxPort > 65535 {
		p.add("webrtc.udp_mux_port", "%d is outside 1-65535", w.UDPMuxPort)
	} else if w.UDPMuxPort != 0 && w.UDPMuxPort >= c.RTP.PortMin && w.UDPMuxPort <= c.RTP.PortMax {
		p.add("webrtc.udp_mux_port", "%d lies inside rtp.port_min..port_max", w.UDPMuxPort)
	}
	for i, s := range w.STUNServers {
		path := fmt.Sprintf("webrtc.stun_servers[%d]", i)
		scheme, hp, ok := strings.Cut(s, ":")
		if !ok || (scheme != "stun" && scheme != "stuns") {
			p.add(path, "%q is not a stun:host:port URL", s)
			continue
		}
		if _, _, err := net.SplitHostPort(hp); err != nil && hp == "" {
			p.add(path, "%q has no host", s)
		}
	}
	positive(p, "webrtc.ice_gather_timeout", w.ICEGatherTimeout)
}

func httpURL(p *problems, path, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(path, "%q is not an http(s):// URL", v)
	}
}

func (c *Config) validateYNA(p *problems) {
	y := c.Yna
	httpURL(p, "yna.base_url", y.BaseURL)
	if y.ClientID == "" {
		p.add("yna.client_id", "required")
	}
	if y.ClientSecret == "" && y.ClientSecretEnv == "" && y.ClientSecretFile == "" {
		p.add("yna.client_secret", "required (or client_secret_env / client_secret_file)")
	}
	switch {
	case y.PoPKey != "":
		if _, err := yna.ParsePrivateKeyPEM([]byte(y.PoPKey)); err != nil {
			p.add(secretPath("yna.pop_key", y.PoPKeyEnv, y.PoPKeyFile), "not an RSA private key in PEM form (PKCS#8 or PKCS#1): %s", strings.TrimPrefix(err.Error(), "yna: "))
		}
	case y.PoPKeyEnv == "" && y.PoPKeyFile == "":
		p.add("yna.pop_key_file", "required (or pop_key / pop_key_env): the RSA key for PoP signing")
	}
	if y.RedirectURI == "" {
		p.add("yna.redirect_uri", "required (the OAuth redirect URI registered for the app)")
	} else {
		httpURL(p, "yna.redirect_uri", y.RedirectURI)
	}
	positive(p, "yna.http_timeout", y.HTTPTimeout)
	if y.ChannelMaxAttempts < 0 {
		p.add("yna.channel_max_attempts", "must not be negative (0 retries forever)")
	}
}

// secretPath names the field a secret came from.
func secretPath(path, env, file string) string {
	switch {
	case env != "":
		return path + "_env"
	case file != "":
		return path + "_file"
	}
	return path
}

// validName: user and trunk names go into SIP URIs and routing lists.
func validName(s string) bool {
	if s == "" || s == "*" {
		return false
	}
	return !strings.ContainsAny(s, " \t@:;,<>\"'/\\")
}

func (c *Config) validateUsersTrunks(p *problems) {
	names := map[string]string{} // name → path of its first definition
	for i, u := range c.Users {
		base := fmt.Sprintf("users[%d]", i)
		if !validName(u.Username) {
			p.add(base+".username", "%q is not a valid user name", u.Username)
		} else if first, dup := names[u.Username]; dup {
			p.add(base+".username", "duplicate name %q (also %s)", u.Username, first)
		} else {
			names[u.Username] = base
		}
		if u.Password == "" && u.PasswordEnv == "" && u.PasswordFile == "" {
			p.add(base+".password", "required (or password_env / password_file)")
		}
	}
	for i, t := range c.Trunks {
		base := fmt.Sprintf("trunks[%d]", i)
		if !validName(t.Name) {
			p.add(base+".name", "%q is not a valid trunk name", t.Name)
		} else if first, dup := names[t.Name]; dup {
			p.add(base+".name", "duplicate name %q (also %s)", t.Name, first)
		} else {
			names[t.Name] = base
		}
		for j, a := range t.AllowFrom {
			if _, err := parsePrefix(a); err != nil {
				p.add(fmt.Sprintf("%s.allow_from[%d]", base, j), "%q is not a CIDR or IP address", a)
			}
		}
		hasPass := t.Password != "" || t.PasswordEnv != "" || t.PasswordFile != ""
		if (t.Username == "") == hasPass {
			if t.Username == "" {
				p.add(base+".username", "required with password")
			} else {
				p.add(base+".password", "required with username")
			}
		}
		hasOut := t.OutPassword != "" || t.OutPasswordEnv != "" || t.OutPasswordFile != ""
		if (t.OutUsername == "") == hasOut {
			if t.OutUsername == "" {
				p.add(base+".out_username", "required with out_password")
			} else {
				p.add(base+".out_password", "required with out_username")
			}
		}
		if t.URI != "" && !isSIPURI(t.URI) {
			p.add(base+".uri", "%q is not a sip: or sips: URI", t.URI)
		}
		if t.URI == "" && t.OutUsername != "" {
			p.add(base+".uri", "required with out_username")
		}
		if len(t.AllowFrom) == 0 && t.Username == "" && t.URI == "" {
			p.add(base, "needs allow_from, username or uri")
		}
		c.validateSRTP(p, base+".srtp", t.SRTP)
		validateCAFile(p, base+".ca_file", t.CAFile)
	}
	for i, u := range c.Users {
		c.validateSRTP(p, fmt.Sprintf("users[%d].srtp", i), u.SRTP)
	}
	validateCAFile(p, "sip.ca_file", c.Sip.CAFile)
}

// validateSRTP accepts "" (off), off, optional and required; the last two need a
// tls listener (SDES keys travel in the SDP, so SRTP is only used over TLS).
func (c *Config) validateSRTP(p *problems, path, v string) {
	switch v {
	case "", "off":
		return
	case "optional", "required":
	default:
		p.add(path, "%q is not off, optional or required", v)
		return
	}
	for _, l := range c.Sip.Listen {
		if strings.EqualFold(l.Transport, "tls") {
			return
		}
	}
	p.add(path, "%s needs a tls listener (SDES keys travel in the SDP)", v)
}

// validateKeyPair opens a tls listener's certificate and key (base: "sip.listen[i]") and
// checks they belong together, as the listener will at start.
func validateKeyPair(p *problems, base, certFile, keyFile string) {
	if _, ok := credentialsRelative(certFile); ok {
		return // $CREDENTIALS_DIRECTORY unset: reported where it is expanded
	}
	if _, ok := credentialsRelative(keyFile); ok {
		return
	}
	certPEM, cerr := os.ReadFile(certFile)
	if cerr != nil {
		p.add(base+".cert_file", "%s", fileProblem(certFile, cerr))
	}
	keyPEM, kerr := os.ReadFile(keyFile)
	if kerr != nil {
		p.add(base+".key_file", "%s", fileProblem(keyFile, kerr))
	}
	if cerr != nil || kerr != nil {
		return
	}
	if blk, _ := pem.Decode(certPEM); blk == nil || blk.Type != "CERTIFICATE" {
		p.add(base+".cert_file", "%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", certFile)
		return
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		if blk, _ := pem.Decode(keyPEM); blk == nil || !strings.Contains(blk.Type, "PRIVATE KEY") {
			p.add(base+".key_file", "%s holds no PEM private key (-----BEGIN PRIVATE KEY-----)", keyFile)
			return
		}
		if strings.Contains(err.Error(), "does not match") {
			p.add(base+".key_file", "%s does not match the certificate in %s", keyFile, certFile)
			return
		}
		p.add(base+".cert_file", "%s and %s are not a usable certificate and key: %s", certFile, keyFile,
			strings.TrimPrefix(err.Error(), "tls: "))
	}
}

// fileProblem words a failure to read file for an operator.
func fileProblem(file string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "cannot read " + file + ": no such file"
	case errors.Is(err, fs.ErrPermission):
		return "cannot read " + file + ": permission denied (ynagw runs as its own user)"
	}
	return "cannot read " + file + ": " + err.Error()
}

// validateCAFile checks that a ca_file (if set) holds at least one PEM certificate.
func validateCAFile(p *problems, path, file string) {
	if file == "" {
		return
	}
	if _, ok := credentialsRelative(file); ok {
		return // $CREDENTIALS_DIRECTORY unset: reported where it is expanded
	}
	b, err := os.ReadFile(file)
	if err != nil {
		p.add(path, "%s", fileProblem(file, err))
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		p.add(path, "%s holds no PEM certificate", file)
	}
}

func isSIPURI(s string) bool {
	l := strings.ToLower(s)
	return (strings.HasPrefix(l, "sip:") || strings.HasPrefix(l, "sips:")) && len(s) > 5
}

// parsePrefix accepts "192.0.2.0/24" or a bare IP (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return pf.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
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

func (c *Config) validateLines(p *problems) {
	users := map[string]bool{}
	for _, u := range c.Users {
		users[u.Username] = true
	}
	trunks := map[string]bool{}
	for _, t := range c.Trunks {
		trunks[t.Name] = true
	}
	if len(c.Lines) == 0 {
		p.add("lines", "at least one line is required")
	}
	msisdns := map[string]int{}
	prefixes := map[string]int{}
	names := map[string]int{}
	for i, l := range c.Lines {
		base := fmt.Sprintf("lines[%d]", i)
		n, err := yna.NormalizeLine(l.MSISDN)
		if err != nil {
			p.add(base+".msisdn", "%q is not a NANP number (want 1NXXNXXXXXX)", l.MSISDN)
		} else if j, dup := msisdns[n]; dup {
			p.add(base+".msisdn", "duplicate line %s (also lines[%d])", n, j)
		} else {
			msisdns[n] = i
		}
		validateLineName(p, base+".name", l.Name, names, i)
		for j, r := range l.Ring {
			if !users[r] && !isSIPURI(r) {
				p.add(fmt.Sprintf("%s.ring[%d]", base, j), "%q is not a configured user", r)
			}
		}
		if l.RingTrunk != "" && !trunks[l.RingTrunk] && !isSIPURI(l.RingTrunk) {
			p.add(base+".ring_trunk", "%q is neither a configured trunk nor a sip: URI", l.RingTrunk)
		}
		if l.RingTrunk != "" && trunks[l.RingTrunk] && c.trunk(l.RingTrunk).URI == "" {
			p.add(base+".ring_trunk", "trunk %q has no uri to send calls to", l.RingTrunk)
		}
		for j, o := range l.Outbound {
			if o != "*" && !users[o] && !trunks[o] {
				p.add(fmt.Sprintf("%s.outbound[%d]", base, j), "%q is not a configured user or trunk", o)
			}
		}
		if l.Prefix != "" {
			if !isDigits(l.Prefix) && l.Prefix != "*" && l.Prefix != "#" {
				p.add(base+".prefix", "%q is not digits", l.Prefix)
			} else if j, dup := prefixes[l.Prefix]; dup {
				p.add(base+".prefix", "duplicate prefix %q (also lines[%d])", l.Prefix, j)
			} else {
				prefixes[l.Prefix] = i
			}
		}
	}
}

// trunk returns the trunk called name (zero Trunk if none).
func (c *Config) trunk(name string) Trunk {
	for _, t := range c.Trunks {
		if t.Name == name {
			return t
		}
	}
	return Trunk{}
}

func (c *Config) validateMisc(p *problems) {
	d := c.DialPlan
	if d.StripPrefix != "" && !isDigits(d.StripPrefix) {
		p.add("dialplan.strip_prefix", "%q is not digits", d.StripPrefix)
	}
	if d.CountryCode != "" && (!isDigits(d.CountryCode) || len(d.CountryCode) > 3) {
		p.add("dialplan.country_code", "%q is not a 1-3 digit country code", d.CountryCode)
	}
	if d.NationalLength < 0 || d.NationalLength > 15 {
		p.add("dialplan.national_length", "%d is outside 0-15", d.NationalLength)
	}
	if (d.CountryCode == "") != (d.NationalLength == 0) {
		p.add("dialplan.country_code", "country_code and national_length go together")
	}

	t := c.Timers
	positive(p, "timers.ring_timeout", t.RingTimeout)
	if t.RingTimeout > 0 && t.RingTimeout < time.Second {
		p.add("timers.ring_timeout", "%s is below 1s", t.RingTimeout)
	}
	positive(p, "timers.setup_timeout", t.SetupTimeout)
	positive(p, "timers.drain_timeout", t.DrainTimeout)
	positive(p, "timers.hangup_timeout", t.HangupTimeout)
	positive(p, "timers.rest_timeout", t.RESTTimeout)

	switch c.Store.Driver {
	case StoreSQLite:
		if c.Store.Path == "" {
			p.add("store.path", "required")
		}
	case StorePostgres:
		if c.Store.DSN == "" && c.Store.DSNEnv == "" && c.Store.DSNFile == "" {
			p.add("store.dsn", "required with driver postgres (or dsn_env / dsn_file), e.g. postgres://ynagw@db.example:5432/ynagw")
		}
		if c.Cluster.NodeID == "" {
			p.add("cluster.node_id", "required with driver postgres (the host name is unknown)")
		} else if strings.ContainsAny(c.Cluster.NodeID, " \t\r\n") || len(c.Cluster.NodeID) > 64 {
			p.add("cluster.node_id", "%q must be at most 64 characters without white space", c.Cluster.NodeID)
		}
		if c.Cluster.SIPAddress != "" {
			hostPort(p, "cluster.sip_address", c.Cluster.SIPAddress, true)
		}
		if c.Cluster.LeaseTTL < 3*time.Second || c.Cluster.LeaseTTL > 60*time.Second {
			p.add("cluster.lease_ttl", "%s must be between 3s and 60s", c.Cluster.LeaseTTL)
		}
	default:
		p.add("store.driver", "%q is not a store driver (sqlite or postgres)", c.Store.Driver)
	}
	if c.Store.Key == "" && c.Store.KeyEnv == "" && c.Store.KeyFile == "" {
		p.add("store.key", "required (or key_env / key_file): the 32-byte token encryption key as 64 hex digits or base64; generate one with: openssl rand -hex 32")
	} else if c.Store.Key != "" {
		if _, err := store.ParseKey(c.Store.Key); err != nil {
			p.add(secretPath("store.key", c.Store.KeyEnv, c.Store.KeyFile), "%s", keyProblem(err))
		}
	}

	a := c.Admin
	hostPort(p, "admin.listen", a.Listen, false)
	hasPass := a.Password != "" || a.PasswordEnv != "" || a.PasswordFile != ""
	hasToken := a.Token != "" || a.TokenEnv != "" || a.TokenFile != ""
	if (a.Username == "") == hasPass {
		if a.Username == "" {
			p.add("admin.username", "required with password")
		} else {
			p.add("admin.password", "required with username")
		}
	}
	if !hasPass && !hasToken && !Loopback(a.Listen) {
		p.add("admin", "listen %q is reachable from other hosts (not loopback): set username and password, or token", a.Listen)
	}
	switch a.MetricsAuth {
	case MetricsAuthRequired:
		if !hasPass && !hasToken {
			p.add("admin.metrics_auth", "required: set username/password or token (what Prometheus scrapes with)")
		}
	case MetricsAuthNone:
	default:
		p.add("admin.metrics_auth", "%q is not required or none", a.MetricsAuth)
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		p.add("log.format", "%q is not json or console", c.Log.Format)
	}
}

// keyProblem words a store.ParseKey error without the package prefix.
func keyProblem(err error) string {
	return strings.TrimPrefix(err.Error(), "store: ") + " (generate one with: openssl rand -hex 32)"
}

// Loopback reports whether the listen address hostport binds loopback only (127.0.0.0/8,
// ::1 or localhost); an empty or wildcard host is not loopback.
func Loopback(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}
