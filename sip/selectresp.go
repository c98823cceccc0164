package sip

// Response selection and provisional-response aggregation for parallel forking
// (RFC 3261 §16.7 steps 5–6, adapted to a B2BUA).
//
// ynagw is a back-to-back user agent, not a proxy: the "upstream" of a fork is
// our own caller (the bridge), never a SIP peer that could resubmit the request.
// That changes three details of §16.7:
//
//   - 503 is NOT rewritten to 500. §16.7 asks a proxy to convert 503 so that
//     upstream elements do not wrongly conclude that the proxy itself is
//     overloaded. Our caller consumes the code directly (for metrics and for
//     mapping to the other call leg), so the real code is more useful.
//   - 401/407 are NOT aggregated and are ranked LAST within 4xx. §16.7 step 7
//     merges all challenges so that the upstream UAC can retry with
//     credentials. Here the challenge is answered by the fork itself (once,
//     with the target's credentials); a 401/407 that reaches selection means
//     our own credentials were refused, which the caller cannot fix.
//   - Within a class we pick deterministically (the RFC says "MAY select any"),
//     preferring codes that tell the caller something about the callee:
//     484/415/420 (they affect resubmission, as §16.7 suggests), then 486 Busy
//     Here (one busy device means the user is busy), then 480/408 (no answer),
//     then the other 4xx by code, then 487 (a branch we cancelled ourselves)
//     and finally 401/407. Within 5xx the lowest code wins, 503 last. Ties go
//     to the response received first.

// finalResponse is one branch's final non-2xx outcome, as fed to bestFinal.
type finalResponse struct {
	Code   int
	Reason string
}

// timeoutResponse is what bestFinal returns when no branch produced a final
// response (§16.7 step 6: "the proxy MUST send a 408").
var timeoutResponse = finalResponse{Code: 408, Reason: "Request Timeout"}

// bestFinal chooses the response to report when every branch of a fork has
// failed. Input order is arrival order (used to break ties). Responses with a
// code outside 300..699 are treated as 500.
func bestFinal(rs []finalResponse) finalResponse {
	best, bestRank := timeoutResponse, -1
	for _, r := range rs {
		r = normalizeFinal(r)
		rk := finalRank(r.Code)
		if bestRank < 0 || rk < bestRank {
			best, bestRank = r, rk
		}
	}
	return best
}

func normalizeFinal(r finalResponse) finalResponse {
	if r.Code < 300 || r.Code > 699 {
		return finalResponse{Code: 500, Reason: StatusText(500)}
	}
	if r.Reason == "" {
		r.Reason = StatusText(r.Code)
	}
	return r
}

// finalRank orders final responses: lower is better. The class decides first
// (6xx, then 3xx, 4xx, 5xx), then the in-class preference described above.
func finalRank(code int) int {
	class := code / 100
	var classRank int
	switch class {
	case 6:
		classRank = 0
	case 3:
		classRank = 1
	case 4:
		classRank = 2
	default: // 5xx
		classRank = 3
	}
	return classRank*10000 + inClassRank(code)
}

func inClassRank(code int) int {
	if code/100 == 6 {
		return 0 // the first 6xx ends the fork; all 6xx rank equal
	}
	switch code {
	// 4xx that affect resubmission (§16.7), then callee state.
	case 484:
		return 0
	case 415:
		return 1
	case 420:
		return 2
	case 486:
		return 10
	case 480:
		return 20
	case 408:
		return 21
	case 487:
		return 8000
	case 401:
		return 9000
	case 407:
		return 9001
	case 503:
		return 8000
	}
	return 1000 + code%100
}

// progressAggregator decides which provisional responses of a fork are worth
// passing to the caller: the first 180 (ringing) and the first 18x that carries
// SDP (early media). Everything else (100, repeated 180s from other branches,
// 181/182/183 without SDP, a second early-media SDP) is suppressed: the caller
// can play only one ringback or one early-media stream.
type progressAggregator struct {
	ringing    bool
	earlyMedia bool
}

// forward reports whether a provisional response with this code and body
// should be passed on, and records that it was.
func (a *progressAggregator) forward(code int, sdp []byte) bool {
	if code <= 100 || code >= 200 {
		return false
	}
	if len(sdp) > 0 {
		if a.earlyMedia {
			return false
		}
		a.earlyMedia = true
		return true
	}
	if code != 180 || a.ringing {
		return false
	}
	a.ringing = true
	return true
}
