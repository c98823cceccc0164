package bridge

import (
	"context"
	"errors"

	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// cause is why a call ends and what each side still has to be told. end picks the SIP
// action from where the call is: a final response to the phone's pending INVITE, CANCEL
// to an inbound fork, BYE to an established dialog.
type cause struct {
	result    string     // metric and CDR result
	reason    string     // CDR end reason
	sipStatus int        // CDR SIP status (unanswered calls)
	reject    *CallError // outbound before the answer: the final response (nil: 500)
	cancel    string     // inbound before the answer: the CANCEL's Reason header
	bye       string     // the BYE's Reason, when a dialog is up
	phoneGone bool       // the phone ended its side already (BYE, CANCEL): nothing more to send it
	netGone   bool       // the network ended the call, or must not get DELETE /end (§13)
}

// rejected is the cause of an outbound call refused with ce before the answer.
func rejected(ce *CallError) cause {
	return cause{result: ce.Result, reason: ce.Reason, sipStatus: ce.SIPStatus, reject: ce}
}

// end ends the call on both sides, once: the SIP action, DELETE /end (unless the
// network is gone), the call's helpers, the legs and the relay, metrics and the CDR.
// Every way out of a call comes here; it returns stEnded.
func (c *call) end(cs cause) callState {
	if c.ending {
		return stEnded
	}
	c.ending = true
	c.state = stEnding
	c.stopTimer()
	c.log.Info("call ending", zap.String("result", cs.result), zap.String("reason", cs.reason))
	c.endSIP(cs)
	if c.dialCancel != nil {
		c.dialCancel()
	}
	if !cs.netGone {
		c.endNetwork()
	}
	c.closeMedia()
	c.helperCancel()
	c.helpers.Wait()
	c.finish(cs)
	c.state = stEnded
	return stEnded
}

// endSIP tells the phone side.
func (c *call) endSIP(cs cause) {
	switch {
	case c.dlg != nil:
		if !cs.phoneGone {
			c.hangup(c.dlg, cs.bye)
		}
		c.drainDialog()
	case c.inv != nil:
		if !cs.phoneGone && !closed(c.inv.Done()) {
			c.rejectInvite(cs.reject)
		}
	case c.fork != nil && !c.forkOver:
		c.fork.Cancel(cs.cancel)
		c.drainFork(cs)
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// rejectInvite answers the phone's INVITE with ce (with its Reason header and Warning).
func (c *call) rejectInvite(ce *CallError) {
	if ce == nil {
		ce = callErr(500, ResultError, "Gateway error", false, nil)
	}
	c.log.Info("outbound call rejected", zap.Int("status", ce.SIPStatus), zap.String("reason", ce.Reason), zap.Error(ce.Err))
	var err error
	if ce.WarnCode != 0 {
		err = c.inv.RejectWithWarning(ce.SIPStatus, ce.ReasonHeader(), ce.WarnCode, ce.WarnText)
	} else {
		err = c.inv.RejectWithReason(ce.SIPStatus, ce.ReasonHeader())
	}
	if errors.Is(err, sip.ErrBadReason) { // cannot happen with ReasonHeader; never leave the INVITE pending
		err = c.inv.Reject(ce.SIPStatus, ce.Reason)
	}
	if err != nil && !errors.Is(err, sip.ErrAlreadyAnswered) {
		c.log.Debug("reject failed", zap.Error(err))
	}
}

// hangup sends BYE (bounded by DrainTimeout).
func (c *call) hangup(d sipDialog, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.Timers.DrainTimeout)
	defer cancel()
	if err := d.Hangup(ctx, reason); err != nil {
		c.log.Info("BYE failed", zap.Error(err))
	}
}

// drainDialog reads the dialog's remaining events so its pump goroutine can finish.
func (c *call) drainDialog() {
	if c.dlgClosed {
		return
	}
	t := c.g.clock.NewTimer(c.g.cfg.Timers.DrainTimeout)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-c.dlg.Events():
			if !ok {
				c.dlgClosed = true
				return
			}
			if o, isOffer := ev.(*sip.OfferEvent); isOffer {
				_ = o.Respond(481, nil)
			}
		case <-t.C():
			return
		}
	}
}

// drainFork waits for the cancelled fork to finish; a branch that answered in the race
// gets a BYE.
func (c *call) drainFork(cs cause) {
	t := c.g.clock.NewTimer(c.g.cfg.Timers.DrainTimeout)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-c.fork.Events():
			if !ok {
				c.forkOver = true
				return
			}
			if a, isAnswer := ev.(*sip.AnsweredEvent); isAnswer {
				c.log.Info("a phone answered while the call ended; hanging up", zap.String("branch", a.Branch))
				c.hangup(c.fork.Dialog(a), cs.reason)
			}
		case <-t.C():
			return
		}
	}
}

// endNetwork sends DELETE /end. A failure (other than the network not knowing the call
// any more) is handed to the gateway, which retries it with backoff and keeps it in the
// store until it goes through: no network call stays up after its phone hung up.
func (c *call) endNetwork() {
	if c.ynaID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.Timers.DrainTimeout)
	defer cancel()
	err := c.g.parts.api.End(ctx, c.line, c.ynaID)
	if err == nil || errors.Is(err, yna.ErrNotFound) {
		return
	}
	c.log.Warn("DELETE /end failed; retrying in the background", zap.Error(err))
	c.g.ends.add(PendingEnd{Line: c.line, YNACallID: c.ynaID, CDRID: c.rec.ID, Since: c.g.clock.Now()}, true)
}

// closeMedia closes the legs (the relay's goroutines return when their reads fail), then
// the relay, and takes their counters into the CDR. The counters are read after all
// three are closed: read earlier, the SIP leg's would miss packets the relay still
// forwarded (net "out" > SIP "in", issue 12).
func (c *call) closeMedia() {
	if c.net != nil {
		_ = c.net.Close()
	}
	if c.sipLeg != nil {
		_ = c.sipLeg.Close()
	}
	if c.relay != nil {
		c.relay.Close()
		c.rec.NetMedia = c.relay.NetStats()
	}
	if c.sipLeg != nil {
		st := c.sipLeg.Stats()
		c.rec.SIPMedia = LegStats{PacketsIn: st.PacketsIn, PacketsOut: st.PacketsOut, Lost: st.Lost}
	}
}

// finish writes metrics and the CDR.
func (c *call) finish(cs cause) {
	c.rec.EndedAt = c.g.clock.Now()
	c.rec.Result, c.rec.EndReason, c.rec.SIPStatus = cs.result, cs.reason, cs.sipStatus
	if m, ok := c.m.(OneWayObserver); ok && oneWay(!c.rec.AnsweredAt.IsZero(), c.rec.SIPMedia.PacketsIn, c.rec.NetMedia.PacketsIn) {
		m.OneWay()
	}
	c.m.Media("sip", c.rec.SIPMedia.PacketsIn, c.rec.SIPMedia.PacketsOut, c.rec.SIPMedia.Lost)
	c.m.Media("net", c.rec.NetMedia.PacketsIn, c.rec.NetMedia.PacketsOut, c.rec.NetMedia.Lost)
	c.m.Ended(cs.result, c.rec.EndedAt.Sub(c.start))
	ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.Timers.DrainTimeout)
	defer cancel()
	if err := c.g.cdr.Write(ctx, c.rec); err != nil {
		c.log.Warn("CDR write failed", zap.Error(err))
	}
	c.log.Info("call ended", zap.String("result", cs.result), zap.String("reason", cs.reason), zap.Int("sip_status", cs.sipStatus),
		zap.Duration("duration", c.rec.EndedAt.Sub(c.start)),
		zap.Uint64("sip_rtp_in", c.rec.SIPMedia.PacketsIn), zap.Uint64("sip_rtp_out", c.rec.SIPMedia.PacketsOut))
}
