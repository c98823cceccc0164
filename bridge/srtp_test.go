package bridge

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"go.uber.org/zap"
)

func TestSecureURI(t *testing.T) {
	for uri, want := range map[string]bool{
		"sip:alice@127.0.0.1:5061;transport=tls":   true,
		"<sip:alice@127.0.0.1:5061;Transport=TLS>": true,
		"sips:pbx.example.com":                     true,
		"SIPS:pbx.example.com;transport=tcp":       true,
		"sip:alice@127.0.0.1:5060":                 false,
		"sip:alice@127.0.0.1:5060;transport=tcp":   false,
		"sip:tls@127.0.0.1:5060":                   false,
		"sip:a@h;transport=tlsx":                   false,
		"sip:a@h;lr;transport=tls?X=1":             true,
	} {
		if got := secureURI(uri); got != want {
			t.Errorf("secureURI(%q) = %v, want %v", uri, got, want)
		}
	}
}

// TestSRTPOffers: per fork target, SRTP-capable targets over TLS get their own
// offer with their own key, required targets not over TLS are not rung, the
// others share the plain offer.
func TestSRTPOffers(t *testing.T) {
	leg, err := rtpmedia.NewLeg(rtpmedia.LegConfig{BindIP: netip.MustParseAddr("127.0.0.1"), RTCPInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	c := &call{g: &Gateway{cfg: Config{Media: MediaConfig{AdvertiseIP: netip.MustParseAddr("127.0.0.1")}}}, sipLeg: leg, log: zap.NewNop()}
	targets := []sip.Target{
		{URI: "sip:a@127.0.0.1:5061;transport=tls", Label: "req-tls"},
		{URI: "sip:b@127.0.0.1:5060", Label: "req-udp"},
		{URI: "sip:c@127.0.0.1:5061;transport=tls", Label: "opt-tls"},
		{URI: "sip:d@127.0.0.1:5060", Label: "opt-udp"},
		{URI: "sips:pbx.test", Label: "off-tls"},
	}
	settings := []string{"required", "required", "optional", "optional", ""}
	codecs := []rtpmedia.Codec{{Name: "PCMU", PayloadType: 0, ClockRate: 8000}}
	out, pols, err := c.srtpOffers(targets, settings, codecs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		proto  string // "" = shared offer (Target.Offer nil)
		crypto bool
	}{"req-tls": {"RTP/SAVP", true}, "opt-tls": {"RTP/AVP", true}, "opt-udp": {"", false}, "off-tls": {"", false}}
	if len(out) != len(want) {
		t.Fatalf("%d targets rung, want %d (req-udp dropped): %+v", len(out), len(want), out)
	}
	keys := map[string]bool{}
	for _, tg := range out {
		w, ok := want[tg.Label]
		if !ok {
			t.Fatalf("target %s rung", tg.Label)
		}
		if w.proto == "" {
			if tg.Offer != nil || pols[tg.Label].key != nil {
				t.Errorf("%s: own offer %q / key %v, want the shared plain offer", tg.Label, tg.Offer, pols[tg.Label].key)
			}
			continue
		}
		md, err := rtpmedia.ParseSDP(tg.Offer)
		if err != nil {
			t.Fatal(err)
		}
		if md.Proto != w.proto || len(md.Crypto) != 1 || pols[tg.Label].key == nil || string(md.Crypto[0].Key) != string(pols[tg.Label].key.Key) {
			t.Errorf("%s: proto %s crypto %v policy %+v", tg.Label, md.Proto, md.Crypto, pols[tg.Label])
		}
		keys[string(md.Crypto[0].Key)] = true
	}
	if len(keys) != 2 {
		t.Errorf("the two SRTP targets share a key")
	}
}

// TestSRTPRefusalClassified: a policy refusal is a 488 for Classify too (the
// Warning comes from srtpRefusal).
func TestSRTPRefusalClassified(t *testing.T) {
	md, err := rtpmedia.ParseSDP([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPhoneSRTP("required", true)
	if err != nil || p.key == nil {
		t.Fatalf("newPhoneSRTP: %+v %v", p, err)
	}
	c := &call{phoneSRTP: p}
	err = c.checkPhoneOffer(md)
	if !errors.Is(err, rtpmedia.ErrSRTP) || Classify(err).SIPStatus != 488 {
		t.Fatalf("err %v, classified %+v", err, Classify(err))
	}
	if w := warningText(err); w == "" || w == err.Error() {
		t.Errorf("warning text %q", w)
	}
	if p, _ := newPhoneSRTP("bogus", true); p.mode != rtpmedia.SRTPOff || p.key != nil {
		t.Errorf("bad setting: %+v", p)
	}
	if p, _ := newPhoneSRTP("optional", false); p.key != nil {
		t.Errorf("key made for a phone not over TLS")
	}
}
