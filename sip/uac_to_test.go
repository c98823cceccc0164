package sip

import (
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// To taken from a target URI keeps the URI's parameters inside the angle brackets
// (without them ";transport=udp" became a To header parameter, RFC 3261 §20.10).
func TestBuildInviteToFromTargetURI(t *testing.T) {
	uri := "sip:14255550100@pbx.example.com:5060;transport=udp"
	var ruri sipmsg.Uri
	if err := sipmsg.ParseUri(uri, &ruri); err != nil {
		t.Fatal(err)
	}
	inv, err := buildInvite(&DialRequest{From: "<sip:12065550123@gw>"}, Target{URI: uri}, ruri)
	if err != nil {
		t.Fatal(err)
	}
	to := inv.To()
	if got := to.Value(); !strings.HasPrefix(got, "<"+uri+">") {
		t.Errorf("To %q, want <%s>", got, uri)
	}
	if tp, _ := to.Address.UriParams.Get("transport"); tp != "udp" || to.Address.User != "14255550100" {
		t.Errorf("To URI %+v", to.Address)
	}
	if _, ok := to.Params.Get("transport"); ok {
		t.Errorf("transport is a To header parameter: %q", to.Value())
	}
}
