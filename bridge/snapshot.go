package bridge

import (
	"sort"
	"time"

	"github.com/ynagw/ynagw/yna"
)

// Call states of CallInfo.State.
const (
	CallStateSetup     = "setup"     // INVITE / invitation being set up
	CallStateRinging   = "ringing"   // 18x sent to the phone (outbound) or received from it (inbound)
	CallStateConnected = "connected" // answered, media relayed
	CallStateHeld      = "held"      // answered, at least one direction on hold
)

// CallInfo is an immutable snapshot of one call in progress.
type CallInfo struct {
	ID        string // CDR.ID
	Direction string // DirectionOutbound / DirectionInbound
	Line      string
	Peer      string // dialled number (outbound) or caller (inbound)
	PeerName  string // the other party's display name from the network, "" if none
	SIPUser   string
	SIPCallID string
	YNACallID string
	State     string    // CallState*
	Since     time.Time // when State was entered
	SetupAt   time.Time
}

// publish stores a new snapshot of the call (call goroutine only; readers load it
// through Gateway.Calls). An empty state keeps the current one.
func (c *call) publish(state string) {
	now := time.Now()
	since := now
	if old := c.snap.Load(); old != nil {
		if state == "" || state == old.State {
			state, since = old.State, old.Since
		}
	}
	if state == "" {
		state = CallStateSetup
	}
	c.snap.Store(&CallInfo{
		ID: c.rec.ID, Direction: c.dir, Line: c.line, Peer: c.rec.Peer, PeerName: c.peerName, SIPUser: c.rec.SIPUser,
		SIPCallID: c.rec.SIPCallID, YNACallID: c.rec.YNACallID, State: state, Since: since, SetupAt: c.start,
	})
}

// Calls returns a snapshot of the calls in progress, oldest first: not those both sides
// have already been told about (helperCtx done: end is writing the CDR), so a list read
// right after Hangup returned no longer shows the call. Safe for concurrent use.
func (g *Gateway) Calls() []CallInfo {
	g.mu.Lock()
	out := make([]CallInfo, 0, len(g.live))
	for c := range g.live {
		if s := c.snap.Load(); s != nil && c.helperCtx.Err() == nil {
			out = append(out, *s)
		}
	}
	g.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].SetupAt.Equal(out[j].SetupAt) {
			return out[i].SetupAt.Before(out[j].SetupAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// ChannelState returns the notification channel state of a line with a running channel
// (false if the line has none).
func (g *Gateway) ChannelState(line string) (yna.ChannelState, bool) {
	n, err := yna.NormalizeLine(line)
	if err != nil {
		return 0, false
	}
	g.mu.Lock()
	r := g.lines[n]
	g.mu.Unlock()
	if r == nil {
		return 0, false
	}
	return r.State(), true
}
