package bridge

import (
	"testing"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
)

func TestCodecNames(t *testing.T) {
	for _, tc := range []struct {
		in   []rtpmedia.Codec
		want string
	}{
		{nil, "none"},
		{[]rtpmedia.Codec{{Name: "telephone-event", ClockRate: 8000}}, "none"},
		{[]rtpmedia.Codec{{Name: "opus", ClockRate: 48000, Channels: 2}, {Name: "telephone-event", ClockRate: 48000}}, "opus/48000/2"},
		{[]rtpmedia.Codec{{Name: "PCMU", ClockRate: 8000, Channels: 1}, {Name: "PCMA", ClockRate: 8000}}, "PCMU/8000 PCMA/8000"},
	} {
		if got := codecNames(tc.in); got != tc.want {
			t.Errorf("codecNames(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCodecRefusalWarning(t *testing.T) {
	ce := codecRefusal(FromStatus("Terminated", 488), "network refused PCMU/8000; phone offers PCMU/8000")
	if ce.SIPStatus != 488 || ce.Result != ResultCodec || ce.WarnCode != sip.WarnIncompatibleMediaFormat ||
		ce.WarnText != "Incompatible media format: network refused PCMU/8000; phone offers PCMU/8000" {
		t.Errorf("codecRefusal = %+v", ce)
	}
}
