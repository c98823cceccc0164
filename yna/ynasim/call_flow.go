package ynasim

import (
	"errors"
	"net/http"

	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
	"go.uber.org/zap"
)

// startScript runs once the /start response is out (fact sheet §18.1): it schedules the
// behaviour's notification sequence.
func (c *call) startScript() {
	c.logEvent(CallEvent{Kind: "rest", Name: "startResponseWritten"})
	c.script = outboundScript(c.info.Behaviour, c.cs.getQuirks(), c.ringTimeout, c.cs.startNotifyDelay)
	c.nextStep()
}

// nextStep arms the timer for the next scripted step, if any.
func (c *call) nextStep() {
	if len(c.script) == 0 || c.info.State == CallTerminated {
		return
	}
	st := c.script[0]
	c.after(st.delay, func() {
		if len(c.script) == 0 {
			return
		}
		c.script = c.script[1:]
		c.doStep(st.kind)
		c.nextStep()
	})
}

// ensureAnswer lets the far end answer the client's /start offer (once).
func (c *call) ensureAnswer() bool {
	if c.localSDP != "" {
		return true
	}
	fe, err := c.farEnd()
	if err == nil {
		ctx, cancel := c.mediaCtx()
		var answer string
		answer, err = fe.Answer(ctx, c.offer)
		cancel()
		if err == nil {
			c.localSDP = answer
		}
	}
	c.mediaEvent("answer", err)
	if err != nil {
		if errors.Is(err, farend.ErrNoCommonCodec) {
			c.finishWith(OutcomeNoCommonCodec)
		} else {
			c.finishWith(OutcomeMediaFailed)
		}
		return false
	}
	return true
}

// doStep performs one outbound network step: "progress", "ring" or an outcome.
func (c *call) doStep(kind string) {
	switch kind {
	case "progress":
		if !c.ensureAnswer() {
			return
		}
		c.sdpSent = true
		c.send(yna.SessionStatus{Status: yna.StatusInProgress, ResponseCode: codeInProgress, SDP: c.localSDP})
		c.setState(CallInProgress)
	case "ring":
		c.send(yna.SessionStatus{Status: yna.StatusRinging, ResponseCode: codeRinging})
		c.setState(CallRinging)
	case OutcomeAnswered:
		if !c.ensureAnswer() {
			return
		}
		ss := yna.SessionStatus{Status: yna.StatusConnected, ResponseCode: yna.ResponseCode(finals[OutcomeAnswered].Code)}
		if !c.sdpSent || c.cs.getQuirks().ConnectedRepeatsSDP {
			ss.SDP = c.localSDP
			c.sdpSent = true
		}
		c.send(ss)
		c.update(func(ci *CallInfo) { ci.Outcome = OutcomeAnswered })
		c.setState(CallConnected)
	default:
		c.finishWith(kind)
	}
}

// invite sends the invitation of an injected inbound call (fact sheet §8.1, §9.2).
func (c *call) invite() callReply {
	fe, err := c.farEnd()
	var offer string
	if err == nil {
		ctx, cancel := c.mediaCtx()
		offer, err = fe.Offer(ctx)
		cancel()
	}
	c.mediaEvent("offer", err)
	if err != nil {
		c.finish(OutcomeMediaFailed)
		return replyErr(http.StatusInternalServerError, err.Error())
	}
	c.localSDP = offer
	inv := yna.SessionInvitation{
		OriginatorAddress:  telURI(c.info.Peer),
		OriginatorName:     c.originatorName,
		ReceiverAddress:    telURI(c.info.Line),
		CallObjectRef:      c.info.CallObjectRef,
		SDP:                offer,
		VerificationStatus: c.verification,
		ServerCorrelator:   c.info.ServerCorrelator,
	}
	msgID := c.cs.notify(c.acct, yna.TypeSessionInvitation, inv, c.markAcked)
	c.log.Debug("invitation sent", zap.String("msgId", msgID))
	c.logEvent(CallEvent{Kind: "notify", Name: "Invitation", MsgID: msgID, SDP: true})
	c.after(c.ringTimeout, func() {
		if !c.established() {
			c.finishWith(OutcomeRingTimeout)
		}
	})
	return replyOK(nil)
}
