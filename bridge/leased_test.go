package bridge

import (
	"testing"
	"time"

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
