package bridge

import (
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// TestCloseOpenChannel (clustered mode): CloseChannel closes the line's
// notification socket and waits for it, but the line stays known (outbound
// routing, token); OpenChannel opens a new socket; an unknown line is an error.
func TestCloseOpenChannel(t *testing.T) {
	e := newEnv(t, nil)
	ctx := e.ctx(15 * time.Second)
	e.gw.CloseChannel(testLine)
	if ci, err := e.sim.WaitChannel(ctx, testAccount, func(ci ynasim.ChannelInfo) bool { return ci.SocketsOpen == 0 }); err != nil {
		t.Fatalf("socket still open after CloseChannel: %+v %v", ci, err)
	}
	if len(e.gw.Lines()) != 0 {
		t.Fatalf("Lines after CloseChannel = %v, want none", e.gw.Lines())
	}
	if _, ok := e.gw.lineConf(testLine); !ok {
		t.Fatal("CloseChannel forgot the line's routing (outbound calls would fail)")
	}
	if err := e.gw.OpenChannel(ctx, testLine); err != nil {
		t.Fatal(err)
	}
	if ci, err := e.sim.WaitChannel(ctx, testAccount, func(ci ynasim.ChannelInfo) bool { return ci.SocketsOpen == 1 && ci.SocketsOpened == 2 }); err != nil {
		t.Fatalf("OpenChannel: %+v %v", ci, err)
	}
	if err := e.gw.OpenChannel(ctx, "14255550999"); err == nil {
		t.Fatal("OpenChannel of an unknown line succeeded")
	}
}

// TestRelayUnknownStatus (clustered mode): a status from this node's channel for a
// call it does not have goes to Deps.Relay (another node may have placed the call);
// a relayed one handed to Deliver is not relayed again.
func TestRelayUnknownStatus(t *testing.T) {
	relayed := make(chan *yna.SessionStatus, 4)
	e := newEnvWith(t, nil, nil, func(_ *env, d *Deps) { d.Relay = func(st *yna.SessionStatus) { relayed <- st } })
	st := &yna.SessionStatus{Status: "answered", CallObjectRef: "/calls/v1/sessions/ELSEWHERE"}
	if yna.CallIDFromRef(st.CallObjectRef) == "" {
		t.Fatalf("test ref %q names no call id", st.CallObjectRef)
	}
	e.gw.dispatch(st)
	select {
	case got := <-relayed:
		if got != st {
			t.Fatalf("relayed %+v, want %+v", got, st)
		}
	default:
		t.Fatal("status of an unknown call from the own channel not relayed")
	}
	e.gw.Deliver(st)
	select {
	case got := <-relayed:
		t.Fatalf("a delivered status was relayed again: %+v", got)
	default:
	}
}
