package yna

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// testWait is the failure deadline of every wait in these tests (never a sleep).
const testWait = 10 * time.Second

// fakeWS is a loopback WebSocket server standing in for the YNA notification service.
type fakeWS struct {
	t     *testing.T
	srv   *httptest.Server
	conns chan *fakeConn // accepted connections, in order
	wg    sync.WaitGroup

	mu       sync.Mutex
	valid    map[string]bool // paths that accept an upgrade; others answer 404
	attempts []string        // every upgrade attempt's path, in order
	all      []*fakeConn
	pong     func(idx int) bool // whether connection number idx answers pings
}

type fakeConn struct {
	idx    int
	path   string
	ws     *websocket.Conn
	wmu    sync.Mutex
	in     chan string   // text frames received from the client
	closed chan struct{} // closed when the client side is gone
}

func newFakeWS(t *testing.T, validPaths ...string) *fakeWS {
	f := &fakeWS{t: t, conns: make(chan *fakeConn, 64), valid: map[string]bool{}, pong: func(int) bool { return true }}
	for _, p := range validPaths {
		f.valid[p] = true
	}
	up := websocket.Upgrader{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.attempts = append(f.attempts, r.URL.Path)
		ok := f.valid[r.URL.Path]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		f.mu.Lock()
		fc := &fakeConn{idx: len(f.all), path: r.URL.Path, ws: ws, in: make(chan string, 8192), closed: make(chan struct{})}
		f.all = append(f.all, fc)
		pong := f.pong(fc.idx)
		f.wg.Add(1)
		f.mu.Unlock()
		f.conns <- fc
		go func() {
			defer f.wg.Done()
			defer close(fc.closed)
			defer ws.Close()
			for {
				_, data, err := ws.ReadMessage()
				if err != nil {
					return
				}
				if pong && IsPing(data) {
					_ = fc.send(PongText(data))
				}
				fc.in <- string(data)
			}
		}()
	}))
	t.Cleanup(f.close)
	return f
}

func (f *fakeWS) close() {
	f.mu.Lock()
	for _, c := range f.all {
		_ = c.ws.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	f.srv.Close()
}

func (f *fakeWS) url(path string) string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") + path }

func (f *fakeWS) setValid(path string, ok bool) {
	f.mu.Lock()
	f.valid[path] = ok
	f.mu.Unlock()
}

func (f *fakeWS) attemptList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.attempts...)
}

func (f *fakeWS) accept(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case c := <-f.conns:
		return c
	case <-time.After(testWait):
		t.Fatal("timed out waiting for a client connection")
		return nil
	}
}

func (c *fakeConn) send(text string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, []byte(text))
}

func (c *fakeConn) mustSend(t *testing.T, text string) {
	t.Helper()
	if err := c.send(text); err != nil {
		t.Fatalf("server send: %v", err)
	}
}

// next returns the next frame from the client; skipPings drops PING frames.
func (c *fakeConn) next(t *testing.T, skipPings bool) string {
	t.Helper()
	deadline := time.After(testWait)
	for {
		select {
		case s := <-c.in:
			if skipPings && IsPing([]byte(s)) {
				continue
			}
			return s
		case <-deadline:
			t.Fatal("timed out waiting for a client frame")
			return ""
		}
	}
}

func (c *fakeConn) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(testWait):
		t.Fatal("timed out waiting for the client to close the socket")
	}
}

// drop closes the socket abruptly (no close frame), like a lost connection.
func (c *fakeConn) drop() { _ = c.ws.NetConn().Close() }

// harness runs a Channel until the test ends.
type harness struct {
	ch       *Channel
	states   chan ChannelState
	refresh  chan struct{}
	runErr   chan error
	cancel   context.CancelFunc
	nextURLs chan string // URLs returned by Refresh, in order (last one repeats)
}

func startChannel(t *testing.T, cfg ChannelConfig, refreshURLs ...string) *harness {
	t.Helper()
	h := &harness{states: make(chan ChannelState, 256), refresh: make(chan struct{}, 256),
		runErr: make(chan error, 1), nextURLs: make(chan string, len(refreshURLs)+1)}
	for _, u := range refreshURLs {
		h.nextURLs <- u
	}
	var last atomic.Value
	if len(refreshURLs) > 0 {
		last.Store(refreshURLs[len(refreshURLs)-1])
		cfg.Refresh = func(ctx context.Context) (string, error) {
			h.refresh <- struct{}{}
			select {
			case u := <-h.nextURLs:
				return u, nil
			default:
				return last.Load().(string), nil
			}
		}
	}
	cfg.OnState = func(s ChannelState) { h.states <- s }
	if cfg.PingInterval == 0 {
		cfg.PingInterval = time.Hour
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = time.Millisecond, 2*time.Millisecond
	}
	ch, err := NewChannel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ch = ch
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.runErr <- ch.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.runErr:
		case <-time.After(testWait):
			t.Error("Run did not return after cancel")
		}
	})
	return h
}

func (h *harness) waitState(t *testing.T, want ChannelState) {
	t.Helper()
	deadline := time.After(testWait)
	for {
		select {
		case s := <-h.states:
			if s == want {
				return
			}
		case <-deadline:
			t.Fatalf("timed out waiting for state %v (now %v)", want, h.ch.State())
		}
	}
}

func (h *harness) notification(t *testing.T) Notification {
	t.Helper()
	select {
	case n, ok := <-h.ch.Notifications():
		if !ok {
			t.Fatal("notifications closed")
		}
		return n
	case <-time.After(testWait):
		t.Fatal("timed out waiting for a notification")
		return Notification{}
	}
}

func (h *harness) refreshCalls() int {
	n := 0
	for {
		select {
		case <-h.refresh:
			n++
		default:
			return n
		}
	}
}

var pingRE = regexp.MustCompile(`^PING [0-9]{4}:([1-9]|1[0-2]):([1-9]|[12][0-9]|3[01]):([0-9]|1[0-9]|2[0-3]):([0-9]|[1-5][0-9]):([0-9]|[1-5][0-9])$`)

func TestChannelPingAtOpenAndInterval(t *testing.T) {
	t.Run("one ping at open", func(t *testing.T) {
		f := newFakeWS(t, "/a")
		h := startChannel(t, ChannelConfig{URL: f.url("/a"), PingInterval: time.Hour})
		c := f.accept(t)
		if p := c.next(t, false); !pingRE.MatchString(p) {
			t.Fatalf("first frame %q is not a ping", p)
		}
		// The ping is answered: a frame sent now is acked (nothing else was sent in between).
		c.mustSend(t, `{"nsMsg":{"msgId":"x","content":{}}}`)
		if got := c.next(t, false); got != `{"nsAck":{"msgId":"x"}}` {
			t.Fatalf("got %q, want only the ack after the first ping", got)
		}
		h.waitState(t, ChannelConnected)
	})
	t.Run("pings every interval while pongs arrive", func(t *testing.T) {
		f := newFakeWS(t, "/a")
		// With a long pong timeout a new ping is only sent once the previous pong was seen.
		h := startChannel(t, ChannelConfig{URL: f.url("/a"), PingInterval: 20 * time.Millisecond, PongTimeout: time.Minute})
		c := f.accept(t)
		for i := 0; i < 4; i++ {
			if p := c.next(t, false); !pingRE.MatchString(p) {
				t.Fatalf("frame %d = %q, not a ping", i, p)
			}
		}
		st := h.ch.Stats()
		if st.PingsSent < 3 || st.PongsMissed != 0 || st.Reconnects != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestChannelWithheldPongsReopenSameURL(t *testing.T) {
	f := newFakeWS(t, "/a")
	f.pong = func(idx int) bool { return idx > 0 }
	h := startChannel(t, ChannelConfig{URL: f.url("/a"), PongTimeout: 20 * time.Millisecond}, f.url("/refreshed"))
	c0 := f.accept(t)
	for i := 0; i < 2; i++ {
		if p := c0.next(t, false); !IsPing([]byte(p)) {
			t.Fatalf("frame %d %q not a ping", i, p)
		}
	}
	c0.waitClosed(t)
	c1 := f.accept(t)
	if c1.path != "/a" {
		t.Fatalf("reopened %q, want the same URL", c1.path)
	}
	if n := h.refreshCalls(); n != 0 {
		t.Fatalf("Refresh called %d times before reopening the same URL", n)
	}
	select {
	case extra := <-c0.in:
		t.Fatalf("unexpected frame after the second ping: %q", extra)
	default:
	}
	if st := h.ch.Stats(); st.PongsMissed < 2 {
		t.Fatalf("PongsMissed = %d", st.PongsMissed)
	}
}

func TestChannelServerDropReopensSameURL(t *testing.T) {
	f := newFakeWS(t, "/a")
	h := startChannel(t, ChannelConfig{URL: f.url("/a")}, f.url("/b"))
	h.waitState(t, ChannelConnected)
	c0 := f.accept(t)
	c0.drop()
	h.waitState(t, ChannelRecovering)
	h.waitState(t, ChannelConnected)
	c1 := f.accept(t)
	if c1.path != "/a" || h.ch.URL() != f.url("/a") {
		t.Fatalf("reopened %q (URL %q), want /a", c1.path, h.ch.URL())
	}
	if n := h.refreshCalls(); n != 0 {
		t.Fatalf("Refresh called %d times", n)
	}
	if st := h.ch.Stats(); st.Reconnects != 1 {
		t.Fatalf("Reconnects = %d", st.Reconnects)
	}
	// The new socket works: a frame is acked.
	c1.mustSend(t, `{"nsMsg":{"msgId":1,"content":{}}}`)
	if got := c1.next(t, true); got != `{"nsAck":{"msgId":1}}` {
		t.Fatalf("ack %q", got)
	}
}

func TestChannelFastRestoreWindow(t *testing.T) {
	f := newFakeWS(t, "/a", "/b")
	h := startChannel(t, ChannelConfig{URL: f.url("/a")}, f.url("/b"))
	c0 := f.accept(t)
	c0.drop()
	c1 := f.accept(t)
	if c1.path != "/a" {
		t.Fatalf("first drop after set-up reopened %q, want /a", c1.path)
	}
	n0 := len(f.attemptList())
	// Second drop right after a recovery: straight to a new URL.
	c1.drop()
	c2 := f.accept(t)
	if c2.path != "/b" {
		t.Fatalf("drop within the window reopened %q, want the refreshed /b", c2.path)
	}
	if got := f.attemptList()[n0:]; !reflect.DeepEqual(got, []string{"/b"}) {
		t.Fatalf("attempts after the second drop %v, want only /b", got)
	}
	if n := h.refreshCalls(); n != 1 {
		t.Fatalf("Refresh called %d times, want 1", n)
	}

	t.Run("negative window disables", func(t *testing.T) {
		f := newFakeWS(t, "/a", "/b")
		h := startChannel(t, ChannelConfig{URL: f.url("/a"), FastRestoreWindow: -1}, f.url("/b"))
		for i := 0; i < 3; i++ {
			c := f.accept(t)
			if c.path != "/a" {
				t.Fatalf("connection %d on %q, want /a", i, c.path)
			}
			c.drop()
		}
		if n := h.refreshCalls(); n != 0 {
			t.Fatalf("Refresh called %d times", n)
		}
	})
}

func TestChannelStaleURLRefresh(t *testing.T) {
	t.Run("old URL 404 after a drop", func(t *testing.T) {
		f := newFakeWS(t, "/old", "/new")
		h := startChannel(t, ChannelConfig{URL: f.url("/old")}, f.url("/new"))
		c0 := f.accept(t)
		h.waitState(t, ChannelConnected)
		f.setValid("/old", false)
		c0.drop()
		c1 := f.accept(t)
		if c1.path != "/new" {
			t.Fatalf("reconnected on %q", c1.path)
		}
		h.waitState(t, ChannelConnected)
		if h.ch.URL() != f.url("/new") {
			t.Fatalf("URL() = %q", h.ch.URL())
		}
		if got := f.attemptList(); !reflect.DeepEqual(got, []string{"/old", "/old", "/new"}) {
			t.Fatalf("attempts %v", got)
		}
		if n := h.refreshCalls(); n != 1 {
			t.Fatalf("Refresh called %d times", n)
		}
		if st := h.ch.Stats(); st.DialFailures != 1 || st.Refreshes != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("initial URL 404", func(t *testing.T) {
		f := newFakeWS(t, "/new")
		h := startChannel(t, ChannelConfig{URL: f.url("/gone")}, f.url("/new"))
		if c := f.accept(t); c.path != "/new" {
			t.Fatalf("connected on %q", c.path)
		}
		h.waitState(t, ChannelConnected)
		if h.ch.Stats().Rebuilds != 0 {
			t.Fatal("initial failure counted as a server-ordered rebuild")
		}
	})
	t.Run("no initial URL", func(t *testing.T) {
		f := newFakeWS(t, "/new")
		startChannel(t, ChannelConfig{}, f.url("/new"))
		if c := f.accept(t); c.path != "/new" {
			t.Fatalf("connected on %q", c.path)
		}
	})
}

func TestChannelServerOrderedRebuild(t *testing.T) {
	for _, tc := range []struct{ name, frame string }{
		{"registration terminated", `{"nsMsg":{"msgId":"r1","content":{"RegistrationNotification":{"registrationState":"Terminated"}}}}`},
		{"reselect node", `{"nsMsg":{"msgId":"r1","content":{"registrationInformationNotification":{"action":"reselect_node"}}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeWS(t, "/a", "/b")
			h := startChannel(t, ChannelConfig{URL: f.url("/a")}, f.url("/b"))
			c0 := f.accept(t)
			c0.mustSend(t, tc.frame)
			if got := c0.next(t, true); got != `{"nsAck":{"msgId":"r1"}}` {
				t.Fatalf("ack %q", got)
			}
			if n := h.notification(t); !n.NeedsRebuild() || string(n.MsgID) != `"r1"` {
				t.Fatalf("notification %+v", n)
			}
			c0.waitClosed(t)
			c1 := f.accept(t)
			if c1.path != "/b" {
				t.Fatalf("rebuilt on %q, want the refreshed URL", c1.path)
			}
			if got := f.attemptList(); !reflect.DeepEqual(got, []string{"/a", "/b"}) {
				t.Fatalf("attempts %v (the old URL must not be retried)", got)
			}
			if st := h.ch.Stats(); st.Rebuilds != 1 || st.Refreshes != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestChannelAcksEveryMessage(t *testing.T) {
	f := newFakeWS(t, "/a")
	h := startChannel(t, ChannelConfig{URL: f.url("/a"), PingInterval: 20 * time.Millisecond})
	c := f.accept(t)
	frames := []struct {
		frame string
		ack   string // "" = no ack expected
		typ   string // "" = no notification expected
	}{
		{`{"nsMsg":{"msgId":"s1","content":{"sessionStatusNotification":{"status":"Ringing","responseCode":180,"callObjectRef":"/s/C"}}}}`, `{"nsAck":{"msgId":"s1"}}`, TypeSessionStatus},
		{`{"nsMsg":{"msgId":42,"content":{"sessionInvitationNotification":{"originatorAddress":"tel:+1"}}}}`, `{"nsAck":{"msgId":42}}`, TypeSessionInvitation},
		{`{"nsMsg":{"msgId":"42","content":{}}}`, `{"nsAck":{"msgId":"42"}}`, ""},
		{`{"nsMsg":{"msgId":12345678901234567890123,"content":{}}}`, `{"nsAck":{"msgId":12345678901234567890123}}`, ""},
		{`{"nsMsg":{"msgId":null,"content":{}}}`, `{"nsAck":{"msgId":null}}`, ""},
		{`{"nsMsg":{"content":{}}}`, `{"nsAck":{}}`, ""},
		{`{"nsMsg":{"msgId":"u1","content":{"push-message":{"nmsEventList":{}}}}}`, `{"nsAck":{"msgId":"u1"}}`, "push-message"},
		{`not json at all`, "", ""},
		{`{"nope":{"msgId":"n"}}`, "", ""},
		{`{"nsMsg":{"msgId":"end","content":{}}}`, `{"nsAck":{"msgId":"end"}}`, ""},
	}
	var wantAcks []string
	var wantTypes []string
	for _, fr := range frames {
		c.mustSend(t, fr.frame)
		if fr.ack != "" {
			wantAcks = append(wantAcks, fr.ack)
		}
		if fr.typ != "" {
			wantTypes = append(wantTypes, fr.typ)
		}
	}
	var gotAcks []string
	for len(gotAcks) < len(wantAcks) {
		gotAcks = append(gotAcks, c.next(t, true))
	}
	if !reflect.DeepEqual(gotAcks, wantAcks) {
		t.Fatalf("acks\n got %q\nwant %q", gotAcks, wantAcks)
	}
	var gotTypes []string
	for len(gotTypes) < len(wantTypes) {
		n := h.notification(t)
		gotTypes = append(gotTypes, n.Type)
		if n.Type == "push-message" && (n.Known() || !json.Valid(n.Raw)) {
			t.Fatalf("unknown notification %+v", n)
		}
	}
	if !reflect.DeepEqual(gotTypes, wantTypes) {
		t.Fatalf("types %v, want %v", gotTypes, wantTypes)
	}
	// A binary frame is ignored and counted.
	c.wmu.Lock()
	err := c.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"nsMsg":{"msgId":"bin"}}`))
	c.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	c.mustSend(t, `{"nsMsg":{"msgId":"after","content":{}}}`)
	if got := c.next(t, true); got != `{"nsAck":{"msgId":"after"}}` {
		t.Fatalf("ack %q (binary frame must not be acked)", got)
	}
	st := h.ch.Stats()
	if st.Unknown != 1 || st.ParseErrors != 3 || st.Received != 9 {
		t.Fatalf("stats %+v", st)
	}
}

func TestChannelTolerantParsingRawCRLF(t *testing.T) {
	f := newFakeWS(t, "/a")
	h := startChannel(t, ChannelConfig{URL: f.url("/a")})
	c := f.accept(t)
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n"
	c.mustSend(t, `{"nsMsg":{"msgId":"crlf","content":{"sessionStatusNotification":{"status":"Connected","responseCode":"200","callObjectRef":"/s/CALL1","sdp":"`+sdp+`"}}}}`)
	if got := c.next(t, true); got != `{"nsAck":{"msgId":"crlf"}}` {
		t.Fatalf("ack %q", got)
	}
	n := h.notification(t)
	if n.Status == nil || n.Status.SDP != sdp || n.Status.ResponseCode != 200 || n.CallID() != "CALL1" {
		t.Fatalf("notification %+v status %+v", n, n.Status)
	}
	if st := h.ch.Stats(); st.ParseErrors != 0 {
		t.Fatalf("ParseErrors = %d", st.ParseErrors)
	}
}

func TestChannelSlowConsumer(t *testing.T) {
	const total = 1000
	f := newFakeWS(t, "/a")
	h := startChannel(t, ChannelConfig{URL: f.url("/a"), PingInterval: 20 * time.Millisecond})
	c := f.accept(t)
	go func() {
		for i := 0; i < total; i++ {
			frame, _ := EncodeFrame(i, TypeSessionStatus, &SessionStatus{Status: StatusRinging, ResponseCode: 180, CallObjectRef: "/s/C"})
			if c.send(string(frame)) != nil {
				return
			}
		}
	}()
	// Nobody reads Notifications(): every frame must still be acked, in order.
	for i := 0; i < total; i++ {
		if got, want := c.next(t, true), fmt.Sprintf(`{"nsAck":{"msgId":%d}}`, i); got != want {
			t.Fatalf("ack %d = %q, want %q", i, got, want)
		}
	}
	if st := h.ch.Stats(); st.Received != total || st.QueueHighMark < 2 {
		t.Fatalf("stats %+v", st)
	}
	for i := 0; i < total; i++ {
		n := h.notification(t)
		if string(n.MsgID) != fmt.Sprint(i) || n.Status == nil {
			t.Fatalf("notification %d has msgId %s", i, n.MsgID)
		}
	}
}

func TestChannelMaxAttempts(t *testing.T) {
	f := newFakeWS(t) // every path 404
	h := startChannel(t, ChannelConfig{URL: f.url("/x"), MaxAttempts: 3}, f.url("/ysecret0token"))
	var err error
	select {
	case err = <-h.runErr:
		h.runErr <- err // for the cleanup
	case <-time.After(testWait):
		t.Fatal("Run did not give up")
	}
	if !errors.Is(err, ErrChannelFailed) {
		t.Fatalf("Run = %v, want ErrChannelFailed", err)
	}
	var de *ChannelDialError
	if !errors.As(err, &de) || de.StatusCode != http.StatusNotFound || strings.Contains(de.Error(), "secret") {
		t.Fatalf("dial error %#v (URL must be redacted)", de)
	}
	if h.ch.State() != ChannelFailed {
		t.Fatalf("state %v", h.ch.State())
	}
	var states []ChannelState
	for len(h.states) > 0 {
		states = append(states, <-h.states)
	}
	if want := []ChannelState{ChannelConnecting, ChannelRecovering, ChannelFailed}; !reflect.DeepEqual(states, want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	if n := h.refreshCalls(); n != 3 {
		t.Fatalf("Refresh called %d times, want 3", n)
	}
	if _, ok := <-h.ch.Notifications(); ok {
		t.Fatal("Notifications not closed after Run returned")
	}
	if got := f.attemptList(); !reflect.DeepEqual(got, []string{"/x", "/ysecret0token", "/ysecret0token", "/ysecret0token"}) {
		t.Fatalf("attempts %v", got)
	}
}

func TestChannelRefreshErrors(t *testing.T) {
	f := newFakeWS(t, "/ok")
	var calls atomic.Int32
	errBoom := errors.New("account status down")
	cfg := ChannelConfig{
		URL: f.url("/gone"), BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, PingInterval: time.Hour,
		Refresh: func(ctx context.Context) (string, error) {
			switch calls.Add(1) {
			case 1:
				return "", errBoom
			case 2:
				return "", nil
			}
			return f.url("/ok"), nil
		},
	}
	ch, err := NewChannel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ch.Run(ctx) }()
	if c := f.accept(t); c.path != "/ok" {
		t.Fatalf("path %q", c.path)
	}
	if calls.Load() != 3 {
		t.Fatalf("Refresh calls %d", calls.Load())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(testWait):
		t.Fatal("Run did not return")
	}
	if err := ch.Run(context.Background()); !errors.Is(err, ErrChannelRunning) {
		t.Fatalf("second Run = %v", err)
	}
}

func TestChannelCancel(t *testing.T) {
	f := newFakeWS(t, "/a")
	h := startChannel(t, ChannelConfig{URL: f.url("/a")})
	c := f.accept(t)
	h.waitState(t, ChannelConnected)
	c.mustSend(t, `{"nsMsg":{"msgId":"pending","content":{"sessionStatusNotification":{"status":"Ringing"}}}}`)
	if got := c.next(t, true); got != `{"nsAck":{"msgId":"pending"}}` {
		t.Fatalf("ack %q", got)
	}
	h.cancel()
	select {
	case err := <-h.runErr:
		h.runErr <- err
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(testWait):
		t.Fatal("Run did not return after cancel")
	}
	c.waitClosed(t)
	h.waitState(t, ChannelClosed)
	if h.ch.State() != ChannelClosed {
		t.Fatalf("state %v", h.ch.State())
	}
	for range h.ch.Notifications() { // drains what is left, then sees the close
	}
}

func TestChannelCancelWhileRecovering(t *testing.T) {
	f := newFakeWS(t)
	h := startChannel(t, ChannelConfig{URL: f.url("/x"), BackoffMin: time.Hour, BackoffMax: time.Hour}, f.url("/y"))
	h.waitState(t, ChannelRecovering)
	select {
	case <-h.refresh:
	case <-time.After(testWait):
		t.Fatal("no refresh")
	}
	h.cancel()
	select {
	case err := <-h.runErr:
		h.runErr <- err
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(testWait):
		t.Fatal("Run did not return while backing off")
	}
	if h.ch.State() != ChannelClosed {
		t.Fatalf("state %v", h.ch.State())
	}
}

func TestNewChannelConfig(t *testing.T) {
	if _, err := NewChannel(ChannelConfig{}); !errors.Is(err, ErrChannelConfig) {
		t.Fatalf("empty config: %v", err)
	}
	if _, err := NewChannel(ChannelConfig{URL: "ws://127.0.0.1:1/x", MaxAttempts: -1}); !errors.Is(err, ErrChannelConfig) {
		t.Fatalf("negative attempts: %v", err)
	}
	ch, err := NewChannel(ChannelConfig{URL: "ws://127.0.0.1:1/x"})
	if err != nil {
		t.Fatal(err)
	}
	if ch.cfg.PingInterval != DefaultPingInterval || ch.cfg.PongTimeout != DefaultPongTimeout ||
		ch.cfg.DialTimeout != DefaultDialTimeout || ch.cfg.FastRestoreWindow != DefaultFastRestoreWindow ||
		ch.cfg.BackoffMin != DefaultBackoffMin || ch.cfg.BackoffMax != DefaultBackoffMax {
		t.Fatalf("defaults not applied: %+v", ch.cfg)
	}
	if ch.State() != ChannelConnecting || ch.URL() != "ws://127.0.0.1:1/x" {
		t.Fatalf("state %v url %q", ch.State(), ch.URL())
	}
}

func TestChannelDialErrorRedacted(t *testing.T) {
	ch, err := NewChannel(ChannelConfig{URL: "ws://127.0.0.1:1/x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ws://127.0.0.1:1/secret0123", "ws://127.0.0.1:1/%zzsecret0123", "ftp://127.0.0.1/secret0123"} {
		_, err := ch.dial(context.Background(), u)
		var de *ChannelDialError
		if !errors.As(err, &de) || de.StatusCode != 0 || strings.Contains(err.Error(), "secret") {
			t.Errorf("dial %q: %v", u, err)
		}
	}
}

func TestChannelFlappingBacksOff(t *testing.T) {
	f := newFakeWS(t, "/a")
	core, logs := observer.New(zap.InfoLevel)
	h := startChannel(t, ChannelConfig{URL: f.url("/a"), Logger: zap.New(core),
		BackoffMin: time.Millisecond, BackoffMax: 4 * time.Millisecond, FastRestoreWindow: time.Hour}, f.url("/a"))
	for i := 0; i < 4; i++ {
		f.accept(t).drop() // every socket dies at once, yet every open succeeds
	}
	h.waitState(t, ChannelRecovering)
	var flaps []int64
	deadline := time.After(testWait)
	for len(flaps) < 3 {
		flaps = flaps[:0]
		for _, e := range logs.FilterMessage("notification channel flapping, backing off").All() {
			flaps = append(flaps, e.ContextMap()["flaps"].(int64))
		}
		if len(flaps) < 3 {
			select {
			case <-h.states: // progress; look again
			case <-deadline:
				t.Fatalf("flapping not backed off: %v", flaps)
			}
		}
	}
	if flaps[0] != 1 || flaps[1] != 2 || flaps[2] != 3 {
		t.Fatalf("flap counts %v, want 1,2,3", flaps[:3])
	}
}

func TestChannelStateString(t *testing.T) {
	for s, want := range map[ChannelState]string{ChannelConnecting: "connecting", ChannelConnected: "connected",
		ChannelRecovering: "recovering", ChannelFailed: "failed", ChannelClosed: "closed", ChannelState(9): "ChannelState(9)"} {
		if s.String() != want {
			t.Errorf("%d: %q", s, s.String())
		}
	}
}

func TestRedactChannelURL(t *testing.T) {
	for in, want := range map[string]string{
		"wss://naas.t-mobile.com/ws/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": "wss://naas.t-mobile.com/…cdef",
		"ws://127.0.0.1:80/a": "ws://127.0.0.1:80/a",
		"::bad":               "<unparseable url>",
	} {
		if got := RedactChannelURL(in); got != want {
			t.Errorf("RedactChannelURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	zero := func() float64 { return 0 }
	almost := func() float64 { return 0.999999 }
	tests := []struct {
		b       Backoff
		attempt int
		lo, hi  time.Duration // inclusive bounds
	}{
		{Backoff{Min: time.Second, Max: time.Minute, Rand: zero}, 0, 500 * time.Millisecond, 500 * time.Millisecond},
		{Backoff{Min: time.Second, Max: time.Minute, Rand: almost}, 0, 999 * time.Millisecond, time.Second},
		{Backoff{Min: time.Second, Max: time.Minute, Rand: zero}, 3, 4 * time.Second, 4 * time.Second},
		{Backoff{Min: time.Second, Max: time.Minute, Rand: zero}, 10, 30 * time.Second, 30 * time.Second},
		{Backoff{Min: time.Second, Max: time.Minute, Rand: almost}, 1000, 59 * time.Second, time.Minute},
		{Backoff{Rand: zero}, 0, DefaultBackoffMin / 2, DefaultBackoffMin / 2},
		{Backoff{Min: time.Minute, Max: time.Second, Rand: zero}, 5, 30 * time.Second, 30 * time.Second},
		{Backoff{Min: time.Second, Max: time.Minute, Rand: func() float64 { return 7 }}, 0, 500 * time.Millisecond, 500 * time.Millisecond},
	}
	for i, tt := range tests {
		if d := tt.b.Delay(tt.attempt); d < tt.lo || d > tt.hi {
			t.Errorf("%d: Delay(%d) = %v, want [%v, %v]", i, tt.attempt, d, tt.lo, tt.hi)
		}
	}
	b := Backoff{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for a := 0; a < 20; a++ {
		if d := b.Delay(a); d < 5*time.Millisecond || d > 80*time.Millisecond {
			t.Fatalf("Delay(%d) = %v out of bounds", a, d)
		}
	}
}

// TestChannelLossLoggedAtWarn (issue 11): losing a connected channel is one warn line
// with the reason (and the caller's logger fields, e.g. the line); the recovery's own
// lines stay at info or below.
func TestChannelLossLoggedAtWarn(t *testing.T) {
	f := newFakeWS(t, "/a")
	core, logs := observer.New(zap.InfoLevel)
	h := startChannel(t, ChannelConfig{URL: f.url("/a"), Logger: zap.New(core).With(zap.String("line", "14255550100"))}, f.url("/a"))
	h.waitState(t, ChannelConnected)
	f.accept(t).drop()
	h.waitState(t, ChannelRecovering)
	h.waitState(t, ChannelConnected)
	f.accept(t)
	warns := logs.FilterLevelExact(zap.WarnLevel).All()
	if len(warns) != 1 {
		t.Fatalf("%d warn lines for one loss, want 1: %v", len(warns), logs.All())
	}
	if m := warns[0].ContextMap(); warns[0].Message != "notification channel lost, recovering" ||
		m["reason"] != "socket lost" || m["line"] != "14255550100" {
		t.Errorf("loss logged as %q %v", warns[0].Message, m)
	}
}
