package bridge

import (
	"context"
	"errors"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// runEstablished drives an answered call until either side ends it.
func (c *call) runEstablished() {
	var relayDone <-chan struct{}
	if c.relay != nil {
		relayDone = c.relay.Done()
	}
	for {
		select {
		case ev, ok := <-c.dlg.Events():
			if !ok {
				c.end()
				c.finish(ResultAnswered, "SIP dialog closed", 0)
				return
			}
			if c.sipEvent(ev) {
				return
			}
		case <-c.notes.C():
			for _, n := range c.notes.take() {
				if c.netStatus(n) {
					return
				}
			}
		case <-c.net.Done():
			c.log.Warn("network media leg failed; ending the call", zap.Error(c.net.Err()))
			c.hangupSIP("network media failed")
			c.end()
			c.finish(ResultAnswered, "network media failed", 0)
			return
		case <-relayDone:
			c.log.Warn("media relay stopped; ending the call", zap.Error(c.relay.Err()))
			reason := "media failed"
			if errors.Is(c.relay.Err(), rtpmedia.ErrMediaTimeout) {
				reason = "SIP media timeout"
				if m, ok := c.m.(MediaTimeoutObserver); ok {
					m.MediaTimeout()
				}
			}
			c.hangupSIP(reason)
			c.end()
			c.finish(ResultAnswered, reason, 0)
			return
		case <-c.g.ctx.Done():
			c.hangupSIP("gateway shutting down")
			c.end()
			c.finish(ResultAnswered, "gateway shutdown", 0)
			return
		}
	}
}

// sipEvent handles one dialog event; true when the call is over.
func (c *call) sipEvent(ev sip.Event) bool {
	switch e := ev.(type) {
	case *sip.ByeEvent:
		c.log.Info("phone hung up", zap.String("reason", e.Reason))
		c.end()
		c.drainDialog()
		c.finish(ResultAnswered, "SIP side hung up", 0)
		return true
	case *sip.TerminatedEvent:
		c.log.Info("SIP dialog ended", zap.Error(e.Err))
		c.end()
		c.finish(ResultAnswered, "SIP dialog ended", 0)
		return true
	case *sip.DTMFEvent:
		if c.relay != nil {
			if err := c.relay.SendDTMFToNet(e.Digit, e.Duration); err != nil {
				c.log.Info("DTMF toward network failed", zap.Error(err))
			}
		}
	case *sip.OfferEvent:
		c.phoneOffer(e)
	case *sip.AckEvent:
		if len(e.SDP) > 0 { // the answer to the offer we put in a 200 (offerless re-INVITE)
			if md, err := rtpmedia.ParseSDP(e.SDP); err == nil && !md.Addr.Addr().IsUnspecified() && md.Addr.Port() != 0 {
				c.sipLeg.SetRemote(md.Addr)
				c.sipLeg.SetRemoteRTCP(md.RTCPAddr)
				if err := c.phoneAnswered(md); err != nil {
					c.log.Warn("phone's answer in the ACK: SRTP keys not usable", zap.Error(err))
				}
			}
		}
	}
	return false
}

// phoneOffer answers a re-INVITE/UPDATE from the phone: hold, resume or refresh (§9.4).
// The answer is built first (a re-offer we cannot take changes nothing), then the network
// is told about a hold or resume, then the phone gets its 200.
func (c *call) phoneOffer(e *sip.OfferEvent) {
	if len(e.SDP) == 0 { // offerless re-INVITE: our current SDP as offer, answer in the ACK
		_ = e.Respond(200, c.sipOffer(c.netAllows()))
		return
	}
	md, err := rtpmedia.ParseSDP(e.SDP)
	if err != nil {
		_ = e.Respond(488, nil)
		return
	}
	n, err := rtpmedia.AnswerSDP(md, c.localSDPConfig(c.sipCodecs(), c.netAllows()))
	if err != nil {
		c.log.Info("phone re-offer not acceptable", zap.Error(err))
		_ = e.Respond(488, nil)
		return
	}
	ans, chosen, dtmf := n.SDP, n.Codec, n.DTMF
	if !md.Disabled() {
		if err := c.setSRTPKeys(n.SRTP); err != nil {
			c.log.Info("phone re-offer: SRTP keys not usable", zap.Error(err))
			_ = e.Respond(488, nil)
			return
		}
	}
	pd := md.EffectiveDirection()
	wasHeld := !c.phoneDir.Receives() || !c.phoneDir.Sends()
	holds := !pd.Receives() || !pd.Sends()
	switch {
	case holds && !wasHeld:
		c.netReoffer(yna.OpHold, pd)
	case !holds && wasHeld:
		c.netReoffer(yna.OpResume, rtpmedia.SendRecv)
	}
	if !md.Addr.Addr().IsUnspecified() && md.Addr.Port() != 0 {
		c.sipLeg.SetRemote(md.Addr)
		c.sipLeg.SetRemoteRTCP(md.RTCPAddr)
	}
	c.sipCodec, c.sipDTMF = chosen, dtmf
	c.phoneDir = pd
	if err := e.Respond(200, ans); err != nil {
		c.log.Info("answering the phone's re-offer failed", zap.Error(err))
	}
	if c.relay != nil {
		c.relay.Update(RelayParams{SIPCodec: c.sipCodec, NetCodec: c.net.Codec(), SIPDTMF: c.sipDTMF, NetDTMF: c.net.DTMF()})
	}
	c.applyHold()
	c.log.Info("phone re-offer answered", zap.Stringer("phone_dir", pd))
}

// netAllows is the most our SIP side may do given the network's direction: send toward
// the phone only what the network sends, receive only what the network takes.
func (c *call) netAllows() rtpmedia.Direction {
	switch s, r := c.netDir.Sends(), c.netDir.Receives(); {
	case s && r:
		return rtpmedia.SendRecv
	case s:
		return rtpmedia.SendOnly
	case r:
		return rtpmedia.RecvOnly
	}
	return rtpmedia.Inactive
}

// netReoffer runs a local hold (op OpHold) or resume (OpResume) toward the network. A
// failure is logged and the media is held locally anyway (the SDK rolls back and keeps
// the call, §9.4).
func (c *call) netReoffer(op string, dir rtpmedia.Direction) {
	ctx, cancel := c.restCtx()
	defer cancel()
	offer, err := c.net.Reoffer(ctx, dir)
	if err != nil {
		c.log.Warn("WebRTC re-offer failed", zap.String("op", op), zap.Error(err))
		return
	}
	var res *yna.SDPResult
	if op == yna.OpHold {
		res, err = c.g.yna.Hold(ctx, c.token, c.ynaID, offer)
	} else {
		res, err = c.g.yna.Resume(ctx, c.token, c.ynaID, offer)
	}
	if err != nil {
		c.log.Warn("YNA "+op+" failed; media handled locally", zap.Error(err))
		return
	}
	ans := res.AnswerSDP()
	if err := c.net.SetReofferAnswer(ans); err != nil {
		c.log.Warn("applying the "+op+" answer failed", zap.Error(err))
		return
	}
	c.lastNetRemote = ans
	c.log.Info("network "+op+" done", zap.Stringer("dir", dir))
}

// netStatus handles a notification of an established call; true when the call is over.
func (c *call) netStatus(n *yna.SessionStatus) bool {
	c.log.Debug("status", zap.String("status", n.Status), zap.Int("code", int(n.ResponseCode)), zap.Bool("sdp", n.SDP != ""), zap.Bool("offer", n.Offer != nil))
	if yna.IsFinalStatus(n.Status) {
		c.log.Info("network ended the call", zap.String("status", n.Status), zap.Int("code", int(n.ResponseCode)))
		c.hangupSIP("ended by the network")
		c.finish(ResultAnswered, "network hung up ("+n.Status+")", 0)
		return true
	}
	if n.SDP == "" || n.SDP == c.lastNetRemote {
		return false // confirmations (§9.4) and repeated answers
	}
	heldByNet := !c.netDir.Sends() || !c.netDir.Receives()
	switch {
	case n.Status == yna.StatusHold && n.Offer == nil:
		// Without an "offer" member a Hold is the holder's confirmation of our own /hold
		// (Final-Holding step 5), not an offer; it may arrive after we already resumed.
		// The SDK also needs offer.mediaIndicator to treat Hold as an offer (§8.2, §9.4).
		return false
	case n.Status == yna.StatusHold:
		c.netOffer(n.SDP, yna.OpAcceptHold)
	case n.Status == yna.StatusResume, n.Status == yna.StatusConnected && heldByNet:
		c.netOffer(n.SDP, yna.OpAcceptResume)
	case n.Status == yna.StatusConnected:
		c.netOffer(n.SDP, yna.OpConnected) // mid-call re-offer (§9.6)
	}
	return false
}

// netOffer answers a network re-offer (remote hold/resume/renegotiation, §9.5, §9.6):
// the WebRTC leg answers, the network gets the answer, and the phone is re-INVITEd when
// the direction changed.
func (c *call) netOffer(offer, op string) {
	ctx, cancel := c.restCtx()
	defer cancel()
	ans, rdir, err := c.net.AnswerReoffer(ctx, offer)
	if err != nil {
		c.log.Warn("network re-offer not acceptable", zap.String("op", op), zap.Error(err))
		return
	}
	c.lastNetRemote = offer
	switch op {
	case yna.OpAcceptHold:
		err = c.g.yna.AcceptHold(ctx, c.token, c.ynaID, ans)
	case yna.OpAcceptResume:
		err = c.g.yna.AcceptResume(ctx, c.token, c.ynaID, ans)
	default:
		_, err = c.g.yna.Connected(ctx, c.token, c.ynaID, &ans)
	}
	if err != nil {
		c.log.Warn("YNA "+op+" failed", zap.Error(err))
	}
	changed := rdir != c.netDir
	c.netDir = rdir
	if c.relay != nil {
		c.relay.Update(RelayParams{SIPCodec: c.sipCodec, NetCodec: c.net.Codec(), SIPDTMF: c.sipDTMF, NetDTMF: c.net.DTMF()})
	}
	if changed {
		c.reinvitePhone()
	}
	c.applyHold()
	c.log.Info("network re-offer answered", zap.String("op", op), zap.Stringer("net_dir", rdir))
}

// sipOffer builds our SIP offer with direction dir and the current codec.
func (c *call) sipOffer(dir rtpmedia.Direction) []byte {
	b, err := rtpmedia.BuildOffer(c.localSDPConfig(c.sipCodecs(), dir))
	if err != nil {
		c.log.Error("building SIP offer", zap.Error(err))
	}
	return b
}

// reinvitePhone re-INVITEs the phone with the network's direction (sendonly/inactive on
// network hold, sendrecv on resume). phoneDir keeps the phone's own hold intent: only the
// phone's offers change it.
func (c *call) reinvitePhone() {
	ctx, cancel := context.WithTimeout(c.g.ctx, c.g.cfg.Timers.RESTTimeout)
	defer cancel()
	ans, err := c.dlg.ReInvite(ctx, c.sipOffer(c.netDir))
	if err != nil {
		c.log.Warn("re-INVITE toward the phone failed", zap.Error(err))
		return
	}
	if md, err := rtpmedia.ParseSDP(ans); err == nil {
		if !md.Addr.Addr().IsUnspecified() && md.Addr.Port() != 0 {
			c.sipLeg.SetRemote(md.Addr)
			c.sipLeg.SetRemoteRTCP(md.RTCPAddr)
			if err := c.phoneAnswered(md); err != nil {
				c.log.Warn("phone's re-INVITE answer: SRTP keys not usable", zap.Error(err))
			}
		}
	}
}
