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

// Re-offers are transactions over both sides: a hold, a resume or a network re-offer
// completes on both sides, or is undone on both (the WebRTC leg's negotiation through its
// Checkpoint, our SDP version, the relay's directions, which change only once both sides
// agreed). YNA has no way to refuse a network offer, so an offer the phone refuses for
// good ends the call: the one state both sides can agree on.

// maxGlareRetries is how often a re-INVITE the phone answered 491 is sent again.
const maxGlareRetries = 3

// holdOp is the network operation a phone's new direction means: OpHold when it starts
// holding, OpResume when it stops, "" when its hold state does not change.
func holdOp(was, now rtpmedia.Direction) string {
	wasHeld := !was.Receives() || !was.Sends()
	holds := !now.Receives() || !now.Sends()
	switch {
	case holds && !wasHeld:
		return yna.OpHold
	case !holds && wasHeld:
		return yna.OpResume
	}
	return ""
}

// localReoffer answers a re-INVITE/UPDATE from the phone: hold, resume, refresh or a codec
// change (§9.4). Our answer is built first (an offer we cannot take changes nothing),
// then a hold or resume is carried to the network, and only when the network took it
// does the phone get its 200 and the media change. A refusal leaves both sides as they
// were (the phone's re-INVITE fails, RFC 3261 §14.2).
func (c *call) localReoffer(ev event) callState {
	e := ev.sip.(*sip.OfferEvent)
	if len(e.SDP) == 0 { // offerless re-INVITE: our current SDP as offer, answer in the ACK
		_ = e.Respond(200, c.sipOffer(c.netAllows()))
		return stEstablished
	}
	md, err := rtpmedia.ParseSDP(e.SDP)
	if err != nil {
		_ = e.Respond(488, nil)
		return stEstablished
	}
	ver := c.sdpVer
	n, err := rtpmedia.AnswerSDP(md, c.localSDPConfig(c.sipCodecs(), c.netAllows()))
	if err == nil && !md.Disabled() {
		err = n.SRTP.Check() // applied once both sides took the offer (RFC 3261 §14.2)
	}
	if err != nil {
		c.sdpVer = ver
		c.log.Info("phone re-offer not acceptable", zap.Error(err))
		_ = e.Respond(488, nil)
		return stEstablished
	}
	pd := md.EffectiveDirection()
	if op := holdOp(c.phoneDir, pd); op != "" {
		c.state = stReofferLocal
		if r := c.carryToNetwork(op, pd); r != nil {
			c.sdpVer = ver
			c.log.Info("network refused the phone's "+op+"; nothing changed", zap.Int("sip_status", r.code), zap.Error(r.err))
			_ = e.Respond(r.code, nil)
			if r.fatal {
				return c.end(r.cs)
			}
			return stEstablished
		}
	}
	if !md.Disabled() {
		if err := c.setSRTPKeys(n.SRTP); err != nil { // Check passed: not expected
			c.log.Warn("SRTP keys of the phone's re-offer not applied", zap.Error(err))
			_ = e.Respond(500, nil)
			return c.end(cause{result: ResultMediaError, reason: "SRTP keys of the phone's re-offer not applied", bye: "media error"})
		}
	}
	c.setPhoneRemote(md)
	c.sipCodec, c.sipDTMF = n.Codec, n.DTMF
	c.phoneDir = pd
	if err := e.Respond(200, n.SDP); err != nil {
		c.log.Info("answering the phone's re-offer failed", zap.Error(err))
	}
	if c.relay != nil {
		c.relay.Update(c.relayParams())
	}
	c.applyHold()
	c.log.Info("phone re-offer answered", zap.Stringer("phone_dir", pd))
	return stEstablished
}

// refusal is how a re-offer the network did not take is answered to the phone; fatal
// when the two sides can no longer agree and the call ends with cs.
type refusal struct {
	code  int
	err   error
	fatal bool
	cs    cause
}

// carryToNetwork runs our hold (OpHold) or resume (OpResume) toward the network: the
// WebRTC leg's re-offer, /hold or /resume, the answer. Any failure undoes the leg.
func (c *call) carryToNetwork(op string, dir rtpmedia.Direction) *refusal {
	restore := c.net.Checkpoint()
	ctx, cancel := c.restCtx()
	defer cancel()
	offer, err := c.net.Reoffer(ctx, dir)
	if err != nil {
		restore()
		return &refusal{code: 488, err: err}
	}
	var ans string
	if op == yna.OpHold {
		ans, err = c.g.parts.api.Hold(ctx, c.line, c.ynaID, offer)
	} else {
		ans, err = c.g.parts.api.Resume(ctx, c.line, c.ynaID, offer)
	}
	if err != nil {
		restore()
		return networkRefusal(err)
	}
	if err := c.net.SetReofferAnswer(ans); err != nil {
		restore()
		// The network took our re-offer but its answer is unusable: the sides disagree.
		return &refusal{code: 500, err: err, fatal: true, cs: cause{result: ResultAnswered,
			reason: "network " + op + " answer not usable: " + err.Error(), bye: "network media failed"}}
	}
	c.lastNetRemote = ans
	c.log.Info("network "+op+" done", zap.Stringer("dir", dir))
	return nil
}

// networkRefusal maps the network's refusal of our re-offer to the phone's final
// response: 409 (the network has an offer of its own out) is glare, 491 so the phone
// tries again; 404 (the network forgot the call) ends the call; 5xx, a timeout or a
// refused token 500; other refusals 488.
func networkRefusal(err error) *refusal {
	switch {
	case errors.Is(err, yna.ErrConflict):
		return &refusal{code: 491, err: err}
	case errors.Is(err, yna.ErrNotFound):
		return &refusal{code: 481, err: err, fatal: true, cs: cause{result: ResultAnswered,
			reason: "network no longer knows the call", bye: "ended by the network", netGone: true}}
	case yna.IsRetryable(err), errors.Is(err, yna.ErrUnauthorized), errors.Is(err, ErrLineNotLinked), errors.Is(err, context.DeadlineExceeded):
		return &refusal{code: 500, err: err}
	}
	return &refusal{code: 488, err: err}
}

// remoteOffer is a network re-offer on its way to the phone.
type remoteOffer struct {
	kind    eventKind // evNetHold, evNetResume, evNetReoffer
	offer   string    // the network's offer
	answer  string    // the WebRTC leg's answer to it
	dir     rtpmedia.Direction
	prevDir rtpmedia.Direction // the network's direction before
	restore func()             // undoes the WebRTC leg's answer
	glare   int                // 491s seen
	undoing bool               // the phone is being taken back to prevDir
}

func (ro *remoteOffer) what() string {
	switch ro.kind {
	case evNetHold:
		return "hold"
	case evNetResume:
		return "resume"
	}
	return "re-offer"
}

// target is the direction the phone is re-INVITEd to.
func (ro *remoteOffer) target() rtpmedia.Direction {
	if ro.undoing {
		return ro.prevDir
	}
	return ro.dir
}

// remoteReoffer answers a network re-offer (remote hold, resume or renegotiation, §9.5,
// §9.6). When the direction changes the phone is re-INVITEd first; the network gets our
// answer (/acceptHold, /acceptResume, /connected) only once the phone took it.
func (c *call) remoteReoffer(ev event) callState {
	restore := c.net.Checkpoint()
	ctx, cancel := c.restCtx()
	ans, rdir, err := c.net.AnswerReoffer(ctx, ev.note.SDP)
	cancel()
	if err != nil {
		restore()
		c.log.Warn("network re-offer not acceptable", zap.Stringer("event", ev.kind), zap.Error(err))
		return c.end(cause{result: ResultAnswered, reason: "network re-offer not acceptable: " + err.Error(), bye: "media not acceptable"})
	}
	ro := &remoteOffer{kind: ev.kind, offer: ev.note.SDP, answer: ans, dir: rdir, prevDir: c.netDir, restore: restore}
	if rdir == c.netDir { // nothing changes for the phone
		return c.acceptRemote(ro)
	}
	c.remote = ro
	c.reinvitePhone(ro.target())
	return stReofferRemote
}

// reinviteResult is the outcome of a re-INVITE toward the phone.
type reinviteResult struct {
	answer []byte
	err    error
}

// reinvitePhone re-INVITEs the phone with the network's direction dir (sendonly or
// inactive on a network hold, sendrecv on resume), from a helper: the call keeps
// handling events while the phone answers. phoneDir keeps the phone's own hold intent:
// only the phone's offers change it.
func (c *call) reinvitePhone(dir rtpmedia.Direction) {
	offer, dlg, timeout := c.sipOffer(dir), c.dlg, c.g.cfg.Timers.RESTTimeout
	c.goHelper(func(ctx context.Context) event {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		ans, err := dlg.ReInvite(ctx, offer)
		return event{kind: evReinviteDone, reinv: reinviteResult{answer: ans, err: err}}
	})
}

// reinviteDone: the phone answered our re-INVITE. 2xx: the network gets our answer; 491
// (glare): the RFC 3261 §14.1 timer, then again; anything else: the phone refused.
func (c *call) reinviteDone(ev event) callState {
	ro, r := c.remote, ev.reinv
	if r.err == nil {
		c.phoneTook(r.answer)
		if ro.undoing {
			c.remote = nil
			c.log.Info("phone back to where it was after the network refused our answer")
			return stEstablished
		}
		return c.acceptRemote(ro)
	}
	var se *sip.StatusError
	if errors.As(r.err, &se) && se.Code == 491 && ro.glare < maxGlareRetries {
		ro.glare++
		d := c.glareDelay()
		c.log.Info("phone answered 491 (glare); re-INVITE again after the RFC 3261 timer", zap.Duration("after", d), zap.Int("attempt", ro.glare))
		c.setTimer(d, evGlareRetry)
		return stReofferRemote
	}
	c.remote = nil
	if !ro.undoing {
		ro.restore()
	}
	c.log.Warn("phone refused the network's "+ro.what(), zap.Error(r.err))
	return c.end(cause{result: ResultAnswered, reason: fmt.Sprintf("phone refused the network's %s: %v", ro.what(), r.err),
		bye: "network " + ro.what() + " refused"})
}

// glareRetry: the §14.1 timer ran out.
func (c *call) glareRetry(event) callState {
	c.reinvitePhone(c.remote.target())
	return stReofferRemote
}

// glareDelay is RFC 3261 §14.1's T in 10 ms units: 2.1-4 s if we own the Call-ID (we sent
// the dialog's INVITE: inbound calls), 0-2 s if the phone does.
func (c *call) glareDelay() time.Duration {
	const unit = 10 * time.Millisecond
	d := c.g.parts.jitter(2 * time.Second)
	if c.dir == DirectionInbound {
		d = 2100*time.Millisecond + c.g.parts.jitter(1900*time.Millisecond)
	}
	return d.Truncate(unit)
}

// refuseOffer answers a phone's offer 491 while one of ours is pending (or the call is
// not connected yet): the phone tries again after its own §14.1 timer.
func (c *call) refuseOffer(ev event) callState {
	_ = ev.sip.(*sip.OfferEvent).Respond(491, nil)
	return c.state
}

// phoneTook applies the phone's answer to our re-INVITE.
func (c *call) phoneTook(ans []byte) {
	md, err := rtpmedia.ParseSDP(ans)
	if err != nil {
		return
	}
	c.setPhoneRemote(md)
	if err := c.phoneAnswered(md); err != nil {
		c.log.Warn("phone's re-INVITE answer: SRTP keys not usable", zap.Error(err))
	}
}

// acceptRemote sends our answer to the network's re-offer. A refusal undoes the WebRTC
// leg and takes the phone back to where it was.
func (c *call) acceptRemote(ro *remoteOffer) callState {
	ctx, cancel := c.restCtx()
	var err error
	switch ro.kind {
	case evNetHold:
		err = c.g.parts.api.AcceptHold(ctx, c.line, c.ynaID, ro.answer)
	case evNetResume:
		err = c.g.parts.api.AcceptResume(ctx, c.line, c.ynaID, ro.answer)
	default:
		err = c.g.parts.api.Connected(ctx, c.line, c.ynaID, ro.answer)
	}
	cancel()
	if err != nil {
		return c.remoteRefused(ro, err)
	}
	c.remote = nil
	c.lastNetRemote = ro.offer
	c.netDir = ro.dir
	if c.relay != nil {
		c.relay.Update(c.relayParams())
	}
	c.applyHold()
	c.log.Info("network re-offer answered", zap.String("what", ro.what()), zap.Stringer("net_dir", ro.dir))
	return stEstablished
}

// remoteRefused: the network did not take our answer to its own offer.
func (c *call) remoteRefused(ro *remoteOffer, err error) callState {
	ro.restore()
	c.log.Warn("network refused our answer to its "+ro.what(), zap.Error(err))
	if errors.Is(err, yna.ErrNotFound) {
		return c.end(cause{result: ResultAnswered, reason: "network no longer knows the call", bye: "ended by the network", netGone: true})
	}
	if ro.dir == c.netDir { // the phone was not asked: nothing to undo there
		c.remote = nil
		return stEstablished
	}
	ro.undoing, ro.glare = true, 0
	c.remote = ro
	c.reinvitePhone(ro.target())
	return stReofferRemote
}
