package ynasim

import (
	"net/http"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/ynagw/ynagw/yna"
)

// BenchmarkAccountStatus: one signed GET /account/status over loopback, with client-side
// PoP signing and strict server-side verification (RSA-2048 dominates).
func BenchmarkAccountStatus(b *testing.B) {
	rg := newSimRig(b, nil)
	tok := rg.linkToken(simLine1).AccessToken
	b.ResetTimer()
	for b.Loop() {
		if res := rg.api(http.MethodGet, yna.PathAccountStatus, tok, nil, popTweak{}); res.status != http.StatusOK {
			b.Fatalf("status %d", res.status)
		}
	}
}

// BenchmarkNotifyAck: one notification delivered over the socket and acknowledged.
func BenchmarkNotifyAck(b *testing.B) {
	rg := newSimRig(b, nil)
	tok := rg.linkToken(simLine1).AccessToken
	c, _, err := websocket.DefaultDialer.Dial(rg.status(tok).ChannelURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	st := &yna.SessionStatus{Status: yna.StatusRinging, ResponseCode: 180, CallObjectRef: "x/sessions/ABC"}
	b.ResetTimer()
	for b.Loop() {
		rg.sim.Notify("alice", yna.TypeSessionStatus, st)
		_, frame, err := c.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		id, _, err := yna.DecodeFrame(frame)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.WriteMessage(websocket.TextMessage, yna.EncodeAck(id)); err != nil {
			b.Fatal(err)
		}
	}
}
