package ynasim

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna"
)

// The project's own YNA client (package yna) against the simulator: token exchange,
// account status with 202 retries, the notification channel with acks, server-ordered
// rebuilds, URL invalidation, withheld pongs, and unlink.
func TestYNAClientAgainstSim(t *testing.T) {
	rg := newSimRig(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := yna.NewClient(yna.Config{BaseURL: rg.sim.URL(), ClientID: simClientID, ClientSecret: simSecret,
		Key: rg.key, Now: rg.clock.Now, StatusRetryDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()

	tr, err := cl.ExchangeCode(ctx, rg.link(simLine1, "go"), simRedirect)
	if err != nil {
		t.Fatal(err)
	}
	if err := rg.sim.SetEndpointFault(EndpointFault{Endpoint: "status", Status: 202, Count: 2}); err != nil {
		t.Fatal(err)
	}
	st, err := cl.AccountStatus(ctx, tr.AccessToken)
	if err != nil || len(st.RegisteredLines()) != 1 || st.RegisteredLines()[0] != simLine1 {
		t.Fatalf("status: %v %+v", err, st)
	}

	ch, err := yna.NewChannel(yna.ChannelConfig{
		URL: st.ChannelURL,
		Refresh: func(ctx context.Context) (string, error) {
			st, err := cl.AccountStatus(ctx, tr.AccessToken)
			if err != nil {
				return "", err
			}
			return st.ChannelURL, nil
		},
		PingInterval: 100 * time.Millisecond,
		PongTimeout:  100 * time.Millisecond,
		BackoffMin:   10 * time.Millisecond,
		BackoffMax:   50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- ch.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-runDone:
		case <-time.After(10 * time.Second):
			t.Error("channel Run did not return")
		}
	}()
	rg.waitChan("client socket", func(i ChannelInfo) bool { return i.SocketsOpen == 1 && i.Pongs >= 1 })

	next := func() yna.Notification {
		t.Helper()
		select {
		case n := <-ch.Notifications():
			return n
		case <-time.After(5 * time.Second):
			t.Fatal("no notification")
		}
		return yna.Notification{}
	}
	id, _ := rg.sim.Notify("alice", yna.TypeSessionStatus, &yna.SessionStatus{Status: yna.StatusRinging, ResponseCode: 180})
	if n := next(); n.Status == nil || n.Status.Status != yna.StatusRinging || string(n.MsgID) != `"`+id+`"` {
		t.Fatalf("notification %+v", n)
	}
	rg.waitChan("ack", func(i ChannelInfo) bool { return i.Acked == 1 && len(i.Unacked) == 0 })

	// Server-ordered rebuild: the client fetches a new URL and reconnects.
	before, _ := rg.sim.Channel("alice")
	if err := rg.sim.ApplyAccountFault("alice", AccountFault{RegistrationTerminated: true}); err != nil {
		t.Fatal(err)
	}
	rg.waitChan("rebuild", func(i ChannelInfo) bool {
		return i.SocketsOpen == 1 && i.SocketsOpened > before.SocketsOpened && i.URL != before.URL && i.Acked == 2
	})

	// Invalidated URL, then withheld pongs: the client recovers both times and still gets notifications.
	for _, f := range []AccountFault{{InvalidateChannelURL: true}, {WithholdPongs: ptr(true)}} {
		before, _ := rg.sim.Channel("alice")
		if err := rg.sim.ApplyAccountFault("alice", f); err != nil {
			t.Fatal(err)
		}
		rg.waitChan("recovery", func(i ChannelInfo) bool {
			return i.SocketsOpened > before.SocketsOpened && i.SocketsOpen >= 1
		})
		if err := rg.sim.ApplyAccountFault("alice", AccountFault{WithholdPongs: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		id, _ := rg.sim.Notify("alice", yna.TypeSessionStatus, &yna.SessionStatus{Status: yna.StatusConnected, ResponseCode: 200})
		for n := next(); string(n.MsgID) != `"`+id+`"`; n = next() {
		}
	}

	if err := cl.Unlink(ctx, tr.AccessToken, simRedirect); err != nil {
		t.Fatalf("unlink: %v", err)
	}
	_, err = cl.AccountStatus(ctx, tr.AccessToken)
	var apiErr *yna.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != http.StatusUnauthorized {
		t.Fatalf("status after unlink: %v", err)
	}
}
