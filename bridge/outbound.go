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
	who := caller{user: ic.AuthUser(), trunk: ic.Trunk(), from: ic.From(), ruri: ic.RequestURI(), to: ic.To()}
	g.handleInvite(ctx, inviteAdapter{ic}, who)
}

func (g *Gateway) handleInvite(ctx context.Context, inv sipInvite, who caller) {
	if !g.enter() {
		_ = inv.Reject(503, "Gateway shutting down")
		return
	}
	defer g.wg.Done()
	if g.draining.Load() {
		g.log.Info("INVITE refused while draining", zap.String("sip_call_id", inv.CallID()))
		_ = inv.Reject(503, DrainReason) // the sip package adds Retry-After to every 503
		return
	}
	rt, rerr := route(g.outboundLines(), g.cfg.DialPlan, who)
	c := g.newCall(DirectionOutbound, rt.line.MSISDN)
	c.rec.SIPUser, c.rec.Peer = who.name(), rt.dest
	if rt.dest == "" {
		c.rec.Peer = uriUser(who.ruri)
	}
	c.setIDs(inv.CallID(), "")
	c.inv, c.inviteCtx = inv, ctx
	if !g.admit(c) {
		_ = inv.Reject(503, "Gateway shutting down")
		return
	}
	defer g.release(c)
	if rerr != nil {
		c.end(rejected(Classify(rerr)))
		return
	}
	if c.setupOutbound(rt) {
		c.run()
	}
}

// outboundSetup is the state of an outbound call before it is answered.
type outboundSetup struct {
	late       bool                       // INVITE without SDP: our offer goes in the 200 OK
	phone      *rtpmedia.MediaDescription // the phone's offer (nil for a late offer)
	netCodecs  []rtpmedia.Codec           // what we offered the network in /start
	sipAnswer  []byte                     // our answer to the phone, once the network answered
	sent183    bool
	sent180    bool
	answerDone bool
}

// setupOutbound prepares the call up to POST /start; false when it ended instead.
func (c *call) setupOutbound(rt outboundRoute) bool {
	g := c.g
	if _, err := g.tokens.AccessToken(c.inviteCtx, rt.line.MSISDN); err != nil {
		c.end(rejected(Classify(fmt.Errorf("%w: %w", ErrLineNotLinked, err))))
		return false
	}
	if err := c.recordOpen(); err != nil {
		c.end(rejected(callErr(500, ResultError, "CDR store unavailable", false, err)))
		return false
	}
	c.out.late = len(c.inv.Offer()) == 0
	codecs, ce := c.phoneOfferCodecs()
	if ce != nil {
		c.end(rejected(ce))
		return false
	}
	if err := c.newSIPLeg(c.out.phone); err != nil {
		c.end(rejected(Classify(err)))
		return false
	}
	offer, ok := c.netOffer(codecs)
	if !ok {
		return false
	}
	return c.startNetwork(rt, offer)
}

// phoneOfferCodecs checks the phone's offer (SRTP policy, transport, codecs) and returns
// the codecs to offer the network; a late offer gets ours.
func (c *call) phoneOfferCodecs() ([]rtpmedia.Codec, *CallError) {
	var err error
	if c.phoneSRTP, err = newPhoneSRTP(c.inv.SRTP(), c.inv.Secure()); err != nil {
		return nil, callErr(500, ResultError, "SRTP key", false, err)
	}
	if c.out.late {
		if c.phoneSRTP.mode == rtpmedia.SRTPRequired && !c.phoneSRTP.secure {
			return nil, c.srtpRefusal(fmt.Errorf("%w: srtp required but the INVITE came over %s", rtpmedia.ErrSRTP, c.inv.Transport()))
		}
		return c.g.cfg.Media.Codecs, nil // we offer in the 200 OK, the phone answers in the ACK
	}
	if c.out.phone, err = rtpmedia.ParseSDP(c.inv.Offer()); err != nil {
		return nil, Classify(err)
	}
	if err := c.checkPhoneOffer(c.out.phone); err != nil {
		if ce := c.srtpRefusal(err); ce != nil {
			return nil, ce
		}
		return nil, Classify(err)
	}
	codecs := commonCodecs(c.out.phone.Codecs, c.g.cfg.Media.Codecs, false)
	if !hasAudio(codecs) {
		ce := Classify(fmt.Errorf("%w: phone offered %v", rtpmedia.ErrNoCommonCodec, c.out.phone.Codecs))
		return nil, codecRefusal(ce, "gateway supports "+codecNames(c.g.cfg.Media.Codecs)+"; phone offers "+codecNames(c.out.phone.Codecs))
	}
	c.phoneDir = c.out.phone.EffectiveDirection()
	return codecs, nil
}

// netOffer builds the WebRTC leg and its offer for /start; false when the call ended.
func (c *call) netOffer(codecs []rtpmedia.Codec) (string, bool) {
	netCodecs := make([]rtpmedia.Codec, 0, len(codecs)+1)
	for _, cd := range rtpmedia.WithG711Fallback(codecs) {
		netCodecs = append(netCodecs, netFormat(cd))
	}
	c.out.netCodecs = netCodecs
	var err error
	if c.net, err = c.g.media.NewNetLeg(netCodecs); err != nil {
		c.end(rejected(callErr(500, ResultMediaError, "WebRTC unavailable", false, err)))
		return "", false
	}
	ctx, cancel := context.WithTimeout(c.inviteCtx, c.g.cfg.Timers.SetupTimeout)
	defer cancel()
	offer, err := c.net.CreateOffer(ctx)
	switch {
	case c.inviteCtx.Err() != nil:
		c.end(cause{result: ResultCancelled, reason: "caller cancelled", sipStatus: 487, phoneGone: true})
		return "", false
	case err != nil:
		c.end(rejected(callErr(500, ResultMediaError, "WebRTC offer failed", false, err)))
		return "", false
	}
	return offer, true
}

// startNetwork sends POST /start and binds the call to its callId; false when the call
// ended. Notifications that came before the answer to /start are in the mailbox then.
func (c *call) startNetwork(rt outboundRoute, offer string) bool {
	ctx, cancel := c.restCtx()
	res, err := c.g.parts.api.Start(ctx, c.line, yna.StartRequest{From: rt.line.MSISDN, To: rt.dest, SDP: offer})
	cancel()
	if err != nil {
		c.end(rejected(startError(err)))
		return false
	}
	c.setIDs("", res.CallID)
	c.recordUpdate()
	c.log.Info("outbound call started", zap.String("to", rt.dest), zap.String("sip_user", c.rec.SIPUser))
	c.g.bind(res.CallID, c)
	if c.inviteCtx.Err() != nil { // cancelled during /start: its notifications do not matter
		c.end(cause{result: ResultCancelled, reason: "caller cancelled", sipStatus: 487, phoneGone: true})
		return false
	}
	c.setTimer(c.start.Add(c.g.cfg.Timers.SetupTimeout).Sub(c.g.clock.Now()), evSetupTimeout)
	c.state = stEarly
	return true
}

// takeNetAnswer applies the answer SDP a notification may carry (once).
func (c *call) takeNetAnswer(n *yna.SessionStatus) error {
	if n.SDP == "" || c.out.answerDone {
		return nil
	}
	return c.applyNetAnswer(n.SDP)
}

func (c *call) unusableAnswer(err error) callState {
	return c.end(rejected(callErr(488, ResultCodec, "Network answer not usable", false, err)))
}

// outProgress: InProgress/183. With the answer applied, the phone gets a 183 with our
// answer (early media); a late-offer call gets ringback only (no early media without
// 100rel).
func (c *call) outProgress(ev event) callState {
	if err := c.takeNetAnswer(ev.note); err != nil {
		return c.unusableAnswer(err)
	}
	switch {
	case c.out.late:
		c.send180()
	case c.out.answerDone && !c.out.sent183:
		c.out.sent183 = true
		c.publish(CallStateRinging)
		if err := c.inv.Progress(context.Background(), 183, c.out.sipAnswer); err != nil {
			c.log.Debug("183 failed", zap.Error(err))
		}
	}
	return c.ringingState()
}

// outRinging: Ringing/180 gives a 180 even after a 183 with SDP (fact sheet §9 flow); a
// 180 without SDP leaves the early media session as it is (RFC 3261 §13.2.1).
func (c *call) outRinging(ev event) callState {
	if err := c.takeNetAnswer(ev.note); err != nil {
		return c.unusableAnswer(err)
	}
	c.send180()
	return c.ringingState()
}

func (c *call) send180() {
	if c.out.sent180 {
		return
	}
	c.out.sent180 = true
	c.publish(CallStateRinging)
	if err := c.inv.Progress(context.Background(), 180, nil); err != nil {
		c.log.Debug("180 failed", zap.Error(err))
	}
}

func (c *call) ringingState() callState {
	if c.out.sent180 || c.out.sent183 {
		return stRinging
	}
	return c.state
}

// outAnswer: Connected/200: the phone gets its 200 OK.
func (c *call) outAnswer(ev event) callState {
	if err := c.takeNetAnswer(ev.note); err != nil {
		return c.unusableAnswer(err)
	}
	if !c.out.answerDone {
		return c.end(rejected(callErr(502, ResultNetworkError, "Network answered without SDP", false, nil)))
	}
	c.stopTimer()
	return c.answerPhone()
}

// outRefused: a final status before the answer (FromStatus table); the network ended
// the call itself.
func (c *call) outRefused(ev event) callState {
	ce := FromStatus(ev.note.Status, int(ev.note.ResponseCode))
	if ce.Result == ResultCodec {
		c.codecRefused(ce, ev.note)
	}
	cs := rejected(ce)
	cs.netGone = true
	return c.end(cs)
}

// codecRefused makes a network's codec refusal of our /start offer visible: Warning 305
// toward the phone and one warn log line. The network sends no codec list of its own
// then, so both name what it refused and what the phone offered.
func (c *call) codecRefused(ce *CallError, n *yna.SessionStatus) {
	ours := codecNames(c.out.netCodecs)
	phone := "none (offer-less INVITE)"
	if c.out.phone != nil {
		phone = codecNames(c.out.phone.Codecs)
	}
	network := fmt.Sprintf("refused %s (%s %d)", ours, n.Status, n.ResponseCode)
	codecRefusal(ce, "network "+network+"; phone offers "+phone)
	c.log.Warn("call refused: no common codec", zap.String("network_codecs", network),
		zap.String("our_codecs", ours), zap.String("phone_codecs", phone))
}

func (c *call) outCancelled(event) callState {
	c.log.Info("caller cancelled", zap.Error(c.inv.Err()))
	return c.end(cause{result: ResultCancelled, reason: "caller cancelled", sipStatus: 487, phoneGone: true})
}

func (c *call) outTimeout(event) callState {
	return c.end(rejected(callErr(408, ResultNoAnswer, "No answer", true, nil)))
}

func (c *call) outMediaFailed(ev event) callState {
	return c.end(rejected(callErr(500, ResultMediaError, "WebRTC media failed", false, ev.err)))
}

func (c *call) outShutdown(event) callState {
	return c.end(rejected(callErr(503, ResultNetworkError, "Gateway shutting down", true, nil)))
}

// applyNetAnswer applies the network's answer SDP and builds our answer to the phone with
// the codec the network chose.
func (c *call) applyNetAnswer(sdp string) error {
	if err := c.net.SetAnswer(sdp); err != nil {
		return err
	}
	c.lastNetRemote = sdp
	c.out.answerDone = true
	nc := c.net.Codec()
	if c.out.late {
		return c.lateOffer(nc)
	}
	pick, ok := phoneCodecFor(c.out.phone.Codecs, nc)
	if !ok {
		return fmt.Errorf("%w: network chose %v, phone offered %v", rtpmedia.ErrNoCommonCodec, nc, c.out.phone.Codecs)
	}
	local := []rtpmedia.Codec{pick}
	for _, cd := range c.g.cfg.Media.Codecs {
		if cd.IsDTMF() {
			local = append(local, cd)
		}
	}
	n, err := rtpmedia.AnswerSDP(c.out.phone, c.localSDPConfig(local, rtpmedia.SendRecv))
	if err != nil {
		return err
	}
	if err := c.setSRTPKeys(n.SRTP); err != nil {
		return err
	}
	c.out.sipAnswer, c.sipCodec, c.sipDTMF = n.SDP, n.Codec, n.DTMF
	return c.startRelay()
}

// lateOffer builds our SIP offer (sent in the 200 OK) for the codec the network chose.
func (c *call) lateOffer(nc rtpmedia.Codec) error {
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
	c.out.sipAnswer = offer
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
	c.setPhoneRemote(md)
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

// answerPhone sends 200 OK and waits for the ACK: the call is established.
func (c *call) answerPhone() callState {
	c.recordAnswer() // durable before the 200 OK
	ctx, cancel := context.WithTimeout(c.g.ctx, 64*500*time.Millisecond)
	dlg, err := c.inv.Answer(ctx, c.out.sipAnswer)
	cancel()
	if errors.Is(err, sip.ErrClosed) {
		// The phone hung up (BYE) before its ACK was seen: answered and ended at once.
		c.answered()
		c.log.Info("phone hung up right after the answer", zap.Error(err))
		return c.end(cause{result: ResultAnswered, reason: "SIP side hung up", phoneGone: true})
	}
	if err != nil {
		c.log.Info("answering the phone failed", zap.Error(err))
		c.unanswer()
		return c.end(cause{result: ResultCancelled, reason: "phone did not take the answer: " + err.Error(),
			sipStatus: sip.StatusOf(err), phoneGone: true})
	}
	c.dlg = dlg
	if c.out.late {
		if err := c.lateAnswer(dlg.RemoteSDP()); err != nil {
			c.log.Info("phone's answer in the ACK not usable", zap.Error(err))
			return c.end(cause{result: ResultCodec, reason: "late offer answer: " + err.Error(), bye: "media not acceptable"})
		}
	}
	c.answered()
	c.log.Info("outbound call answered", zap.Stringer("codec", c.sipCodec))
	return stEstablished
}
