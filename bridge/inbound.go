package bridge

import (
	"context"
	"fmt"
	"strings"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// startInbound creates the call of an invitation (§8.1, §9.2). It runs on the line's
// router goroutine and binds the callId at once, so the call's later notifications reach it.
func (g *Gateway) startInbound(line string, inv *yna.SessionInvitation) {
	id := yna.CallIDFromRef(inv.CallObjectRef)
	if id == "" {
		g.log.Warn("invitation without callObjectRef ignored", zap.String("line", line))
		return
	}
	if n, err := yna.NormalizeLine(inv.ReceiverAddress); err == nil {
		if _, ok := g.lineConf(n); ok {
			line = n
		}
	}
	if g.bound(id) {
		// A redelivered invitation (e.g. after a channel recovery): the call exists already.
		g.log.Info("duplicate invitation ignored", zap.String("yna_call_id", id))
		return
	}
	c := g.newCall(DirectionInbound, line)
	c.rec.Peer = callerNumber(inv.OriginatorAddress)
	c.peerName = sanitizeDisplay(inv.OriginatorName)
	c.setIDs("", id)
	g.spawn(c, id, func() {
		if c.setupInbound(inv) {
			c.run()
		}
	})
}

// callerNumber is the user part of an originator address, "anonymous" if none (§8.1).
func callerNumber(addr string) string {
	u := uriUser(addr)
	if u == "" {
		return "anonymous"
	}
	return u
}

// ringTargets returns the SIP targets of a line: every registered contact of its Ring
// users, plus its trunk; and the srtp setting of each (its user's or the trunk's).
func (g *Gateway) ringTargets(lc LineConfig) ([]sip.Target, []string) {
	var out []sip.Target
	var srtp []string
	for _, u := range lc.Ring {
		for _, ct := range g.parts.sip.Contacts(u) {
			// Route: registered through a proxy (Path, RFC 3327), maybe via another
			// node: rung through that proxy, which then ignores Destination.
			t := sip.Target{URI: ct.URI, Label: aorUser(ct.AOR) + "/" + ct.URI, Route: ct.Path}
			if len(ct.Path) == 0 && strings.EqualFold(ct.Transport, "udp") && ct.Source.IsValid() {
				t.Destination = ct.Source.String() // reach phones behind NAT where they registered from
			}
			out = append(out, t)
			srtp = append(srtp, g.parts.sip.UserSRTP(u))
		}
	}
	if lc.RingTrunk != "" {
		out = append(out, trunkTarget(lc))
		srtp = append(srtp, lc.RingTrunkSRTP)
	}
	return out, srtp
}

// trunkTarget is the PBX trunk of a line: the line's number is the Request-URI's user
// part (the PBX routes on it) unless the configured URI names a user itself.
func trunkTarget(lc LineConfig) sip.Target {
	uri := strings.TrimSpace(lc.RingTrunk)
	scheme, rest, ok := strings.Cut(uri, ":")
	host := rest
	if i := strings.IndexAny(rest, ";?"); i >= 0 {
		host = rest[:i]
	}
	if ok && !strings.Contains(host, "@") {
		uri = scheme + ":" + lc.MSISDN + "@" + rest
	}
	return sip.Target{URI: uri, Label: "trunk"}
}

// prepared is the WebRTC answer to the network's offer, gathered while the phones ring.
type prepared struct {
	answer string
	err    error
}

// setupInbound takes the invitation up to the fork toward the phones; false when the
// call ended instead.
func (c *call) setupInbound(inv *yna.SessionInvitation) bool {
	g := c.g
	lc, ok := g.lineConf(c.line)
	if !ok {
		c.end(cause{result: ResultNoRoute, reason: "line not configured"})
		return false
	}
	if g.draining.Load() {
		c.end(cause{result: ResultUnavailable, reason: "gateway draining", sipStatus: 503}) // DELETE /end: voicemail
		return false
	}
	c.log.Info("incoming call", zap.String("from", c.rec.Peer))
	if err := c.recordOpen(); err != nil {
		c.end(cause{result: ResultError, reason: "CDR store unavailable: " + err.Error(), sipStatus: 500})
		return false
	}
	ctx, cancel := c.restCtx()
	err := g.parts.api.InProgress(ctx, c.line, c.ynaID)
	cancel()
	if err != nil {
		c.end(cause{result: ResultNetworkError, reason: "POST /inProgress failed: " + err.Error(), netGone: true}) // §13: no /end
		return false
	}
	phones, ok := c.prepareNet(inv.SDP)
	if !ok {
		return false
	}
	return c.dialPhones(inv, lc, phones)
}

// prepareNet checks the network's offer, builds the WebRTC leg and starts gathering its
// answer (it comes back as evPrepared, while the phones ring). It returns the codecs to
// offer the phones: the one the leg answers with (the first of ours the network offered),
// the other G.711 law (the relay transcodes) and telephone-event; false when the call ended.
func (c *call) prepareNet(offer string) ([]rtpmedia.Codec, bool) {
	if strings.TrimSpace(offer) == "" {
		c.end(cause{result: ResultCodec, reason: "offer-less invitation not supported"})
		return nil, false
	}
	netMD, err := rtpmedia.ParseSDP([]byte(offer))
	if err != nil {
		c.end(cause{result: ResultCodec, reason: "network offer unparsable: " + err.Error()})
		return nil, false
	}
	common := commonCodecs(c.g.cfg.Media.Codecs, netMD.Codecs, true)
	if !hasAudio(common) {
		c.log.Warn("call refused: no common codec", zap.String("network_codecs", codecNames(netMD.Codecs)),
			zap.String("our_codecs", codecNames(c.g.cfg.Media.Codecs)))
		c.end(cause{result: ResultCodec, reason: fmt.Sprintf("no common codec with the network offer %v", netMD.Codecs), sipStatus: 488})
		return nil, false
	}
	if c.net, err = c.g.media.NewNetLeg(common); err != nil {
		c.end(cause{result: ResultMediaError, reason: "WebRTC leg: " + err.Error(), sipStatus: 500})
		return nil, false
	}
	c.invSDP = offer
	leg := c.net
	c.goHelper(func(ctx context.Context) event {
		ans, err := leg.AcceptOffer(ctx, offer)
		return event{kind: evPrepared, prep: prepared{answer: ans, err: err}}
	})
	return phoneCodecsFor(common), true
}

// phoneCodecsFor is the codecs offered to the phones for the network codec the WebRTC
// leg answers with (the first audio codec of common).
func phoneCodecsFor(common []rtpmedia.Codec) []rtpmedia.Codec {
	var pick *rtpmedia.Codec
	var out []rtpmedia.Codec
	for i, cd := range common {
		switch {
		case cd.IsDTMF():
		case pick == nil:
			pick = &common[i]
			out = append(out, cd)
		case rtpmedia.CheckRelay(cd, *pick) == nil:
			out = append(out, cd)
		}
	}
	for _, cd := range common {
		if cd.IsDTMF() && cd.ClockRate == pick.ClockRate {
			out = append(out, cd)
		}
	}
	return out
}

// dialPhones forks the call to the line's phones (and trunk); false when it ended.
func (c *call) dialPhones(inv *yna.SessionInvitation, lc LineConfig, codecs []rtpmedia.Codec) bool {
	g := c.g
	targets, srtpSettings := g.ringTargets(lc)
	if len(targets) == 0 {
		c.log.Warn("no SIP contact registered for the line; sending the caller to voicemail", zap.Strings("ring", lc.Ring))
		c.end(cause{result: ResultUnavailable, reason: "no registered contacts", sipStatus: 480})
		return false
	}
	if err := c.newSIPLeg(nil); err != nil {
		c.end(cause{result: ResultMediaError, reason: "RTP leg: " + err.Error(), sipStatus: 503})
		return false
	}
	offer, err := rtpmedia.BuildOffer(c.localSDPConfig(codecs, rtpmedia.SendRecv))
	if err == nil {
		targets, c.branchSRTP, err = c.srtpOffers(targets, srtpSettings, codecs)
	}
	if err != nil {
		c.end(cause{result: ResultMediaError, reason: "SIP offer: " + err.Error(), sipStatus: 500})
		return false
	}
	if len(targets) == 0 {
		c.log.Warn("no SIP target the SRTP policy lets us reach; sending the caller to voicemail")
		c.end(cause{result: ResultUnavailable, reason: "no contacts reachable with the SRTP policy", sipStatus: 480})
		return false
	}
	dctx, dcancel := context.WithCancel(g.ctx)
	fork, err := g.parts.sip.Dial(dctx, c.dialRequest(inv, targets, offer))
	if err != nil {
		dcancel()
		c.end(cause{result: ResultError, reason: "SIP dial: " + err.Error(), sipStatus: sip.StatusOf(err)})
		return false
	}
	c.fork, c.dialCancel = fork, dcancel
	g.observeFork(fork)
	c.state = stEarly
	return true
}

// dialRequest is the fork of an inbound call: From and P-Asserted-Identity carry the
// caller, the targets' To the line.
func (c *call) dialRequest(inv *yna.SessionInvitation, targets []sip.Target, offer []byte) sip.DialRequest {
	host := c.g.cfg.Media.AdvertiseIP.String()
	if c.g.cfg.Media.AdvertiseIP.Is6() {
		host = "[" + host + "]"
	}
	caller := fmt.Sprintf("<sip:%s@%s>", sipUser(c.rec.Peer), host)
	from := caller
	if inv.OriginatorName != "" {
		from = fmt.Sprintf("%q %s", sanitizeDisplay(inv.OriginatorName), caller)
	}
	return sip.DialRequest{
		From: from, Targets: targets, Offer: offer, RingTimeout: c.g.cfg.Timers.RingTimeout,
		Headers: map[string]string{"X-YNA-Line": c.line, "P-Asserted-Identity": from},
	}
}

func sipUser(n string) string {
	return strings.Map(func(r rune) rune {
		if (r >= '0' && r <= '9') || r == '+' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return -1
	}, n)
}

func sanitizeDisplay(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, trimReason(s))
}

// inRinging: a phone rings (first 18x): POST /ringing.
func (c *call) inRinging(event) callState {
	c.publish(CallStateRinging)
	c.postRinging()
	return stRinging
}

// postRinging sends POST /ringing once (on the first SIP 18x, or right before
// /connected if the phone answered without ringing, as the SDK always sends it, §9.2).
func (c *call) postRinging() {
	if c.rang {
		return
	}
	c.rang = true
	ctx, cancel := c.restCtx()
	defer cancel()
	if err := c.g.parts.api.Ringing(ctx, c.line, c.ynaID); err != nil {
		c.log.Info("POST /ringing failed", zap.Error(err))
	}
}

// inNoAnswer: no phone answered (all rejected, ring timeout): DELETE /end sends the
// caller to voicemail.
func (c *call) inNoAnswer(ev event) callState {
	c.forkOver = true
	e, ok := ev.fork.(*sip.FailedEvent)
	if !ok {
		return c.end(cause{result: ResultError, reason: "fork ended without outcome", sipStatus: 500})
	}
	c.log.Info("no SIP answer; caller goes to voicemail", zap.Int("code", e.Code), zap.String("reason", e.Reason))
	return c.end(cause{result: resultForSIP(e.Code), reason: "SIP side: " + e.Reason, sipStatus: e.Code})
}

// inPrepared keeps the answer gathered while ringing.
func (c *call) inPrepared(ev event) callState {
	if ev.prep.err != nil {
		return c.prepFailed(ev.prep.err)
	}
	c.prep = &ev.prep
	return c.state
}

func (c *call) prepFailed(err error) callState {
	c.log.Warn("the WebRTC answer to the network's offer failed", zap.Error(err))
	return c.end(cause{result: ResultMediaError, reason: "WebRTC answer: " + err.Error(), sipStatus: 500,
		cancel: `SIP;cause=500;text="Media failure"`, bye: "network side failed"})
}

// inAnswered: a phone answered. The network gets /connected now if the WebRTC answer is
// ready, else once it is (answering).
func (c *call) inAnswered(ev event) callState {
	e := ev.fork.(*sip.AnsweredEvent)
	c.dlg = c.fork.Dialog(e)
	c.setIDs(c.dlg.CallID(), "")
	c.rec.SIPUser = e.Branch
	md, err := rtpmedia.ParseSDP(e.SDP)
	if err == nil {
		err = c.pickPhoneCodec(md)
	}
	if err == nil {
		c.phoneSRTP = c.branchSRTP[e.Branch] // the answering branch's policy and key
		err = c.phoneAnswered(md)
	}
	if err != nil {
		c.log.Info("phone answer not usable", zap.Error(err))
		return c.end(cause{result: ResultCodec, reason: "phone answer: " + err.Error(), sipStatus: 488, bye: "media not acceptable"})
	}
	c.setPhoneRemote(md)
	c.postRinging()
	if c.prep == nil {
		return stAnswering
	}
	return c.connectNet(e.Branch)
}

// inConnect: the answer is ready after the phone answered.
func (c *call) inConnect(ev event) callState {
	if ev.prep.err != nil {
		return c.prepFailed(ev.prep.err)
	}
	c.prep = &ev.prep
	return c.connectNet(c.rec.SIPUser)
}

// connectNet sends POST /connected with the gathered answer and starts the relay.
func (c *call) connectNet(branch string) callState {
	err := rtpmedia.CheckRelay(c.sipCodec, c.net.Codec())
	if err == nil {
		c.lastNetRemote = c.invSDP
		c.recordAnswer() // durable before POST /connected
		ctx, cancel := c.restCtx()
		err = c.g.parts.api.Connected(ctx, c.line, c.ynaID, c.prep.answer)
		cancel()
	}
	if err == nil {
		err = c.startRelay()
	}
	if err != nil {
		c.log.Warn("connecting the network side failed", zap.Error(err))
		c.unanswer()
		return c.end(cause{result: ResultNetworkError, reason: "connect: " + err.Error(), bye: "network side failed"})
	}
	c.answered()
	c.log.Info("inbound call answered", zap.String("branch", branch), zap.Stringer("codec", c.sipCodec))
	return stEstablished
}

// inCancelled: the network ended the call before it was connected (the caller hung up,
// or it was answered on the mobile): CANCEL the phones, or BYE the one that answered.
func (c *call) inCancelled(ev event) callState {
	n := ev.note
	reason := `SIP;cause=487;text="Caller hung up"`
	if n.ResponseCode == 200 {
		reason = sip.ReasonCompletedElsewhere
	}
	c.log.Info("network cancelled the call before it was connected", zap.String("status", n.Status), zap.Int("code", int(n.ResponseCode)))
	text := "network cancelled (" + n.Status + ")"
	if c.dlg != nil {
		text += " (race with the SIP answer)"
	}
	return c.end(cause{result: ResultCancelled, reason: text, sipStatus: 487, cancel: reason, bye: text, netGone: true})
}

func (c *call) inMediaFailed(ev event) callState {
	return c.prepFailed(ev.err)
}

func (c *call) inShutdown(event) callState {
	return c.end(cause{result: ResultCancelled, reason: "gateway shutdown", sipStatus: 503,
		cancel: `SIP;cause=503;text="Gateway shutting down"`, bye: "gateway shutting down"})
}

// inPhoneGone: the phone that answered hung up before the network was connected.
func (c *call) inPhoneGone(event) callState {
	return c.end(cause{result: ResultCancelled, reason: "SIP side hung up before the network was connected", phoneGone: true})
}

// pickPhoneCodec takes the codec the phone answered with.
func (c *call) pickPhoneCodec(md *rtpmedia.MediaDescription) error {
	for _, cd := range md.Codecs {
		if cd.IsDTMF() {
			continue
		}
		for _, ours := range c.g.cfg.Media.Codecs {
			if ours.Matches(cd) {
				c.sipCodec = cd
				c.sipDTMF = md.DTMF
				return nil
			}
		}
	}
	return fmt.Errorf("%w: phone answered %v", rtpmedia.ErrNoCommonCodec, md.Codecs)
}

// observeFork reports the fork's branch results to a ForkObserver once every branch has
// finished (late 2xx included), from a goroutine Close waits for (it gives up at Close).
func (g *Gateway) observeFork(f sipFork) {
	fo, ok := g.metrics.(ForkObserver)
	if !ok {
		return
	}
	g.goOwned(func() {
		select {
		case <-f.Done():
		case <-g.ctx.Done():
			return
		}
		for _, b := range f.Branches() {
			if b.Result != "" {
				fo.ForkBranch(b.Result)
			}
		}
	})
}
