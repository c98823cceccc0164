package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// This file is a tiny Chrome DevTools Protocol client for the browser test: it starts
// headless Chromium on loopback, attaches to one page and sends commands. No npm needed.

// chromiumFlags keep Chromium off the network (only 127.0.0.1) and quiet.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-dev-shm-usage", "--disable-default-apps", "--disable-domain-reliability",
	"--disable-client-side-phishing-detection", "--no-pings", "--disable-extensions",
	"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
	"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
	"--window-size=1280,900",
}

var reDevTools = regexp.MustCompile(`DevTools listening on (ws://127\.0\.0\.1:\d+/devtools/browser/\S+)`)

// cdpEvent is one CDP event.
type cdpEvent struct {
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
	SessionID string          `json:"sessionId"`
}

type cdpMsg struct {
	ID        int64           `json:"id"`
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
	SessionID string          `json:"sessionId"`
	Result    json.RawMessage `json:"result"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// browser is a running Chromium with a CDP connection.
type browser struct {
	t    *testing.T
	cmd  *exec.Cmd
	conn *websocket.Conn

	wmu    sync.Mutex // serialises writes
	mu     sync.Mutex
	nextID int64
	wait   map[int64]chan cdpMsg
	events chan cdpEvent // every event; the test reads them (buffered, dropped when full)
	done   chan struct{} // reader ended
	stderr strings.Builder
}

// startBrowser launches Chromium (bin) with a fresh profile in a temp dir and connects to it.
// Cleanup closes it and waits for the process (group) to exit.
func startBrowser(t *testing.T, bin string) *browser {
	t.Helper()
	args := append(append([]string(nil), chromiumFlags...), "--user-data-dir="+t.TempDir(), "about:blank")
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // own group: Cleanup ends all its children
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, cmd: cmd, wait: map[int64]chan cdpMsg{}, events: make(chan cdpEvent, 256), done: make(chan struct{})}

	wsURL := make(chan string, 1)
	stderrDone := make(chan struct{})
	var logMu sync.Mutex
	go func() { // owned: ends at EOF, i.e. when the process group is gone
		defer close(stderrDone)
		sc := bufio.NewScanner(errPipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			if b.stderr.Len() < 64<<10 {
				b.stderr.WriteString(line + "\n")
			}
			logMu.Unlock()
			if m := reDevTools.FindStringSubmatch(line); m != nil {
				select {
				case wsURL <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, errPipe)
	}()
	exited := make(chan error, 1)
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		// The group may have stragglers holding stderr; make sure they are gone.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-stderrDone
	}
	go func() { <-stderrDone; exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if b.conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = b.call(ctx, "", "Browser.close", nil)
			cancel()
			_ = b.conn.Close()
			<-b.done
		}
		stop()
		if t.Failed() {
			logMu.Lock()
			t.Logf("chromium stderr:\n%s", b.stderr.String())
			logMu.Unlock()
		}
	})
	var u string
	select {
	case u = <-wsURL:
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not print its DevTools URL")
	}
	conn, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial DevTools: %v", err)
	}
	conn.SetReadLimit(64 << 20)
	b.conn = conn
	go b.read()
	return b
}

// read dispatches replies and events until the connection closes.
func (b *browser) read() {
	defer close(b.done)
	for {
		_, data, err := b.conn.ReadMessage()
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.wait {
				close(ch)
				delete(b.wait, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMsg
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.wait[m.ID]
			delete(b.wait, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		select {
		case b.events <- cdpEvent{Method: m.Method, Params: m.Params, SessionID: m.SessionID}:
		default: // nobody cares about this one
		}
	}
}

// call sends a command (to sessionID, "" = browser) and waits for its result.
func (b *browser) call(ctx context.Context, sessionID, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMsg, 1)
	b.wait[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if sessionID != "" {
		msg["sessionId"] = sessionID
	}
	b.wmu.Lock()
	err := b.conn.WriteJSON(msg)
	b.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: connection closed", method)
		}
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %d %s", method, m.Error.Code, m.Error.Message)
		}
		return m.Result, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.wait, id)
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// page is one attached tab.
type page struct {
	b       *browser
	session string
}

// newPage opens a tab and attaches to it (flat session) with Page and Runtime enabled.
func (b *browser) newPage(ctx context.Context) (*page, error) {
	res, err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"})
	if err != nil {
		return nil, err
	}
	var tg struct {
		TargetID string `json:"targetId"`
	}
	if err := json.Unmarshal(res, &tg); err != nil {
		return nil, err
	}
	res, err = b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": tg.TargetID, "flatten": true})
	if err != nil {
		return nil, err
	}
	var at struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(res, &at); err != nil {
		return nil, err
	}
	p := &page{b: b, session: at.SessionID}
	for _, m := range []string{"Page.enable", "Runtime.enable"} {
		if _, err := b.call(ctx, p.session, m, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// drainEvents forgets the events received so far.
func (p *page) drainEvents() {
	for {
		select {
		case <-p.b.events:
		default:
			return
		}
	}
}

// waitLoad waits for the page's next load event.
func (p *page) waitLoad(ctx context.Context) error {
	for {
		select {
		case ev := <-p.b.events:
			if ev.SessionID == p.session && ev.Method == "Page.loadEventFired" {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("waiting for page load: %w", ctx.Err())
		}
	}
}

// navigate loads url and waits for the load event.
func (p *page) navigate(ctx context.Context, url string) error {
	p.drainEvents()
	res, err := p.b.call(ctx, p.session, "Page.navigate", map[string]any{"url": url})
	if err != nil {
		return err
	}
	var nr struct {
		ErrorText string `json:"errorText"`
	}
	if json.Unmarshal(res, &nr) == nil && nr.ErrorText != "" {
		return fmt.Errorf("navigate %s: %s", url, nr.ErrorText)
	}
	return p.waitLoad(ctx)
}

// eval runs a JS expression and decodes its (JSON-serialisable) value into out (may be nil).
func (p *page) eval(ctx context.Context, expr string, out any) error {
	res, err := p.b.call(ctx, p.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		return fmt.Errorf("js %q: %s %s", expr, r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	if out == nil {
		return nil
	}
	if len(r.Result.Value) == 0 {
		return errors.New("js: no value")
	}
	return json.Unmarshal(r.Result.Value, out)
}

// act runs JS that starts a navigation (a click, a form submit) and waits for the next load.
func (p *page) act(ctx context.Context, expr string) error {
	p.drainEvents()
	if err := p.eval(ctx, expr, nil); err != nil {
		return err
	}
	return p.waitLoad(ctx)
}

// screenshot returns a PNG of the viewport.
func (p *page) screenshot(ctx context.Context) ([]byte, error) {
	res, err := p.b.call(ctx, p.session, "Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		return nil, err
	}
	var r struct {
		Data []byte `json:"data"` // base64 in JSON → []byte decodes it
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	return r.Data, nil
}
