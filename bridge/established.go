package bridge

import (
	"errors"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"go.uber.org/zap"
)

// Handlers of an answered call (established or with a network re-offer pending) for
// everything but re-offers (reoffer.go).

// phoneHungUp: BYE from the phone, or its dialog ended: DELETE /end.
func (c *call) phoneHungUp(ev event) callState {
	if b, ok := ev.sip.(*sip.ByeEvent); ok {
		c.log.Info("phone hung up", zap.String("reason", b.Reason))
		return c.end(cause{result: ResultAnswered, reason: "SIP side hung up", phoneGone: true})
	}
	if t, ok := ev.sip.(*sip.TerminatedEvent); ok {
		c.log.Info("SIP dialog ended", zap.Error(t.Err))
	}
	return c.end(cause{result: ResultAnswered, reason: "SIP dialog ended", phoneGone: true})
}

// netHungUp: the network ended the call: BYE to the phone.
func (c *call) netHungUp(ev event) callState {
	c.log.Info("network ended the call", zap.String("status", ev.note.Status), zap.Int("code", int(ev.note.ResponseCode)))
	return c.end(cause{result: ResultAnswered, reason: "network hung up (" + ev.note.Status + ")", bye: "ended by the network", netGone: true})
}

// mediaFailed: the WebRTC leg failed or the relay stopped (the phone's RTP timed out).
func (c *call) mediaFailed(ev event) callState {
	c.log.Warn("media stopped; ending the call", zap.Error(ev.err))
	reason := "media failed"
	switch {
	case errors.Is(ev.err, rtpmedia.ErrMediaTimeout):
		reason = "SIP media timeout"
		if m, ok := c.m.(MediaTimeoutObserver); ok {
			m.MediaTimeout()
		}
	case errors.Is(ev.err, errNetMedia):
		reason = "network media failed"
	}
	return c.end(cause{result: ResultAnswered, reason: reason, bye: reason})
}

func (c *call) shutdown(event) callState {
	return c.end(cause{result: ResultAnswered, reason: "gateway shutdown", bye: "gateway shutting down"})
}

// dtmf: a SIP INFO digit goes to the network as RFC 4733.
func (c *call) dtmf(ev event) callState {
	e := ev.sip.(*sip.DTMFEvent)
	if c.relay != nil {
		if err := c.relay.SendDTMFToNet(e.Digit, e.Duration); err != nil {
			c.log.Info("DTMF toward network failed", zap.Error(err))
		}
	}
	return c.state
}

// ackAnswer: an ACK with the answer to the offer we put in a 200 (offerless re-INVITE).
func (c *call) ackAnswer(ev event) callState {
	e := ev.sip.(*sip.AckEvent)
	if len(e.SDP) == 0 {
		return c.state
	}
	if md, err := rtpmedia.ParseSDP(e.SDP); err == nil && !md.Addr.Addr().IsUnspecified() && md.Addr.Port() != 0 {
		c.setPhoneRemote(md)
		if err := c.phoneAnswered(md); err != nil {
			c.log.Warn("phone's answer in the ACK: SRTP keys not usable", zap.Error(err))
		}
	}
	return c.state
}

// netAllows is the most our SIP side may do given the network's direction: send toward
// the phone only what the network sends, receive only what the network takes.
func (c *call) netAllows() rtpmedia.Direction {
	return dirOf(c.netDir.Sends(), c.netDir.Receives())
}

func dirOf(sends, receives bool) rtpmedia.Direction {
	switch {
	case sends && receives:
		return rtpmedia.SendRecv
	case sends:
		return rtpmedia.SendOnly
	case receives:
		return rtpmedia.RecvOnly
	}
	return rtpmedia.Inactive
}

// sipOffer builds our SIP offer with direction dir and the current codec.
func (c *call) sipOffer(dir rtpmedia.Direction) []byte {
	b, err := rtpmedia.BuildOffer(c.localSDPConfig(c.sipCodecs(), dir))
	if err != nil {
		c.log.Error("building SIP offer", zap.Error(err))
	}
	return b
}
