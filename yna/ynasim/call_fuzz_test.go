package ynasim

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSpecStartExample checks that the spec's example /start body (a pjmedia offer with
// UDP/TLS/RTP/SAVP, yna-calling-api.yaml) passes validation.
func TestSpecStartExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "calls", "spec_start_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	req, status, msg := parseStart(b)
	if status != 0 || req.From != "14254369410" || req.ClientCorrelator == "" {
		t.Fatalf("spec example rejected: %d %s", status, msg)
	}
	if d, err := parseAudioSDP(req.SDP); err != nil || d != dirSendRecv {
		t.Fatalf("direction %q %v", d, err)
	}
}

func TestParseAudioSDP(t *testing.T) {
	cases := []struct {
		name, sdp, want string
		ok              bool
	}{
		{"sendonly", testSDP(dirSendOnly), dirSendOnly, true},
		{"no direction", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n", dirSendRecv, true},
		{"session-level", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=inactive\r\nm=audio 5004 RTP/AVP 0\r\n", dirInactive, true},
		{"port zero", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n", "", false},
		{"video only", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 5004 RTP/AVP 96\r\n", "", false},
		{"garbage", "hello\r\n", "", false},
		{"empty", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseAudioSDP(tc.sdp)
			if (err == nil) != tc.ok || d != tc.want {
				t.Fatalf("got %q %v, want %q ok=%v", d, err, tc.want, tc.ok)
			}
		})
	}
}

// FuzzCallBodies feeds arbitrary bytes to the request-body parsers: they must never panic.
func FuzzCallBodies(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "calls", "spec_start_request.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"sdp":""}`))
	f.Add([]byte(`{"sdp":"v=0\r\nm=audio 1 RTP/AVP 0\r\n"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = parseStart(b)
		if sb, err := decodeStatusBody(b, true); err == nil {
			_, _ = parseAudioSDP(sb.sdp)
		}
		_, _ = parseAudioSDP(string(b))
	})
}
