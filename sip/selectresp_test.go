package sip

import "testing"

func TestBestFinal(t *testing.T) {
	fr := func(codes ...int) []finalResponse {
		out := make([]finalResponse, len(codes))
		for i, c := range codes {
			out[i] = finalResponse{Code: c}
		}
		return out
	}
	tests := []struct {
		name string
		in   []finalResponse
		want int
	}{
		{"no finals means 408", nil, 408},
		{"single", fr(404), 404},
		{"6xx beats 4xx", fr(486, 603), 603},
		{"6xx beats 3xx and 5xx", fr(302, 503, 600), 600},
		{"first 6xx wins among 6xx", fr(603, 600), 603},
		{"3xx is the lowest class", fr(404, 302, 500), 302},
		{"4xx beats 5xx", fr(500, 480), 480},
		{"busy beats not found", fr(404, 486), 486},
		{"busy beats not found (other order)", fr(486, 404), 486},
		{"484 affects resubmission", fr(486, 484), 484},
		{"415 before 420", fr(420, 415), 415},
		{"no-answer beats generic 4xx", fr(404, 408), 408},
		{"480 before 408", fr(408, 480), 480},
		{"generic 4xx beats our own 487", fr(487, 403), 403},
		{"lowest generic 4xx", fr(488, 403, 404), 403},
		{"401/407 ranked last in 4xx", fr(407, 487, 401), 487},
		{"401 before 407", fr(407, 401), 401},
		{"401 still beats 5xx", fr(500, 401), 401},
		{"503 kept, not rewritten", fr(503), 503},
		{"503 last within 5xx", fr(503, 502), 502},
		{"lowest 5xx", fr(504, 500), 500},
		{"junk code treated as 500", fr(799), 500},
		{"2xx is not a failure", fr(200), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bestFinal(tt.in)
			if got.Code != tt.want {
				t.Fatalf("bestFinal(%v) = %d, want %d", tt.in, got.Code, tt.want)
			}
			if got.Reason == "" {
				t.Fatalf("bestFinal(%v) has no reason phrase", tt.in)
			}
		})
	}
}

func TestBestFinalKeepsReason(t *testing.T) {
	got := bestFinal([]finalResponse{{Code: 486, Reason: "Busy Here Now"}, {Code: 404, Reason: "Nope"}})
	if got.Code != 486 || got.Reason != "Busy Here Now" {
		t.Fatalf("got %+v", got)
	}
}

func TestProgressAggregator(t *testing.T) {
	sdp := []byte("v=0\r\n")
	type step struct {
		code int
		sdp  []byte
		want bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"100 never forwarded", []step{{100, nil, false}, {100, nil, false}}},
		{"first 180 only", []step{{180, nil, true}, {180, nil, false}, {180, nil, false}}},
		{"first early media only", []step{{183, sdp, true}, {183, sdp, false}, {180, sdp, false}}},
		{"180 then early media both forwarded", []step{{180, nil, true}, {183, sdp, true}, {180, nil, false}}},
		{"early media then 180 both forwarded", []step{{183, sdp, true}, {180, nil, true}}},
		{"183 without SDP suppressed", []step{{183, nil, false}, {180, nil, true}}},
		{"181/182 suppressed", []step{{181, nil, false}, {182, nil, false}}},
		{"180 with SDP counts as early media", []step{{180, sdp, true}, {183, sdp, false}, {180, nil, true}}},
		{"finals are not progress", []step{{200, sdp, false}, {486, nil, false}, {99, nil, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a progressAggregator
			for i, s := range tt.steps {
				if got := a.forward(s.code, s.sdp); got != s.want {
					t.Fatalf("step %d: forward(%d, sdp=%v) = %v, want %v", i, s.code, len(s.sdp) > 0, got, s.want)
				}
			}
		})
	}
}

func BenchmarkBestFinal(b *testing.B) {
	rs := []finalResponse{{Code: 487}, {Code: 404}, {Code: 486}, {Code: 503}, {Code: 408}, {Code: 302}}
	b.ReportAllocs()
	for b.Loop() {
		if bestFinal(rs).Code != 302 {
			b.Fatal("wrong pick")
		}
	}
}
