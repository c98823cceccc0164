package ynasim

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/ynagw/ynagw/yna"
)

// Checks of every call operation run in this order: 404 (unknown call, other account,
// ended call; done by the HTTP handler), 403 (operation never valid for this call's
// direction), 400 (bad body), 409 (valid operation, wrong state).

func replyErr(status int, msg string) callReply { return callReply{status: status, msg: msg} }

func replyOK(body any) callReply {
	if body == nil {
		body = struct{}{}
	}
	return callReply{status: http.StatusOK, body: body}
}

// statusBody is a decoded CallStatusRequest: present tells whether "sdp" was in the JSON.
type statusBody struct {
	sdp     string
	present bool
}

// decodeStatusBody decodes a CallStatusRequest. An empty body decodes as {} when allowEmpty.
func decodeStatusBody(body []byte, allowEmpty bool) (statusBody, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		if allowEmpty {
			return statusBody{}, nil
		}
		return statusBody{}, errors.New("request body required")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return statusBody{}, errors.New("body is not a JSON object")
	}
	raw, ok := m["sdp"]
	if !ok {
		return statusBody{}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return statusBody{}, errors.New("sdp must be a string")
	}
	return statusBody{sdp: s, present: true}, nil
}

// sdpOf returns the sdp member of a JSON body, if any.
func sdpOf(body []byte) (string, bool) {
	b, err := decodeStatusBody(body, true)
	if err != nil {
		return "", false
	}
	return b.sdp, b.present
}

// requireSDP decodes a body whose sdp is mandatory and checks its direction.
func requireSDP(body []byte, allowed ...string) (string, callReply, bool) {
	b, err := decodeStatusBody(body, false)
	if err != nil {
		return "", replyErr(http.StatusBadRequest, err.Error()), false
	}
	if !b.present || strings.TrimSpace(b.sdp) == "" {
		return "", replyErr(http.StatusBadRequest, "sdp is required"), false
	}
	if _, err := requireDirection(b.sdp, allowed...); err != nil {
		return "", replyErr(http.StatusBadRequest, err.Error()), false
	}
	return b.sdp, callReply{}, true
}

var allDirections = []string{dirSendRecv, dirSendOnly, dirRecvOnly, dirInactive}

// rest runs one client REST operation on the call goroutine.
func (c *call) rest(ev callEvent) callReply {
	switch ev.op {
	case yna.OpInProgress:
		return c.opInProgress(ev.body)
	case yna.OpRinging:
		return c.opRinging()
	case yna.OpConnected:
		return c.opConnected(ev.body)
	case yna.OpProceeding, yna.OpUpdate:
		if _, r, ok := requireSDP(ev.body, allDirections...); !ok {
			return r
		}
		return replyErr(http.StatusConflict, "no offer pending that "+ev.op+" could answer")
	case yna.OpHold:
		return c.opHold(ev.body)
	case yna.OpResume:
		return c.opResume(ev.body)
	case yna.OpAcceptHold:
		return c.opAcceptHold(ev.body)
	case yna.OpAcceptResume:
		return c.opAcceptResume(ev.body)
	case yna.OpRenegotiate:
		return c.opRenegotiate(ev.body)
	case yna.OpEnd:
		return c.opEnd(ev.hdr)
	}
	return replyErr(http.StatusNotFound, "unknown operation")
}

func (c *call) inbound() bool { return c.info.Direction == DirectionInbound }

func (c *call) established() bool {
	return c.info.State == CallConnected || c.info.State == CallHold
}

func (c *call) opInProgress(body []byte) callReply {
	if !c.inbound() {
		return replyErr(http.StatusForbidden, "inProgress is only valid on an inbound call")
	}
	if _, err := decodeStatusBody(body, true); err != nil {
		return replyErr(http.StatusBadRequest, err.Error())
	}
	if c.info.State != CallInitial {
		return replyErr(http.StatusConflict, "call is "+c.info.State)
	}
	c.setState(CallInProgress)
	return replyOK(nil)
}

func (c *call) opRinging() callReply {
	if !c.inbound() {
		return replyErr(http.StatusForbidden, "ringing is only valid on an inbound call")
	}
	if c.info.State != CallInitial && c.info.State != CallInProgress {
		return replyErr(http.StatusConflict, "call is "+c.info.State)
	}
	c.setState(CallRinging)
	return replyOK(nil)
}

func (c *call) opConnected(body []byte) callReply {
	if c.info.Pending == pendingConnected {
		answer, r, ok := requireSDP(body, allDirections...)
		if !ok {
			return r
		}
		if err := c.fe.SetAnswer(answer); err != nil {
			c.mediaEvent("setAnswer", err)
			return replyErr(http.StatusBadRequest, "answer rejected: "+err.Error())
		}
		c.update(func(ci *CallInfo) { ci.Pending = "" })
		return replyOK(nil)
	}
	if !c.inbound() {
		return replyErr(http.StatusForbidden, "connected is only valid on an inbound call or to answer a re-offer")
	}
	answer, r, ok := requireSDP(body, dirSendRecv, dirRecvOnly, dirSendOnly)
	if !ok {
		return r
	}
	if c.info.State != CallInProgress && c.info.State != CallRinging {
		return replyErr(http.StatusConflict, "call is "+c.info.State)
	}
	if err := c.fe.SetAnswer(answer); err != nil {
		c.mediaEvent("setAnswer", err)
		return replyErr(http.StatusBadRequest, "answer rejected: "+err.Error())
	}
	c.stopTimer()
	c.update(func(ci *CallInfo) { ci.Outcome = OutcomeAnswered })
	c.setState(CallConnected)
	r = replyOK(nil)
	q := c.cs.getQuirks()
	if notifyCalleeOnConnected || q.SDPAfterEstablished {
		r.then = func() {
			ss := yna.SessionStatus{Status: yna.StatusConnected, ResponseCode: 200}
			if q.SDPAfterEstablished {
				ss.SDP = c.localSDP
			}
			c.send(ss)
		}
	}
	return r
}

// sdpResult is the /hold and /resume 200 body. guess: fact sheet §14 item 9.
func sdpResult(status, answer string) yna.SDPResult {
	return yna.SDPResult{Status: status, SDP: answer,
		ReceiverSessionStatus: &yna.ReceiverSessionStatus{Status: status, SDP: answer}}
}

func (c *call) opHold(body []byte) callReply {
	offer, r, ok := requireSDP(body, dirSendOnly, dirInactive)
	if !ok {
		return r
	}
	switch {
	case !c.established():
		return replyErr(http.StatusConflict, "call is "+c.info.State)
	case c.info.HeldByClient:
		return replyErr(http.StatusConflict, "call already held by the client")
	case c.info.Pending != "":
		return replyErr(http.StatusConflict, "network is waiting for "+c.info.Pending)
	}
	answer, err := c.answerReoffer(offer)
	if err != nil {
		return replyErr(http.StatusBadRequest, "offer rejected: "+err.Error())
	}
	c.update(func(ci *CallInfo) { ci.HeldByClient = true })
	c.setState(CallHold)
	r = replyOK(sdpResult(yna.HoldResponseStatus, answer))
	if notifyHolderOnHold {
		holdOffer := c.cs.getQuirks().HoldOfferToHolder
		r.then = func() {
			ss := yna.SessionStatus{Status: yna.StatusHold, SDP: answer}
			if holdOffer {
				d, _ := parseAudioSDP(answer)
				ss.Offer = &yna.Offer{MediaIndicator: &yna.MediaIndicator{Type: "audio", Direction: mediaIndicatorDirection(d)}}
			}
			c.send(ss)
		}
	}
	return r
}

func (c *call) opResume(body []byte) callReply {
	offer, r, ok := requireSDP(body, dirSendRecv, dirRecvOnly)
	if !ok {
		return r
	}
	switch {
	case !c.info.HeldByClient:
		return replyErr(http.StatusConflict, "call is not held by the client")
	case c.info.Pending != "":
		return replyErr(http.StatusConflict, "network is waiting for "+c.info.Pending)
	}
	answer, err := c.answerReoffer(offer)
	if err != nil {
		return replyErr(http.StatusBadRequest, "offer rejected: "+err.Error())
	}
	c.update(func(ci *CallInfo) { ci.HeldByClient = false })
	if !c.info.HeldByNetwork {
		c.setState(CallConnected)
	}
	r = replyOK(sdpResult(yna.ResumeResponseStatus, answer))
	q := c.cs.getQuirks()
	if notifyHolderOnResume || q.SDPAfterEstablished {
		r.then = func() {
			ss := yna.SessionStatus{Status: yna.StatusConnected, ResponseCode: 200}
			if q.SDPAfterEstablished {
				ss.SDP = answer
			}
			c.send(ss)
		}
	}
	return r
}

func (c *call) opRenegotiate(body []byte) callReply {
	offer, r, ok := requireSDP(body, allDirections...)
	if !ok {
		return r
	}
	if !c.established() || c.info.Pending != "" {
		return replyErr(http.StatusConflict, "call is "+c.info.State+" "+c.info.Pending)
	}
	answer, err := c.answerReoffer(offer)
	if err != nil {
		return replyErr(http.StatusBadRequest, "offer rejected: "+err.Error())
	}
	// guess: fact sheet §2 #15 — /renegotiate is documented but never used; answer like /resume.
	return replyOK(sdpResult(yna.StatusConnected, answer))
}

func (c *call) opAcceptHold(body []byte) callReply {
	answer, r, ok := requireSDP(body, dirRecvOnly, dirInactive)
	if !ok {
		return r
	}
	if c.info.Pending != pendingAcceptHold {
		return replyErr(http.StatusConflict, "no network hold pending")
	}
	if err := c.fe.SetAnswer(answer); err != nil {
		c.mediaEvent("setAnswer", err)
		return replyErr(http.StatusBadRequest, "answer rejected: "+err.Error())
	}
	c.update(func(ci *CallInfo) { ci.Pending, ci.HeldByNetwork = "", true })
	c.setState(CallHold)
	return replyOK(nil)
}

func (c *call) opAcceptResume(body []byte) callReply {
	answer, r, ok := requireSDP(body, dirSendRecv, dirSendOnly)
	if !ok {
		return r
	}
	if c.info.Pending != pendingAcceptResume {
		return replyErr(http.StatusConflict, "no network resume pending")
	}
	if err := c.fe.SetAnswer(answer); err != nil {
		c.mediaEvent("setAnswer", err)
		return replyErr(http.StatusBadRequest, "answer rejected: "+err.Error())
	}
	c.update(func(ci *CallInfo) { ci.Pending, ci.HeldByNetwork = "", false })
	if !c.info.HeldByClient {
		c.setState(CallConnected)
	}
	return replyOK(nil)
}

// opEnd is DELETE /end: headers per fact sheet §7 (Reason required, Conference optional).
func (c *call) opEnd(h http.Header) callReply {
	if strings.TrimSpace(h.Get(yna.HeaderReason)) == "" {
		return replyErr(http.StatusBadRequest, "Reason header is required")
	}
	if conf := h.Get(yna.HeaderConference); conf != "" && conf != "true" && conf != "false" {
		return replyErr(http.StatusBadRequest, "Conference header must be true or false")
	}
	outcome := OutcomeEndedByClient
	if !c.established() {
		outcome = OutcomeClientCancelled
		if c.inbound() {
			outcome = OutcomeVoicemail // spec: AcceptInboundFlow "Send to VM"
		}
	}
	c.finish(outcome)
	return replyOK(nil)
}

// answerReoffer lets the far end answer a client re-offer.
func (c *call) answerReoffer(offer string) (string, error) {
	if c.fe == nil {
		return "", errors.New("no media session")
	}
	ctx, cancel := c.mediaCtx()
	defer cancel()
	answer, err := c.fe.AnswerReoffer(ctx, offer)
	c.mediaEvent("answerReoffer", err)
	if err != nil {
		return "", err
	}
	c.localSDP = answer
	return answer, nil
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
