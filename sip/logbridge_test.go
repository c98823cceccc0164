package sip

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestZapSlogHandler(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	l := slog.New(newZapSlogHandler(zap.New(core))).With("caller", "Transport<TCP>", "n", 1)
	l.Debug("hidden")
	l.Info("plain", "s", "v", "d", time.Second, "err", errors.New("boom"))
	l.WithGroup("g").Warn("grouped", "k", true, slog.Group("sub", "x", 2.5))
	l.Error("bad", "u", uint64(7))
	all := logs.All()
	if len(all) != 3 {
		t.Fatalf("got %d entries, want 3 (debug filtered): %v", len(all), all)
	}
	want := []struct {
		level  zapcore.Level
		msg    string
		fields map[string]any
	}{
		{zapcore.InfoLevel, "plain", map[string]any{"sipgo_component": "Transport<TCP>", "n": int64(1), "s": "v", "d": time.Second, "err": "boom"}},
		{zapcore.WarnLevel, "grouped", map[string]any{"g.k": true, "g.sub.x": 2.5}},
		{zapcore.ErrorLevel, "bad", map[string]any{"u": uint64(7)}},
	}
	for i, w := range want {
		e := all[i]
		if e.Level != w.level || e.Message != w.msg {
			t.Errorf("entry %d = %v %q, want %v %q", i, e.Level, e.Message, w.level, w.msg)
		}
		got := e.ContextMap()
		for k, v := range w.fields {
			if got[k] != v {
				t.Errorf("entry %d field %s = %#v, want %#v (all %v)", i, k, got[k], v, got)
			}
		}
	}
}

// TestSipgoLogsInZapNoNegativeRef: sipgo's lines (its layers' loggers and its
// package default logger, which its TCP connections use) come out through the
// Server's zap logger, and a TCP pass of the RFC 4475 table leaves no
// "TCP ref went negative" among them. Before, sipgo's lines were discarded or
// written by log/slog's default handler in its own format, 2 to 13 of them
// "TCP ref went negative" per pass: sipgo's reader closed a connection the peer
// had closed while a transaction still held it, resetting its reference count.
func TestSipgoLogsInZapNoNegativeRef(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s := newTestServer(t, func(c *Config) { c.Logger = zap.New(core) })
	runRFC4475(t, s, "tcp")
	fromSipgo, refLines := 0, 0
	for _, e := range logs.All() {
		if e.LoggerName != "sip.sipgo" {
			continue
		}
		fromSipgo++
		if strings.HasPrefix(e.Message, "TCP reference") {
			refLines++ // sipgo's default logger: the connections' reference counting
		}
		if strings.Contains(e.Message, "went negative") {
			t.Errorf("%s: %s %v", e.Level, e.Message, e.ContextMap())
		}
	}
	if fromSipgo == 0 || refLines == 0 {
		t.Fatalf("sipgo lines in zap: %d, of them from its default logger: %d; want both > 0", fromSipgo, refLines)
	}
	t.Logf("%d sipgo lines, %d about TCP references", fromSipgo, refLines)
}

// heldApp holds each call until the test releases it, then rejects it 486.
type heldApp struct {
	calls   chan *InboundCall
	release chan struct{}
	done    chan struct{}
}

func (a *heldApp) HandleInvite(ctx context.Context, c *InboundCall) {
	defer func() { a.done <- struct{}{} }()
	a.calls <- c
	select {
	case <-a.release:
	case <-ctx.Done():
	}
	_ = c.Reject(486, "Busy Here")
}

// TestTCPPeerCloseDuringRequest: the peer closes its TCP connection while its
// INVITE is still being handled. Before the fix sipgo's reader closed the
// connection at once, resetting its reference count, and the transaction's
// later release logged "TCP ref went negative" (every time in this test). Now
// the end of the stream reaches sipgo only after the request was handled: the
// connection is closed after the 486, and no reference goes negative.
func TestTCPPeerCloseDuringRequest(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s := newTestServer(t, func(c *Config) { trunkLoopback(c); c.Logger = zap.New(core) })
	app := &heldApp{calls: make(chan *InboundCall, 1), release: make(chan struct{}), done: make(chan struct{}, 1)}
	s.SetHandler(app)
	p := dialTCPPeer(t, s.Addr("tcp"))
	local := p.conn.LocalAddr().String()
	inv := crlf("INVITE sip:2000@ynagw SIP/2.0", "Via: SIP/2.0/TCP "+local+";branch=z9hG4bK-pc1",
		"From: <sip:pbx@127.0.0.1>;tag=pc1", "To: <sip:2000@ynagw>", "Call-ID: peerclose1", "CSeq: 1 INVITE",
		"Max-Forwards: 70", "Contact: <sip:pbx@"+local+";transport=tcp>", "Content-Type: application/sdp",
		"Content-Length: "+strconv.Itoa(len(rawSDP("sendrecv"))), "", rawSDP("sendrecv"))
	if _, err := p.conn.Write([]byte(inv)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-app.calls:
	case <-time.After(10 * time.Second):
		t.Fatal("INVITE not handed to the application")
	}
	s.mu.Lock()
	gc := s.streams[streamKey("tcp", local)]
	s.mu.Unlock()
	if gc == nil {
		t.Fatal("connection not gated")
	}
	_ = p.conn.Close()
	select {
	case <-gc.peerEnd: // the server read the end of the stream
	case <-time.After(10 * time.Second):
		t.Fatal("server did not see the peer close")
	}
	rejected := len(logs.All())
	close(app.release)
	select {
	case <-app.done:
	case <-time.After(10 * time.Second):
		t.Fatal("call not rejected")
	}
	select {
	case <-gc.closed: // sipgo closed the connection
	case <-time.After(20 * time.Second):
		t.Fatal("connection never closed")
	}
	_ = s.Close() // waits for every handler: the transaction has released the connection
	closedAt := -1
	for i, e := range logs.All() {
		if e.LoggerName != "sip.sipgo" || e.ContextMap()["dst"] != local {
			continue
		}
		if strings.Contains(e.Message, "went negative") {
			t.Errorf("%s %v", e.Message, e.ContextMap())
		}
		if (e.Message == "TCP closing" || e.Message == "TCP doing hard close") && closedAt < 0 {
			closedAt = i
		}
	}
	if closedAt < rejected {
		t.Errorf("connection closed (log entry %d) before the call was rejected (entry %d)", closedAt, rejected)
	}
}

// TestCloseWithOpenTCPConnection: the server shuts down while a peer keeps
// its TCP connection open (a phone registered over TCP). sipgo's pool.Clear
// closed such a connection hard under its reader, whose own release then took
// the reference count to -1 ("TCP ref went negative", every time in this test
// before the fix). A second server keeps sipgo's default logger pointed at an
// observer after the first one is closed, so late lines are seen.
func TestCloseWithOpenTCPConnection(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	newTestServer(t, func(c *Config) { c.Logger = zap.New(core) }) // stays up: receives late sipgo lines
	s := newTestServer(t, func(c *Config) { c.Logger = zap.New(core) })
	p := dialTCPPeer(t, s.Addr("tcp"))
	local := p.conn.LocalAddr().String()
	if _, err := p.conn.Write(probeOptions(s.Addr("tcp"), local, "TCP", "open1")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-p.msgs:
		if res, ok := m.(*sip.Response); !ok || res.StatusCode != 200 {
			t.Fatalf("got %v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	_ = s.Close()
	select {
	case <-p.closed: // the server closed the connection
	case <-time.After(10 * time.Second):
		t.Fatal("connection not closed by Close")
	}
	// the reader's release follows its close at once; give it tortureQuiet to show up
	quiet := time.After(tortureQuiet)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-tick.C:
		case <-quiet:
			done = true
		}
		for _, e := range logs.All() {
			if e.ContextMap()["dst"] == local && strings.Contains(e.Message, "went negative") {
				t.Fatalf("%s %v", e.Message, e.ContextMap())
			}
		}
	}
}
