package sip

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestParseSessionExpiresBounds(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"1800;refresher=uac", 1800 * time.Second, true},
		{"90", 90 * time.Second, true},
		{"2147483647", 2147483647 * time.Second, true},
		{"2147483648", 0, false},
		{"18446744074", 0, false}, // would wrap time.Duration to 0.29 s
		{"9223372036854775807", 0, false},
		{"0", 0, false},
		{"-5", 0, false},
		{"abc", 0, false},
	} {
		res := sip.NewResponse(200, "OK")
		res.AppendHeader(sip.NewHeader("Session-Expires", tc.v))
		got, _, ok := parseSessionExpires(res)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Session-Expires %q: got %v %v, want %v %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

// TestUpdateFromResponseClampsInterval: a 2xx asking for a tiny session interval
// must not make us refresh in a tight loop.
func TestUpdateFromResponseClampsInterval(t *testing.T) {
	for _, tc := range []struct {
		se    string
		minSE time.Duration
		want  time.Duration
	}{
		{"1;refresher=uac", 90 * time.Second, 90 * time.Second},
		{"1;refresher=uac", 0, rfc4028MinSE},
		{"30", 2 * time.Second, 30 * time.Second},
		{"1800;refresher=uas", 90 * time.Second, 1800 * time.Second},
	} {
		res := sip.NewResponse(200, "OK")
		res.AppendHeader(sip.NewHeader("Session-Expires", tc.se))
		var tp timerParams
		tp.updateFromResponse(res, tc.minSE)
		if !tp.active || tp.interval != tc.want {
			t.Errorf("%q minSE %v: active=%v interval=%v, want %v", tc.se, tc.minSE, tp.active, tp.interval, tc.want)
		}
	}
}
