package config

import (
	"net/netip"
	"strings"
	"testing"
)

// TestSIPProxies: sip.proxies reaches sip.Config.Proxies (an IP as a /32), and a
// value that is no CIDR or IP is a field error naming it.
func TestSIPProxies(t *testing.T) {
	y := strings.Replace(baseYAML(t), "rtp:", "sip:\n  proxies: [10.0.0.5, \"192.0.2.0/24\"]\nrtp:", 1)
	c, err := Parse([]byte(y), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32"), netip.MustParsePrefix("192.0.2.0/24")}
	if got := c.SIP().Proxies; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("SIP().Proxies = %v, want %v", got, want)
	}

	bad := strings.Replace(baseYAML(t), "rtp:", "sip:\n  proxies: [kamailio.local]\nrtp:", 1)
	_, err = Parse([]byte(bad), noEnv)
	fes := FieldErrors(err)
	if len(fes) != 1 || fes[0].Path != "sip.proxies[0]" || !strings.Contains(fes[0].Msg, "not a CIDR or IP") {
		t.Fatalf("bad proxy: %v (field errors %+v), want one error at sip.proxies[0]", err, fes)
	}
}
