package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
)

// Metric result labels (also CDR.Result).
const (
	ResultAnswered     = "answered"
	ResultBusy         = "busy"
	ResultDeclined     = "declined"
	ResultNoAnswer     = "no_answer"
	ResultUnavailable  = "unavailable"
	ResultNotFound     = "not_found"
	ResultCancelled    = "cancelled"
	ResultForbidden    = "forbidden"
	ResultEmergency    = "emergency"
	ResultNoRoute      = "no_route"
	ResultBadNumber    = "bad_number"
	ResultCodec        = "codec"
	ResultNetworkError = "network_error"
	ResultMediaError   = "media_error"
	ResultError        = "error"
)

// CallError is why a call failed, classified: the SIP final response it maps to (with the
// text of the Reason header), the metric result label and whether retrying may succeed.
type CallError struct {
	SIPStatus int
	Reason    string // Reason header text (sent as SIP;cause=<status>;text="...")
	Result    string
	Retryable bool
	Err       error // cause, may be nil
	// Q850 is the ITU-T Q.850 cause of a failure reported by the network (0: none); the
	// Reason header then carries it instead of the SIP cause (see ReasonHeader).
	Q850 int
	// WarnCode and WarnText, when WarnCode is set, go into a Warning header (RFC 3261
	// §20.43), e.g. 302 for an SRTP policy refusal.
	WarnCode int
	WarnText string
}

// ReasonHeader is the RFC 3326 Reason header value of the SIP final response:
// Q.850;cause=<Q850>;text="<Reason>" when the failure has a Q.850 cause, else
// SIP;cause=<SIPStatus>;text="<Reason>"; "" without a Reason text.
func (e *CallError) ReasonHeader() string {
	text := reasonText(e.Reason)
	if text == "" {
		return ""
	}
	if e.Q850 > 0 {
		return fmt.Sprintf(`Q.850;cause=%d;text="%s"`, e.Q850, text)
	}
	return fmt.Sprintf(`SIP;cause=%d;text="%s"`, e.SIPStatus, text)
}

// reasonText makes s safe inside a quoted Reason text (no quotes, backslashes or
// control characters; at most 100 bytes).
func reasonText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, trimReason(s))
}

// q850ForSIP maps a SIP failure status to its Q.850 cause (RFC 3398 §8.2.6.1, SIP →
// ISUP); 0 where the table has none (487 and 2xx–3xx).
func q850ForSIP(code int) int {
	switch code {
	case 400, 481, 500, 503:
		return 41 // temporary failure
	case 401, 402, 403, 407, 603:
		return 21 // call rejected
	case 404, 485, 604:
		return 1 // unallocated number
	case 405:
		return 63 // service or option unavailable
	case 406, 415, 501:
		return 79 // service or option not implemented
	case 408, 504:
		return 102 // recovery on timer expiry
	case 410:
		return 22 // number changed
	case 480:
		return 18 // no user responding
	case 482, 483:
		return 25 // exchange routing error
	case 484:
		return 28 // invalid number format
	case 486, 600:
		return 17 // user busy
	case 502:
		return 38 // network out of order
	case 606:
		return 58 // bearer capability not presently available
	case 413, 414, 416, 420, 421, 423, 488, 505, 513:
		return 127 // interworking, unspecified
	}
	return 0
}

func (e *CallError) Error() string {
	s := fmt.Sprintf("bridge: %d %s (%s)", e.SIPStatus, e.Reason, e.Result)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *CallError) Unwrap() error { return e.Err }

// Sentinel call errors (match with errors.Is on Result).
var (
	// ErrEmergency: emergency numbers cannot be called over YNA (§10.4). We answer 403 —
	// not 488, which phones read as a codec problem, and not 404/484, which hide the cause.
	ErrEmergency = &CallError{SIPStatus: 403, Reason: "Emergency calls not supported, dial from a mobile/PSTN line", Result: ResultEmergency}
	// ErrNoRoute: the caller may not use any line.
	ErrNoRoute = &CallError{SIPStatus: 403, Reason: "No YNA line for this caller", Result: ResultNoRoute}
)

// Is matches CallErrors by Result.
func (e *CallError) Is(target error) bool {
	var t *CallError
	if errors.As(target, &t) {
		return t.Result == e.Result
	}
	return false
}

// codecRefusal is the 488 of a call refused because the two sides share no codec, with
// Warning: 305 (incompatible media format, RFC 3261 §20.43) "Incompatible media format: <text>".
func codecRefusal(ce *CallError, text string) *CallError {
	ce.WarnCode, ce.WarnText = sip.WarnIncompatibleMediaFormat, "Incompatible media format: "+text
	return ce
}

// codecNames lists the audio formats of cs as "name/rate[/channels]", space-separated,
// DTMF left out ("none" when there are none).
func codecNames(cs []rtpmedia.Codec) string {
	var b strings.Builder
	for _, c := range cs {
		if c.IsDTMF() {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.Name + "/" + strconv.FormatUint(uint64(c.ClockRate), 10))
		if c.Channels > 1 {
			b.WriteString("/" + strconv.Itoa(int(c.Channels)))
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

func callErr(status int, result, reason string, retry bool, cause error) *CallError {
	return &CallError{SIPStatus: status, Reason: reason, Result: result, Retryable: retry, Err: cause}
}

// resultForSIP is the metric label of a SIP final status.
func resultForSIP(code int) string {
	switch code {
	case 486, 600:
		return ResultBusy
	case 603:
		return ResultDeclined
	case 408, 480:
		return ResultNoAnswer
	case 404, 604, 410:
		return ResultNotFound
	case 487:
		return ResultCancelled
	case 403:
		return ResultForbidden
	case 484, 485:
		return ResultBadNumber
	case 488, 606:
		return ResultCodec
	case 503, 502, 500, 504:
		return ResultNetworkError
	}
	return ResultUnavailable
}

// FromStatus is THE table mapping a final YNA session status (with its responseCode) of a
// call that was not answered to a SIP final response. Terminated/SessionCancelled with
// a 4xx–6xx responseCode pass the code through (the network's own SIP code, §8.2).
//
// Every result carries a Q.850 cause for the Reason header: the specific one where the
// status says more than the SIP code (noAnswer: 19, notReachable: 20), else the RFC 3398
// mapping of the SIP status (none for 487).
func FromStatus(status string, code int) *CallError {
	e := fromStatus(status, code)
	switch {
	case status == yna.StatusNoAnswer:
		e.Q850 = 19 // no answer from user (user alerted)
	case status == yna.StatusNotReachable:
		e.Q850 = 20 // subscriber absent
	default:
		e.Q850 = q850ForSIP(e.SIPStatus)
	}
	return e
}

func fromStatus(status string, code int) *CallError {
	passThrough := code >= 400 && code <= 699
	switch status {
	case yna.StatusBusy:
		return callErr(486, ResultBusy, "Busy", true, nil)
	case yna.StatusDeclined:
		if code == 486 {
			return callErr(486, ResultBusy, "Busy", true, nil)
		}
		return callErr(603, ResultDeclined, "Declined", false, nil)
	case yna.StatusNoAnswer:
		return callErr(480, ResultNoAnswer, "No answer", true, nil)
	case yna.StatusNotReachable:
		return callErr(480, ResultUnavailable, "Not reachable", true, nil)
	case yna.StatusFailed:
		if passThrough {
			return callErr(code, resultForSIP(code), "Call failed", code >= 500, nil)
		}
		return callErr(503, ResultNetworkError, "Call failed in the network", true, nil)
	case yna.StatusSessionCancelled:
		if passThrough {
			return callErr(code, resultForSIP(code), "Cancelled by the network", false, nil)
		}
		return callErr(487, ResultCancelled, "Cancelled by the network", false, nil)
	case yna.StatusTerminated:
		if passThrough {
			return callErr(code, resultForSIP(code), terminatedText(code), code == 480 || code == 486 || code >= 500, nil)
		}
		return callErr(480, ResultUnavailable, "Ended by the network", true, nil)
	}
	return callErr(500, ResultError, "Unexpected status "+status, false, nil)
}

func terminatedText(code int) string {
	switch code {
	case 486:
		return "Busy"
	case 603:
		return "Declined"
	case 480:
		return "Temporarily unavailable"
	case 404:
		return "Number not found"
	case 487:
		return "Cancelled"
	case 488:
		return "Media not acceptable to the network"
	}
	return "Terminated by the network (" + strconv.Itoa(code) + ")"
}

// Classify maps any error of a call's set-up to a CallError: CallErrors pass through;
// YNA APIErrors, media errors, SIP status errors and context errors are mapped.
func Classify(err error) *CallError {
	if err == nil {
		return nil
	}
	var ce *CallError
	if errors.As(err, &ce) {
		return ce
	}
	if errors.Is(err, yna.ErrEmergencyNumber) {
		e := *ErrEmergency
		e.Err = err
		return &e
	}
	var ne *yna.NumberError
	if errors.As(err, &ne) {
		return callErr(484, ResultBadNumber, "Invalid number", false, err)
	}
	var ae *yna.APIError
	if errors.As(err, &ae) {
		return fromAPIError(ae)
	}
	switch {
	case errors.Is(err, rtpmedia.ErrNoCommonCodec), errors.Is(err, rtpmedia.ErrUnsupportedTransport), errors.Is(err, rtpmedia.ErrNoAudio):
		return callErr(488, ResultCodec, "No common codec", false, err)
	case errors.Is(err, rtpmedia.ErrMalformedSDP):
		return callErr(400, ResultCodec, "Malformed SDP", false, err)
	case errors.Is(err, rtpmedia.ErrNoPorts):
		return callErr(503, ResultMediaError, "No free RTP ports", true, err)
	case errors.Is(err, ErrLineNotLinked):
		return callErr(500, ResultNetworkError, "YNA line not linked (relink the account)", false, err)
	case errors.Is(err, context.Canceled):
		return callErr(487, ResultCancelled, "Cancelled", false, err)
	case errors.Is(err, context.DeadlineExceeded):
		return callErr(408, ResultNoAnswer, "Timeout", true, err)
	}
	var se *sip.StatusError
	if errors.As(err, &se) {
		return callErr(se.Code, resultForSIP(se.Code), sip.StatusText(se.Code), se.Retryable, err)
	}
	var re *rtpmedia.Error
	if errors.As(err, &re) {
		return callErr(re.SIPStatus(), ResultMediaError, "Media error", false, err)
	}
	if yna.IsRetryable(err) {
		return callErr(502, ResultNetworkError, "YNA service unreachable", true, err)
	}
	return callErr(500, ResultError, "Gateway error", false, err)
}

// startError classifies a failed POST /start. It is this call's failure, so never 503
// (with Retry-After, only for a gateway that is overloaded or draining): the network's
// refusal maps through fromAPIError, no answer in time is 504, a network that cannot be
// reached 502.
func startError(err error) *CallError {
	var ae *yna.APIError
	var ne net.Error
	switch {
	case errors.As(err, &ae), errors.Is(err, ErrLineNotLinked), errors.Is(err, context.Canceled):
		return Classify(err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return callErr(504, ResultNetworkError, "YNA did not answer in time", true, err)
	}
	return callErr(502, ResultNetworkError, "YNA service unreachable", true, err)
}

// fromAPIError maps a failed YNA REST request (mostly /start) to SIP. It is the failure
// of one call: the network's 5xx gives 502 and its 408 504, never 503 (which tells the
// phone that the gateway itself is overloaded).
func fromAPIError(ae *yna.APIError) *CallError {
	s := ae.HTTPStatus
	text := strings.TrimSpace(ae.UserMessage)
	if text == "" {
		text = http.StatusText(s)
	}
	text = "YNA: " + text
	switch {
	case s == http.StatusBadRequest:
		return callErr(484, ResultBadNumber, text, false, ae)
	case s == http.StatusUnauthorized:
		return callErr(500, ResultNetworkError, "YNA line not authorised (relink the account)", false, ae)
	case s == http.StatusForbidden:
		return callErr(403, ResultForbidden, text, false, ae)
	case s == http.StatusNotFound:
		return callErr(404, ResultNotFound, text, false, ae)
	case s == http.StatusRequestTimeout:
		return callErr(504, ResultNetworkError, text, true, ae)
	case s == http.StatusConflict:
		return callErr(486, ResultBusy, text, true, ae)
	case s == http.StatusTooManyRequests, s >= 500, s == http.StatusAccepted:
		return callErr(502, ResultNetworkError, text, true, ae)
	case s >= 200 && s < 300: // 2xx with an unusable body
		return callErr(502, ResultNetworkError, "YNA: bad response", true, ae)
	}
	return callErr(500, ResultError, text, false, ae)
}
