package metrics

import (
	"strconv"
	"strings"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
)

// Other is the label value of anything outside a label's fixed set.
const Other = "other"

// labelErr is the code label of a YNA request that got no HTTP response.
const labelErr = "error"

// set is a fixed set of label values.
type set map[string]bool

func newSet(vals ...string) set {
	s := set{}
	for _, v := range vals {
		s[v] = true
	}
	return s
}

// bound returns v if it is in s, else Other.
func (s set) bound(v string) string {
	if s[v] {
		return v
	}
	return Other
}

var (
	directions = newSet(bridge.DirectionInbound, bridge.DirectionOutbound)
	results    = newSet(bridge.ResultAnswered, bridge.ResultBusy, bridge.ResultDeclined, bridge.ResultNoAnswer,
		bridge.ResultUnavailable, bridge.ResultNotFound, bridge.ResultCancelled, bridge.ResultForbidden,
		bridge.ResultEmergency, bridge.ResultNoRoute, bridge.ResultBadNumber, bridge.ResultCodec,
		bridge.ResultNetworkError, bridge.ResultMediaError, bridge.ResultError)
	branchResults = newSet(sip.ResultAnswered, sip.ResultCancelled, sip.ResultRejected, sip.ResultTimeout, sip.ResultLate2xx)
	ynaOps        = newSet(append([]string{yna.OpStart, yna.OpNameToken, yna.OpNameRefresh,
		yna.OpNameAccountStatus, yna.OpNameUnlink}, yna.CallOps...)...)
	sipMethods = newSet("INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "UPDATE",
		"PRACK", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH")
	legs = newSet("sip", "net")
	// httpCodes are the YNA statuses with their own code label (§ error tables); other
	// statuses are counted by class ("2xx" … "5xx").
	httpCodes = map[int]bool{200: true, 201: true, 202: true, 204: true, 302: true, 400: true, 401: true,
		403: true, 404: true, 405: true, 408: true, 409: true, 410: true, 412: true, 415: true, 429: true,
		500: true, 501: true, 502: true, 503: true, 504: true}
)

// ynaCode is the bounded code label of a YNA exchange: the status for well-known statuses,
// its class ("4xx") for other valid statuses, "error" when no response arrived (status 0)
// and "other" for nonsense statuses.
func ynaCode(status int) string {
	switch {
	case status == 0:
		return labelErr
	case httpCodes[status]:
		return strconv.Itoa(status)
	case status >= 100 && status <= 599:
		return strconv.Itoa(status/100) + "xx"
	}
	return Other
}

// sipMethod is the bounded method label.
func sipMethod(m string) string { return sipMethods.bound(strings.ToUpper(strings.TrimSpace(m))) }

// codeClass is the bounded class label of a SIP status: "1xx" … "6xx" or "other".
func codeClass(code int) string {
	if code >= 100 && code <= 699 {
		return strconv.Itoa(code/100) + "xx"
	}
	return Other
}
