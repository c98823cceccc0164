package bridge

import (
	"context"
	"fmt"
	"net/netip"
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
	c.setIDs("", id)
	if !g.addLive(c) {
		return
	}
	for _, n := range g.bind(id, c) {
		c.notes.put(n)
	}
	if !g.goOwned(func() {
		defer g.unbind(c)
		c.runInbound(inv)
	}) {
		g.unbind(c)
	}
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
		for _, ct := range g.sip.Contacts(u) {
			t := sip.Target{URI: ct.URI, Label: aorUser(ct.AOR) + "/" + ct.URI}
			if strings.EqualFold(ct.Transport, "udp") && ct.Source.IsValid() {
				t.Destination = ct.Source.String() // reach phones behind NAT where they registered from
			}
			out = append(out, t)
			srtp = append(srtp, g.sip.UserSRTP(u))
		}
	}
	if lc.RingTrunk != "" {
		out = append(out, sip.Target{URI: lc.RingTrunk, Label: "trunk"})
		srtp = append(srtp, lc.RingTrunkSRTP)
	}
	return out, srtp
}

func (c *call) runInbound(inv *yna.SessionInvitation) {
	g := c.g
	var err error
	fail := func(result, reason string, status int, endCall bool) {
		c.log.Info("inbound call not delivered", zap.String("reason", reason))
		if endCall {
			c.end()
		}
		c.finish(result, reason, status)
	}
	if c.token, err = g.tokens.AccessToken(context.Background(), c.line); err != nil {
		fail(ResultNetworkError, "no token for line: "+err.Error(), 0, false)
		return
	}
	lc, ok := g.lineConf(c.line)
	if !ok {
		fail(ResultNoRoute, "line not configured", 0, true)
		return
	}
	if g.draining.Load() {
		fail(ResultUnavailable, "gateway draining", 503, true) // DELETE /end: voicemail
		return
	}
	c.log.Info("incoming call", zap.String("from", c.rec.Peer))
	if err := c.recordOpen(); err != nil {
		fail(ResultError, "CDR store unavailable: "+err.Error(), 500, true)
		return
	}
	empty := ""
	ctx, cancel := c.restCtx()
	err = g.yna.InProgress(ctx, c.token, c.ynaID, &empty)
	cancel()
	if err != nil {
		fail(ResultNetworkError, "POST /inProgress failed: "+err.Error(), 0, false) // §13: no /end
		return
	}
	if strings.TrimSpace(inv.SDP) == "" {
		fail(ResultCodec, "offer-less invitation not supported", 0, true)
		return
	}
	netMD, err := rtpmedia.ParseSDP([]byte(inv.SDP))
	if err != nil {
		fail(ResultCodec, "network offer unparsable: "+err.Error(), 0, true)
		return
	}
	sipCodecs := commonCodecs(g.cfg.Media.Codecs, netMD.Codecs, true)
	if !hasAudio(sipCodecs) {
		fail(ResultCodec, fmt.Sprintf("no common codec with the network offer %v", netMD.Codecs), 488, true)
		return
	}
	targets, srtpSettings := g.ringTargets(lc)
	if len(targets) == 0 {
		c.log.Warn("no SIP contact registered for the line; sending the caller to voicemail", zap.Strings("ring", lc.Ring))
		fail(ResultUnavailable, "no registered contacts", 480, true)
		return
	}
	if err := c.newSIPLeg(nil); err != nil {
		fail(ResultMediaError, "RTP leg: "+err.Error(), 503, true)
		return
	}
	c.phoneDir, c.netDir = rtpmedia.SendRecv, rtpmedia.SendRecv
	offer, err := rtpmedia.BuildOffer(c.localSDPConfig(sipCodecs, rtpmedia.SendRecv))
	if err != nil {
		fail(ResultMediaError, "SIP offer: "+err.Error(), 500, true)
		return
	}
	if targets, c.branchSRTP, err = c.srtpOffers(targets, srtpSettings, sipCodecs); err != nil {
		fail(ResultMediaError, "SIP SRTP offer: "+err.Error(), 500, true)
		return
	}
	if len(targets) == 0 {
		c.log.Warn("no SIP target the SRTP policy lets us reach; sending the caller to voicemail")
		fail(ResultUnavailable, "no contacts reachable with the SRTP policy", 480, true)
		return
	}
	host := g.cfg.Media.AdvertiseIP.String()
	if g.cfg.Media.AdvertiseIP.Is6() {
		host = "[" + host + "]"
	}
	from := fmt.Sprintf("<sip:%s@%s>", sipUser(c.rec.Peer), host)
	if inv.OriginatorName != "" {
		from = fmt.Sprintf("%q %s", sanitizeDisplay(inv.OriginatorName), from)
	}
	dctx, dcancel := context.WithCancel(g.ctx)
	defer dcancel()
	oc, err := g.sip.Dial(dctx, sip.DialRequest{
		From: from, Targets: targets, Offer: offer, RingTimeout: g.cfg.Timers.RingTimeout,
		Headers: map[string]string{"X-YNA-Line": c.line},
	})
	if err != nil {
		fail(ResultError, "SIP dial: "+err.Error(), sip.StatusOf(err), true)
		return
	}
	g.observeFork(oc)
	c.ringing(inv, oc)
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

// ringing waits for the fork's outcome while watching the network.
func (c *call) ringing(inv *yna.SessionInvitation, oc *sip.OutboundCall) {
	g := c.g
	netEnded := ""
	stop := g.ctx.Done()
	for {
		select {
		case ev, ok := <-oc.Events():
			if !ok {
				c.finish(ResultError, "fork ended without outcome", 500)
				return
			}
			switch e := ev.(type) {
			case *sip.ProgressEvent:
				if netEnded == "" {
					c.publish(CallStateRinging)
					c.postRinging()
				}
			case *sip.FailedEvent:
				if netEnded != "" {
					c.finish(ResultCancelled, netEnded, e.Code)
					return
				}
				c.log.Info("no SIP answer; caller goes to voicemail", zap.Int("code", e.Code), zap.String("reason", e.Reason))
				c.end()
				c.finish(resultForSIP(e.Code), "SIP side: "+e.Reason, e.Code)
				return
			case *sip.AnsweredEvent:
				c.dlg = e.Dialog
				c.setIDs(e.Dialog.CallID(), "")
				c.rec.SIPUser = e.Branch
				if netEnded != "" {
					c.hangupSIP(netEnded)
					c.finish(ResultCancelled, netEnded+" (race with the SIP answer)", 0)
					return
				}
				c.acceptInbound(inv, e)
				return
			}
		case <-c.notes.C():
			for _, n := range c.notes.take() {
				if yna.IsFinalStatus(n.Status) && netEnded == "" {
					netEnded = "network cancelled (" + n.Status + ")"
					reason := `SIP;cause=487;text="Caller hung up"`
					if n.ResponseCode == 200 {
						reason = sip.ReasonCompletedElsewhere
					}
					c.log.Info("network cancelled the call while ringing", zap.String("status", n.Status), zap.Int("code", int(n.ResponseCode)))
					oc.Cancel(reason)
				}
			}
		case <-stop:
			stop = nil // closed for good: do not spin on it
			if netEnded == "" {
				netEnded = "gateway shutdown"
				oc.Cancel(`SIP;cause=503;text="Gateway shutting down"`)
				c.end()
			}
		}
	}
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
	if err := c.g.yna.Ringing(ctx, c.token, c.ynaID); err != nil {
		c.log.Info("POST /ringing failed", zap.Error(err))
	}
}

// acceptInbound answers the network with the phone's codec once a SIP branch answered.
func (c *call) acceptInbound(inv *yna.SessionInvitation, e *sip.AnsweredEvent) {
	g := c.g
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
		c.hangupSIP("media not acceptable")
		c.end()
		c.finish(ResultCodec, "phone answer: "+err.Error(), 488)
		return
	}
	if md.Addr.Addr().IsValid() && !md.Addr.Addr().IsUnspecified() {
		c.sipLeg.SetRemote(md.Addr)
		if md.RTCPAddr.IsValid() && md.RTCPAddr != (netip.AddrPort{}) {
			c.sipLeg.SetRemoteRTCP(md.RTCPAddr)
		}
	}
	c.postRinging()
	netCodecs := []rtpmedia.Codec{netFormat(c.sipCodec)}
	if c.sipDTMF != nil {
		netCodecs = append(netCodecs, netFormat(*c.sipDTMF))
	}
	if c.net, err = g.media.NewNetLeg(netCodecs); err == nil {
		ctx, cancel := c.restCtx()
		var ans string
		ans, err = c.net.AcceptOffer(ctx, inv.SDP)
		if err == nil {
			c.lastNetRemote = inv.SDP
			c.recordAnswer() // durable before POST /connected
			_, err = g.yna.Connected(ctx, c.token, c.ynaID, &ans)
		}
		cancel()
	}
	if err == nil {
		err = c.startRelay()
	}
	if err != nil {
		c.log.Warn("connecting the network side failed", zap.Error(err))
		c.unanswer()
		c.hangupSIP("network side failed")
		c.end()
		c.finish(ResultNetworkError, "connect: "+err.Error(), 0)
		return
	}
	c.answered()
	c.log.Info("inbound call answered", zap.String("branch", e.Branch), zap.Stringer("codec", c.sipCodec))
	c.runEstablished()
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
func (g *Gateway) observeFork(oc *sip.OutboundCall) {
	fo, ok := g.metrics.(ForkObserver)
	if !ok {
		return
	}
	g.goOwned(func() {
		select {
		case <-oc.Done():
		case <-g.ctx.Done():
			return
		}
		for _, b := range oc.Branches() {
			if b.Result != "" {
				fo.ForkBranch(b.Result)
			}
		}
	})
}
