package sip

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// rejection is the answer to a request refused by validateRequest, before any
// handler (and so before authentication) sees it.
type rejection struct {
	code   int
	reason string
	hdrs   []sip.Header
}

// knownMethods are the SIP methods registered with IANA: a method outside
// this set gets 501 (RFC 3261 §21.5.2, RFC 4475 §3.1.2.18); a known method we
// do not handle gets 405 from onNoRoute.
var knownMethods = map[string]bool{
	"INVITE": true, "ACK": true, "BYE": true, "CANCEL": true, "OPTIONS": true, "REGISTER": true,
	"PRACK": true, "SUBSCRIBE": true, "NOTIFY": true, "PUBLISH": true, "INFO": true, "REFER": true,
	"MESSAGE": true, "UPDATE": true,
}

// singleHeaders may appear at most once in a request (RFC 3261 §7.3.1: only
// headers defined as comma-separated lists may repeat; RFC 4475 §3.3.8).
var singleHeaders = []string{"From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Type"}

// requestURISchemes are the Request-URI schemes we accept (RFC 3261 §8.2.2.1: others get 416).
var requestURISchemes = map[string]bool{"sip": true, "sips": true, "tel": true}

// validateRequest checks what RFC 3261 §8.2 and §16.3 require of a request
// before it is processed: version, mandatory and single-valued headers, the
// method, CSeq, Request-URI, Content-Length, and for INVITE the body type and
// Accept. It returns nil for an acceptable request. The order follows RFC 4475's
// preferences where a message has several faults (an unknown method with a CSeq
// mismatch gets 501).
func validateRequest(req *sip.Request) *rejection {
	if !strings.EqualFold(req.SipVersion, "SIP/2.0") {
		return &rejection{code: 505}
	}
	for _, m := range []struct {
		name    string
		present bool
	}{{"Via", req.Via() != nil}, {"From", req.From() != nil}, {"To", req.To() != nil},
		{"Call-ID", req.CallID() != nil}, {"CSeq", req.CSeq() != nil}} {
		if !m.present {
			return &rejection{code: 400, reason: "Missing " + m.name + " Header"}
		}
	}
	for _, h := range singleHeaders {
		if len(req.GetHeaders(h)) > 1 {
			return &rejection{code: 400, reason: "Multiple " + h + " Headers"}
		}
	}
	if cl := req.GetHeaders("Content-Length"); len(cl) > 1 {
		return &rejection{code: 400, reason: "Multiple Content-Length"}
	} else if len(cl) == 1 {
		if n, ok := cl[0].(*sip.ContentLengthHeader); ok && int(*n) != len(req.Body()) {
			return &rejection{code: 400, reason: "Content-Length Mismatch"}
		}
	}
	method := string(req.Method)
	if !knownMethods[method] {
		return &rejection{code: 501, hdrs: []sip.Header{sip.NewHeader("Allow", allowMethods)}}
	}
	if string(req.CSeq().MethodName) != method {
		return &rejection{code: 400, reason: "CSeq Method Mismatch"}
	}
	if !requestURISchemes[strings.ToLower(req.Recipient.Scheme)] {
		return &rejection{code: 416}
	}
	if len(req.Recipient.Headers) > 0 {
		return &rejection{code: 400, reason: "Headers In Request-URI"} // RFC 3261 §19.1.1, RFC 4475 §3.1.2.11
	}
	if b, _ := req.Via().Params.Get("branch"); b == sip.RFC3261BranchMagicCookie {
		return &rejection{code: 400, reason: "Bad Branch"} // RFC 4475 §3.2.1
	}
	switch req.Method {
	case sip.REGISTER:
		// the address of record must be a SIP or SIPS URI (RFC 3261 §10.3 step 5, RFC 4475 §3.3.4)
		if s := strings.ToLower(req.To().Address.Scheme); s != "sip" && s != "sips" {
			return &rejection{code: 400, reason: "Address-of-Record Not SIP"}
		}
	case sip.INVITE:
		if len(req.Body()) > 0 && contentType(req) != "application/sdp" {
			return &rejection{code: 415, hdrs: []sip.Header{sip.NewHeader("Accept", "application/sdp")}}
		}
		if !acceptsSDP(req) {
			return &rejection{code: 406} // RFC 3261 §8.2.3, RFC 4475 §3.3.15: our answer is SDP
		}
		// ynagw relays an INVITE onward (to the mobile network): a hop count of
		// zero ends it here. Other requests end at ynagw, which is their endpoint
		// and processes them whatever Max-Forwards says (RFC 4475 §3.3.11).
		if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
			return &rejection{code: 483}
		}
	}
	return nil
}

// acceptsSDP reports whether req's Accept headers (if any) allow an
// application/sdp body. No Accept header means application/sdp (RFC 3261 §20.1);
// an empty one means no body type is acceptable.
func acceptsSDP(req *sip.Request) bool {
	hs := req.GetHeaders("Accept")
	if len(hs) == 0 {
		return true
	}
	for _, h := range hs {
		for _, r := range strings.Split(h.Value(), ",") {
			if i := strings.IndexByte(r, ';'); i >= 0 {
				r = r[:i]
			}
			switch strings.ToLower(strings.TrimSpace(r)) {
			case "application/sdp", "application/*", "*/*":
				return true
			}
		}
	}
	return false
}
