package demo

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// shortID abbreviates the long hex YNA call ids for display.
func shortID(id string) string { return shorten(id, 12) }

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// poll waits for cond, checking every 20 ms, until ctx ends.
func poll(ctx context.Context, what string, cond func() bool) error {
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tk.C:
		}
	}
	return nil
}

func (e *env) farEnd(id string) farend.Stats {
	ci, _ := e.sim.Call(id)
	st, _ := ci.Media.(farend.Stats)
	return st
}

func (e *env) register(ctx context.Context) error {
	gw, err := netip.ParseAddrPort(e.d.SIPAddr("udp"))
	if err != nil {
		return err
	}
	p, err := NewPhone(PhoneUser, e.phonePass, Domain, gw)
	if err != nil {
		return err
	}
	e.phone = p
	if err := p.Register(ctx); err != nil {
		return err
	}
	e.pr.step("phone registered as %s (digest auth)", p.AOR())
	return nil
}

// audio waits until both sides received audioPackets more packets than before and
// prints the counters.
func (e *env) audio(ctx context.Context, c *Call, simID string) error {
	_, r0, _ := c.Counters()
	f0 := e.farEnd(simID).PacketsReceived
	if err := c.WaitReceived(ctx, r0+audioPackets); err != nil {
		return fmt.Errorf("phone side: %w", err)
	}
	if err := poll(ctx, "far end receiving audio", func() bool { return e.farEnd(simID).PacketsReceived >= f0+audioPackets }); err != nil {
		return err
	}
	sent, recv, marked := c.Counters()
	fs := e.farEnd(simID)
	e.pr.step("audio both ways: phone sent %d / received %d RTP packets (%d marked by the far end); far end (%s, %s) sent %d / received %d (%d marked by the phone)",
		sent, recv, marked, fs.Codec, fs.SRTPProfile, fs.PacketsSent, fs.PacketsReceived, fs.PayloadOK)
	return nil
}

func (e *env) outbound(ctx context.Context) error {
	e.pr.step("phone dials %s", DialNumber)
	c, err := e.phone.Dial(ctx, DialNumber, func(code int) {
		switch code {
		case 183:
			e.pr.step("ringing: 183 Session Progress, ringback from the network as early media")
		case 180:
			e.pr.step("ringing: 180 Ringing")
		default:
			e.pr.step("%d provisional", code)
		}
	})
	if err != nil {
		return err
	}
	if c.Code != 200 {
		return fmt.Errorf("call answered %d %s", c.Code, c.Reason)
	}
	id, err := e.sim.WaitCall(ctx, func(ci ynasim.CallInfo) bool {
		return ci.Direction == ynasim.DirectionOutbound && ci.State != ynasim.CallTerminated
	})
	if err != nil {
		return err
	}
	e.outID = id
	if err := e.sim.WaitCallState(ctx, id, ynasim.CallConnected); err != nil {
		return err
	}
	ci, _ := e.sim.Call(id)
	e.pr.step("connected (200 OK): YNA call %s from %s to %s", shortID(id), ci.Line, ci.Peer)
	if err := e.audio(ctx, c, id); err != nil {
		return err
	}

	dir, err := c.Reinvite(ctx, rtpmedia.SendOnly)
	if err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	if err := e.sim.WaitCallState(ctx, id, ynasim.CallHold); err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	e.pr.step("hold: phone re-INVITE a=sendonly answered a=%s; network call state %s", dir, ynasim.CallHold)

	dir, err = c.Reinvite(ctx, rtpmedia.SendRecv)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if err := e.sim.WaitCallState(ctx, id, ynasim.CallConnected); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	e.pr.step("resume: phone re-INVITE a=sendrecv answered a=%s; network call state %s", dir, ynasim.CallConnected)
	if err := e.audio(ctx, c, id); err != nil {
		return fmt.Errorf("after resume: %w", err)
	}

	if err := c.Hangup(ctx); err != nil {
		return err
	}
	if err := e.sim.WaitCallState(ctx, id, ynasim.CallTerminated); err != nil {
		return err
	}
	ci, _ = e.sim.Call(id)
	e.pr.step("phone hung up (BYE); network call ended: %s", ci.Outcome)
	return nil
}

func (e *env) inbound(ctx context.Context) error {
	id, err := e.sim.InjectCall(ctx, Line, Caller)
	if err != nil {
		return err
	}
	e.inID = id
	e.pr.step("incoming call from %s to line %s injected in ynasim (YNA call %s)", Caller, Line, shortID(id))
	var c *Call
	select {
	case c = <-e.phone.Incoming():
	case <-ctx.Done():
		return fmt.Errorf("the phone did not ring: %w", ctx.Err())
	}
	e.pr.step("phone rang (180) and answered (200 OK) the call from %s", c.From)
	if err := e.sim.WaitCallState(ctx, id, ynasim.CallConnected); err != nil {
		return err
	}
	e.pr.step("connected: network call state %s", ynasim.CallConnected)
	if err := e.audio(ctx, c, id); err != nil {
		return err
	}
	if err := c.Hangup(ctx); err != nil {
		return err
	}
	if err := e.sim.WaitCallState(ctx, id, ynasim.CallTerminated); err != nil {
		return err
	}
	ci, _ := e.sim.Call(id)
	e.pr.step("phone hung up (BYE); network call ended: %s", ci.Outcome)
	return nil
}

func (e *env) summary(ctx context.Context) error {
	st := e.d.Store()
	var cdrs []store.CDR
	err := poll(ctx, "2 closed CDRs", func() bool {
		cs, err := st.CDRs(ctx, store.CDRFilter{Line: Line})
		if err != nil {
			return false
		}
		n := 0
		for _, c := range cs {
			if !c.Open() {
				n++
			}
		}
		cdrs = cs
		return n >= 2
	})
	if err != nil {
		return err
	}
	for i := len(cdrs) - 1; i >= 0; i-- {
		c := cdrs[i]
		e.pr.step("CDR %s %s → %s: %s, %.1fs, SIP RTP in/out %d/%d, network RTP in/out %d/%d",
			c.Direction, c.From, c.To, c.Result, c.EndAt.Sub(c.SetupAt).Seconds(), c.PacketsSIPIn, c.PacketsSIPOut, c.PacketsNetIn, c.PacketsNetOut)
	}
	e.pr.step("summary: line %s linked, 1 phone registered, %d calls (outbound %s, inbound %s) with audio both ways", Line, len(cdrs), shortID(e.outID), shortID(e.inID))
	return nil
}
