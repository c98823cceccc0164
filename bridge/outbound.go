package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// enter registers a handler goroutine not started by goOwned; false when closing.
func (g *Gateway) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// HandleInvite implements sip.Handler: an outbound call (SIP → YNA). It runs in its own
// goroutine, which becomes the call's owner.
func (g *Gateway) HandleInvite(ctx context.Context, ic *sip.InboundCall) {
	if !g.enter() {
		_ = ic.Reject(503, "Gateway shutting down")
		return
	}
	defer g.wg.Done()
	if g.draining.Load() {
		g.log.Info("INVITE refused while draining", zap.String("sip_call_id", ic.CallID()))
		_ = ic.Reject(503, DrainReason) // the sip package adds Retry-After to every 503
		return
	}
	who := caller{user: ic.AuthUser(), trunk: ic.Trunk(), from: ic.From(), ruri: ic.RequestURI(), to: ic.To()}
	rt, rerr := route(g.outboundLines(), g.cfg.DialPlan, who)
	c := g.newCall(DirectionOutbound, rt.line.MSISDN)
	c.rec.SIPUser, c.rec.Peer = who.name(), rt.dest
	if rt.dest == "" {
		c.rec.Peer = uriUser(who.ruri)
	}
	c.setIDs(ic.CallID(), "")
	if !g.addLive(c) {
		_ = ic.Reject(503, "Gateway shutting down")
		return
	}
	defer g.unbind(c)
	if rerr != nil {
		c.reject(ic, Classify(rerr))
		return
	}
	c.runOutbound(ctx, ic, rt)
}

// reject answers the INVITE with the classified error and finishes the call.
func (c *call) reject(ic *sip.InboundCall, ce *CallError) {
	c.log.Info("outbound call rejected", zap.Int("status", ce.SIPStatus), zap.String("reason", ce.Reason), zap.Error(ce.Err))
	err := ic.RejectWithReason(ce.SIPStatus, ce.ReasonHeader())
	if errors.Is(err, sip.ErrBadReason) { // cannot happen with ReasonHeader; never leave the INVITE pending
		err = ic.Reject(ce.SIPStatus, ce.Reason)
	}
	if err != nil && !errors.Is(err, sip.ErrAlreadyAnswered) {
		c.log.Debug("reject failed", zap.Error(err))
	}
	c.finish(ce.Result, ce.Reason, ce.SIPStatus)
}

// outboundSetup is the state of an outbound call before it is answered.
type outboundSetup struct {
	ic         *sip.InboundCall
	late       bool                       // INVITE without SDP: our offer goes in the 200 OK
	phone      *rtpmedia.MediaDescription // the phone's offer (nil for a late offer)
	sipAnswer  []byte                     // our answer to the phone, once the network answered
	sent183    bool
	sent180    bool
	answerDone bool
}

func (c *call) runOutbound(inviteCtx context.Context, ic *sip.InboundCall, rt outboundRoute) {
	g := c.g
	var err error
	c.token, err = g.tokens.AccessToken(inviteCtx, rt.line.MSISDN)
	if err != nil {
		c.reject(ic, callErr(503, ResultNetworkError, "YNA line not linked", true, err))
		return
	}
	if err := c.recordOpen(); err != nil {
		c.reject(ic, callErr(500, ResultError, "CDR store unavailable", false, err))
		return
	}
	st := &outboundSetup{ic: ic, late: len(ic.Offer()) == 0}
	codecs := g.cfg.Media.Codecs // late offer: we offer in the 200 OK, the phone answers in the ACK
	c.phoneDir, c.netDir = rtpmedia.SendRecv, rtpmedia.SendRecv
	if c.phoneSRTP, err = newPhoneSRTP(ic.SRTP(), ic.Secure()); err != nil {
		c.reject(ic, callErr(500, ResultError, "SRTP key", false, err))
		return
	}
	if st.late && c.phoneSRTP.mode == rtpmedia.SRTPRequired && !c.phoneSRTP.secure {
		c.rejectSRTP(ic, fmt.Errorf("%w: srtp required but the INVITE came over %s", rtpmedia.ErrSRTP, ic.Transport()))
		return
	}
	if !st.late {
		if st.phone, err = rtpmedia.ParseSDP(ic.Offer()); err != nil {
			c.reject(ic, Classify(err))
			return
		}
		if err := c.checkPhoneOffer(st.phone); err != nil {
			if !c.rejectSRTP(ic, err) {
				c.reject(ic, Classify(err))
			}
			return
		}
		codecs = commonCodecs(st.phone.Codecs, g.cfg.Media.Codecs, false)
		if !hasAudio(codecs) {
			c.reject(ic, Classify(fmt.Errorf("%w: phone offered %v", rtpmedia.ErrNoCommonCodec, st.phone.Codecs)))
			return
		}
		c.phoneDir = st.phone.EffectiveDirection()
	}
	if err := c.newSIPLeg(st.phone); err != nil {
		c.reject(ic, Classify(err))
		return
	}
	netCodecs := make([]rtpmedia.Codec, 0, len(codecs)+1)
	for _, cd := range rtpmedia.WithG711Fallback(codecs) {
		netCodecs = append(netCodecs, netFormat(cd))
	}
	if c.net, err = g.media.NewNetLeg(netCodecs); err != nil {
		c.reject(ic, callErr(503, ResultMediaError, "WebRTC unavailable", true, err))
		return
	}
	setupCtx, cancel := context.WithTimeout(inviteCtx, g.cfg.Timers.SetupTimeout)
	defer cancel()
	sdpOffer, err := c.net.CreateOffer(setupCtx)
	if err != nil && inviteCtx.Err() != nil {
		c.finish(ResultCancelled, "caller cancelled", 487)
		return
	}
	if err != nil {
		c.reject(ic, callErr(503, ResultMediaError, "WebRTC offer failed", true, err))
		return
	}
	if inviteCtx.Err() != nil {
		c.finish(ResultCancelled, "caller cancelled", 487)
		return
	}
	rctx, rcancel := c.restCtx()
	res, err := g.yna.Start(rctx, c.token, yna.StartRequest{From: rt.line.MSISDN, To: rt.dest, SDP: sdpOffer})
	rcancel()
	if err != nil {
		c.reject(ic, Classify(err))
		return
	}
	c.setIDs("", res.CallID)
	c.recordUpdate()
	c.log.Info("outbound call started", zap.String("to", rt.dest), zap.String("sip_user", c.rec.SIPUser))
	for _, n := range g.bind(res.CallID, c) {
		c.notes.put(n)
	}

	timer := time.NewTimer(time.Until(c.start.Add(g.cfg.Timers.SetupTimeout)))
	defer timer.Stop()
	for {
		select {
		case <-ic.Done():
			// CANCEL (487 already sent by the sip package) or transaction end.
			c.log.Info("caller cancelled", zap.Error(ic.Err()))
			c.end()
			c.finish(ResultCancelled, "caller cancelled", 487)
			return
		case <-timer.C:
			c.end()
			c.reject(ic, callErr(408, ResultNoAnswer, "No answer", true, nil))
			return
		case <-c.net.Done():
			c.end()
			c.reject(ic, callErr(503, ResultMediaError, "WebRTC media failed", true, c.net.Err()))
			return
		case <-g.ctx.Done():
			c.end()
			c.reject(ic, callErr(503, ResultNetworkError, "Gateway shutting down", true, nil))
			return
		case <-c.notes.C():
			for _, n := range c.notes.take() {
				if done := c.outboundStatus(st, n); done {
					return
				}
			}
		}
	}
}

// outboundStatus handles one notification before the answer; true when the setup phase
// is over (the call either failed or ran to its end).
func (c *call) outboundStatus(st *outboundSetup, n *yna.SessionStatus) bool {
	c.log.Debug("status", zap.String("status", n.Status), zap.Int("code", int(n.ResponseCode)), zap.Bool("sdp", n.SDP != ""))
	if yna.IsFinalStatus(n.Status) {
		ce := FromStatus(n.Status, int(n.ResponseCode))
		c.reject(st.ic, ce)
		return true
	}
	if n.SDP != "" && !st.answerDone {
		if err := c.applyNetAnswer(st, n.SDP); err != nil {
			c.end()
			c.reject(st.ic, callErr(488, ResultCodec, "Network answer not usable", false, err))
			return true
		}
	}
	code := int(n.ResponseCode)
	switch {
	case n.Status == yna.StatusConnected || code == 200:
		if !st.answerDone {
			c.end()
			c.reject(st.ic, callErr(502, ResultNetworkError, "Network answered without SDP", false, nil))
			return true
		}
		c.answerPhone(st)
		return true
	case st.answerDone && !st.late && !st.sent183 && (n.Status == yna.StatusInProgress || n.Status == yna.StatusProceeding || code == 183):
		st.sent183 = true
		c.publish(CallStateRinging)
		if err := st.ic.Progress(context.Background(), 183, st.sipAnswer); err != nil {
			c.log.Debug("183 failed", zap.Error(err))
		}
	case n.Status == yna.StatusRinging || code == 180,
		st.late && (n.Status == yna.StatusInProgress || n.Status == yna.StatusProceeding || code == 183):
		// Ringing gives a 180 even after a 183 with SDP (fact sheet §9 flow: 183 → 183,
		// 180 → 180); a 180 without SDP leaves the early media session as it is (RFC
		// 3261 §13.2.1). A late-offer call gets ringback only: it cannot get early media
		// without 100rel.
		if !st.sent180 {
			st.sent180 = true
			c.publish(CallStateRinging)
			if err := st.ic.Progress(context.Background(), 180, nil); err != nil {
				c.log.Debug("180 failed", zap.Error(err))
			}
		}
	}
	return false
}

// applyNetAnswer applies the network's answer SDP and builds our answer to the phone with
// the codec the network chose.
func (c *call) applyNetAnswer(st *outboundSetup, sdp string) error {
	if err := c.net.SetAnswer(sdp); err != nil {
		return err
	}
	c.lastNetRemote = sdp
	st.answerDone = true
	nc := c.net.Codec()
	if st.late {
		return c.lateOffer(st, nc)
	}
	pick, ok := phoneCodecFor(st.phone.Codecs, nc)
	if !ok {
		return fmt.Errorf("%w: network chose %v, phone offered %v", rtpmedia.ErrNoCommonCodec, nc, st.phone.Codecs)
	}
	local := []rtpmedia.Codec{pick}
	for _, cd := range c.g.cfg.Media.Codecs {
		if cd.IsDTMF() {
			local = append(local, cd)
		}
	}
	n, err := rtpmedia.AnswerSDP(st.phone, c.localSDPConfig(local, rtpmedia.SendRecv))
	if err != nil {
		return err
	}
	if err := c.setSRTPKeys(n.SRTP); err != nil {
		return err
	}
	st.sipAnswer, c.sipCodec, c.sipDTMF = n.SDP, n.Codec, n.DTMF
	return c.startRelay()
}

// lateOffer builds our SIP offer (sent in the 200 OK) for the codec the network chose.
func (c *call) lateOffer(st *outboundSetup, nc rtpmedia.Codec) error {
	pick, ok := phoneCodecFor(c.g.cfg.Media.Codecs, nc)
	if !ok {
		return fmt.Errorf("%w: network chose %v", rtpmedia.ErrNoCommonCodec, nc)
	}
	c.sipCodec, c.sipDTMF = pick, nil
	for _, cd := range c.g.cfg.Media.Codecs {
		if cd.IsDTMF() && cd.ClockRate == pick.ClockRate {
			d := cd
			c.sipDTMF = &d
			break
		}
	}
	offer, err := rtpmedia.BuildOffer(c.localSDPConfig(c.sipCodecs(), rtpmedia.SendRecv))
	if err != nil {
		return err
	}
	st.sipAnswer = offer
	return nil
}

// lateAnswer applies the phone's answer from the ACK and starts the relay.
func (c *call) lateAnswer(ans []byte) error {
	md, err := rtpmedia.ParseSDP(ans)
	if err != nil {
		return err
	}
	if err := c.pickPhoneCodec(md); err != nil {
		return err
	}
	if err := c.phoneAnswered(md); err != nil {
		return err
	}
	if md.Addr.Addr().IsValid() && !md.Addr.Addr().IsUnspecified() && md.Addr.Port() != 0 {
		c.sipLeg.SetRemote(md.Addr)
		c.sipLeg.SetRemoteRTCP(md.RTCPAddr)
	}
	c.phoneDir = md.EffectiveDirection()
	return c.startRelay()
}

// phoneCodecFor picks the phone's codec for the network's: the same format if offered,
// else the first one the relay can transcode (the other G.711 law).
func phoneCodecFor(offered []rtpmedia.Codec, nc rtpmedia.Codec) (rtpmedia.Codec, bool) {
	for _, cd := range offered {
		if !cd.IsDTMF() && cd.Matches(nc) {
			return cd, true
		}
	}
	for _, cd := range offered {
		if !cd.IsDTMF() && rtpmedia.CheckRelay(cd, nc) == nil {
			return cd, true
		}
	}
	return rtpmedia.Codec{}, false
}

// answerPhone sends 200 OK, waits for the ACK and runs the established call.
func (c *call) answerPhone(st *outboundSetup) {
	c.recordAnswer() // durable before the 200 OK
	ctx, cancel := context.WithTimeout(c.g.ctx, 64*500*time.Millisecond)
	dlg, err := st.ic.Answer(ctx, st.sipAnswer)
	cancel()
	if errors.Is(err, sip.ErrClosed) {
		// The phone hung up (BYE) before its ACK was seen: answered and ended at once.
		c.answered()
		c.log.Info("phone hung up right after the answer", zap.Error(err))
		c.end()
		c.finish(ResultAnswered, "SIP side hung up", 0)
		return
	}
	if err != nil {
		c.log.Info("answering the phone failed", zap.Error(err))
		c.unanswer()
		c.end()
		c.finish(ResultCancelled, "phone did not take the answer: "+err.Error(), sip.StatusOf(err))
		return
	}
	c.dlg = dlg
	if st.late {
		if err := c.lateAnswer(dlg.RemoteSDP()); err != nil {
			c.log.Info("phone's answer in the ACK not usable", zap.Error(err))
			c.hangupSIP("media not acceptable")
			c.end()
			c.finish(ResultCodec, "late offer answer: "+err.Error(), 0)
			return
		}
	}
	c.answered()
	c.log.Info("outbound call answered", zap.Stringer("codec", c.sipCodec))
	c.runEstablished()
}
