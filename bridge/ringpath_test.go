package bridge

import (
	"net/netip"
	"testing"

	"github.com/ynagw/ynagw/sip"
)

// pathSIP is a sipSide whose one phone registered through a proxy (Path) and
// another directly (NATed: rung at its source).
type pathSIP struct{ fakeSIP }

func (*pathSIP) Contacts(string) []sip.Contact {
	return []sip.Contact{
		{AOR: "sip:alice@ynagw", URI: "sip:alice@10.1.1.1:5060", Transport: "udp", Source: netip.MustParseAddrPort("10.0.0.5:5060"),
			Path: []string{"<sip:10.0.0.5:5060;lr;received=sip:198.51.100.7:40000>"}},
		{AOR: "sip:alice@ynagw", URI: "sip:alice@192.168.1.20:5060", Transport: "udp", Source: netip.MustParseAddrPort("198.51.100.8:4242")},
	}
}

// TestRingTargetsThroughPath: a binding with a Path is rung through the proxy
// (Target.Route = Path, no Destination); one without keeps its source as
// Destination.
func TestRingTargetsThroughPath(t *testing.T) {
	g := &Gateway{parts: parts{sip: &pathSIP{}}}
	ts, _ := g.ringTargets(LineConfig{MSISDN: "14255550100", Ring: []string{"alice"}})
	if len(ts) != 2 {
		t.Fatalf("targets %+v, want 2", ts)
	}
	if p := ts[0]; len(p.Route) != 1 || p.Route[0] != "<sip:10.0.0.5:5060;lr;received=sip:198.51.100.7:40000>" || p.Destination != "" {
		t.Errorf("Path binding rung as %+v, want Route = its Path and no Destination", p)
	}
	if d := ts[1]; len(d.Route) != 0 || d.Destination != "198.51.100.8:4242" {
		t.Errorf("direct binding rung as %+v, want Destination = its source", d)
	}
}
