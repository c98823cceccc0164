package ynasim

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/ynagw/ynagw/yna"
)

const testPing = "PING 2023:10:5:9:7:3"

func TestChannelPingPong(t *testing.T) {
	rg := newSimRig(t, nil)
	_, _, c := rg.online()
	writeText(t, c, testPing)
	if got := readFrame(t, c); got != "PONG 2023:10:5:9:7:3" {
		t.Fatalf("pong %q", got)
	}

	if err := rg.sim.ApplyAccountFault("alice", AccountFault{WithholdPongs: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	writeText(t, c, "PING 2023:10:5:9:7:4")
	rg.waitChan("second ping", func(i ChannelInfo) bool { return i.Pings == 2 })
	if err := rg.sim.ApplyAccountFault("alice", AccountFault{WithholdPongs: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	writeText(t, c, "PING 2023:10:5:9:7:5")
	// The next frame answers the third ping: nothing was sent for the second.
	if got := readFrame(t, c); got != "PONG 2023:10:5:9:7:5" {
		t.Fatalf("after withholding: %q", got)
	}
	if info, _ := rg.sim.Channel("alice"); info.Pings != 3 || info.Pongs != 2 {
		t.Fatalf("counters %+v", info)
	}
}

func TestNotifyAndAck(t *testing.T) {
	rg := newSimRig(t, nil)
	tok := rg.linkToken(simLine1).AccessToken
	acct := rg.sim.account("alice")

	// Queued while no socket is open, delivered on open.
	id1 := rg.sim.notify(acct, yna.TypeSessionStatus, &yna.SessionStatus{Status: yna.StatusRinging, ResponseCode: 180, CallObjectRef: "x/sessions/ABC"})
	if info, _ := rg.sim.Channel("alice"); len(info.Queued) != 1 || info.Queued[0] != id1 || rg.sim.ackState(acct, id1) != AckQueued {
		t.Fatalf("queued: %+v", info)
	}
	c := rg.dial(rg.status(tok).ChannelURL)
	frame := readFrame(t, c)
	if !strings.HasPrefix(frame, `{"nsMsg":{"msgId":"`+id1+`","content":{"sessionStatusNotification":{`) {
		t.Fatalf("frame %s", frame)
	}
	msgID, ns, err := yna.DecodeFrame([]byte(frame))
	if err != nil || len(ns) != 1 || ns[0].Status == nil || ns[0].Status.Status != yna.StatusRinging || ns[0].CallID() != "ABC" {
		t.Fatalf("decode: %v %+v", err, ns)
	}
	if st := rg.sim.ackState(acct, id1); st != AckSent {
		t.Fatalf("ack state %s", st)
	}
	id2, err := rg.sim.Notify("alice", yna.TypeRegistration, &yna.RegistrationNotification{RegistrationState: "Active"})
	if err != nil || id2 == id1 {
		t.Fatalf("Notify: %q %v", id2, err)
	}
	readFrame(t, c)
	info := rg.waitChan("two unacked", func(i ChannelInfo) bool { return len(i.Unacked) == 2 })
	if strings.Join(info.UnackedTypes, ",") != yna.TypeSessionStatus+","+yna.TypeRegistration || len(info.Queued) != 0 {
		t.Fatalf("info %+v", info)
	}

	if err := c.WriteMessage(websocket.TextMessage, yna.EncodeAck(msgID)); err != nil {
		t.Fatal(err)
	}
	info = rg.waitChan("ack", func(i ChannelInfo) bool { return i.Acked == 1 })
	if len(info.Unacked) != 1 || info.Unacked[0] != id2 || rg.sim.ackState(acct, id1) != AckAcked {
		t.Fatalf("after ack %+v", info)
	}
	// An ack with the wrong JSON type, an unknown id or a stray frame counts as bad.
	writeText(t, c, `{"nsAck":{"msgId":`+id2+`}}`)
	writeText(t, c, `{"nsAck":{"msgId":"999"}}`)
	writeText(t, c, `hello`)
	info = rg.waitChan("bad acks", func(i ChannelInfo) bool { return i.BadAcks == 3 })
	if info.Acked != 1 || len(info.Unacked) != 1 {
		t.Fatalf("after bad acks %+v", info)
	}
	if st := rg.sim.ackState(acct, "nope"); st != AckUnknown {
		t.Fatalf("unknown id state %s", st)
	}
}

func TestNewestSocketReceives(t *testing.T) {
	rg := newSimRig(t, nil)
	tok, st, c1 := rg.online()
	c2 := rg.dial(st.ChannelURL)             // same URL again (fast restore)
	c3 := rg.dial(rg.status(tok).ChannelURL) // new URL some 40 ms later (§18.4)
	rg.waitChan("three sockets", func(i ChannelInfo) bool { return i.SocketsOpen == 3 })
	id, _ := rg.sim.Notify("alice", yna.TypeSessionStatus, &yna.SessionStatus{Status: yna.StatusConnected})
	if f := readFrame(t, c3); !strings.Contains(f, `"msgId":"`+id+`"`) {
		t.Fatalf("newest socket got %s", f)
	}
	for _, c := range []*websocket.Conn{c1, c2} {
		writeText(t, c, testPing)
		if f := readFrame(t, c); !strings.HasPrefix(f, "PONG") {
			t.Fatalf("older socket got %s", f)
		}
	}
	// When the newest closes, the next notification goes to the newest remaining one.
	_ = c3.Close()
	rg.waitChan("c3 gone", func(i ChannelInfo) bool { return i.SocketsOpen == 2 })
	id, _ = rg.sim.Notify("alice", yna.TypeSessionStatus, &yna.SessionStatus{Status: yna.StatusTerminated})
	if f := readFrame(t, c2); !strings.Contains(f, `"msgId":"`+id+`"`) {
		t.Fatalf("c2 got %s", f)
	}
}

func TestChannelFaults(t *testing.T) {
	t.Run("dropSocket", func(t *testing.T) {
		rg := newSimRig(t, nil)
		_, st, c := rg.online()
		res := rg.send(jsonReq(t, http.MethodPost, rg.sim.URL()+"/sim/accounts/alice/faults", `{"dropSocket":true}`))
		if res.status != http.StatusOK {
			t.Fatalf("fault: %d %s", res.status, res.body)
		}
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseAbnormalClosure {
			t.Fatalf("want abrupt close (1006, no close frame), got %v", err)
		}
		// The same URL still works (fast restore).
		c2 := rg.dial(st.ChannelURL)
		writeText(t, c2, testPing)
		readFrame(t, c2)
	})
	t.Run("invalidateChannelURL", func(t *testing.T) {
		rg := newSimRig(t, nil)
		tok, st, c := rg.online()
		if err := rg.sim.ApplyAccountFault("alice", AccountFault{InvalidateChannelURL: true}); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
			t.Fatalf("socket: %v", err)
		}
		_, r, err := websocket.DefaultDialer.Dial(st.ChannelURL, nil)
		if err == nil || r == nil || r.StatusCode != http.StatusNotFound {
			t.Fatalf("old URL: %v", err)
		}
		if info, _ := rg.sim.Channel("alice"); info.URL != "" {
			t.Fatalf("URL still listed: %q", info.URL)
		}
		rg.dial(rg.status(tok).ChannelURL)
	})
	t.Run("registrationTerminated", func(t *testing.T) {
		rg := newSimRig(t, nil)
		_, _, c := rg.online()
		if err := rg.sim.ApplyAccountFault("alice", AccountFault{RegistrationTerminated: true}); err != nil {
			t.Fatal(err)
		}
		_, ns, err := yna.DecodeFrame([]byte(readFrame(t, c)))
		if err != nil || len(ns) != 1 || !ns[0].NeedsRebuild() {
			t.Fatalf("%v %+v", err, ns)
		}
	})
	t.Run("rawCRLF", func(t *testing.T) {
		rg := newSimRig(t, nil)
		_, _, c := rg.online()
		if err := rg.sim.ApplyAccountFault("alice", AccountFault{RawCRLF: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=\"q\\\"\r\n"
		rg.sim.Notify("alice", yna.TypeSessionStatus, &yna.SessionStatus{Status: yna.StatusInProgress, ResponseCode: 183, SDP: sdp})
		raw := []byte(readFrame(t, c))
		if !bytes.Contains(raw, []byte("v=0\r\no=")) || json.Valid(raw) {
			t.Fatalf("frame not raw: %q", raw)
		}
		_, ns, err := yna.DecodeFrame(raw)
		if err != nil || len(ns) != 1 || ns[0].Status == nil || ns[0].Status.SDP != sdp {
			t.Fatalf("tolerant decode: %v %+v", err, ns)
		}
	})
	t.Run("unknown account", func(t *testing.T) {
		rg := newSimRig(t, nil)
		if err := rg.sim.ApplyAccountFault("nobody", AccountFault{DropSocket: true}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestRedeliverUnacked(t *testing.T) {
	for _, redeliver := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[redeliver], func(t *testing.T) {
			rg := newSimRig(t, func(c *Config) { c.RedeliverUnacked = redeliver })
			_, st, c := rg.online()
			id, _ := rg.sim.Notify("alice", yna.TypeSessionStatus, &yna.SessionStatus{Status: yna.StatusRinging})
			readFrame(t, c) // not acked
			_ = c.Close()
			rg.waitChan("closed", func(i ChannelInfo) bool { return i.SocketsOpen == 0 })
			c2 := rg.dial(st.ChannelURL)
			if redeliver {
				if f := readFrame(t, c2); !strings.Contains(f, `"msgId":"`+id+`"`) {
					t.Fatalf("redelivered %s", f)
				}
			}
			writeText(t, c2, testPing)
			if f := readFrame(t, c2); !strings.HasPrefix(f, "PONG") {
				t.Fatalf("got %s, want the pong only", f)
			}
		})
	}
}

func TestChannelRejects(t *testing.T) {
	rg := newSimRig(t, nil)
	_, st, c := rg.online()
	bad := strings.Replace(st.ChannelURL, "/v1/", "/v1/0", 1)
	if _, r, err := websocket.DefaultDialer.Dial(bad, nil); err == nil || r == nil || r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown token: %v", err)
	}
	// Plain GET at a valid URL without upgrade headers.
	req, _ := http.NewRequest(http.MethodGet, "http"+strings.TrimPrefix(st.ChannelURL, "ws"), nil)
	if res := rg.send(req); res.status != http.StatusBadRequest {
		t.Fatalf("plain GET: %d", res.status)
	}
	// Binary frames are refused (text only, §6.1).
	if err := c.WriteMessage(websocket.BinaryMessage, []byte("PING")); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseUnsupportedData {
		t.Fatalf("binary frame: %v", err)
	}
}

func TestRawCRLFUnit(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":"x\r\ny"}`, "{\"a\":\"x\r\ny\"}"},
		{`{"a":"back\\r"}`, `{"a":"back\\r"}`},
		{`{"a":"q\"\n"}`, "{\"a\":\"q\\\"\n\"}"},
		{`{"a\n":1}`, "{\"a\n\":1}"},
		{`{"t":"\t"}`, `{"t":"\t"}`},
	} {
		if got := string(rawCRLF([]byte(tc.in))); got != tc.want {
			t.Errorf("rawCRLF(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// FuzzRawCRLF: a frame with raw CR/LF still decodes (tolerantly) to the original SDP.
func FuzzRawCRLF(f *testing.F) {
	f.Add("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n")
	f.Add(`quote " and backslash \ and \r\n literal`)
	f.Add("\x00\x1f\t\u2028")
	f.Fuzz(func(t *testing.T, sdp string) {
		if !utf8.ValidString(sdp) {
			t.Skip()
		}
		frame, err := yna.EncodeFrame("1", yna.TypeSessionStatus, &yna.SessionStatus{Status: "Ringing", SDP: sdp})
		if err != nil {
			t.Fatal(err)
		}
		_, ns, err := yna.DecodeFrame(rawCRLF(frame))
		if err != nil || len(ns) != 1 || ns[0].Status == nil || ns[0].Status.SDP != sdp {
			t.Fatalf("decode of raw frame %q: %v %+v", rawCRLF(frame), err, ns)
		}
	})
}
