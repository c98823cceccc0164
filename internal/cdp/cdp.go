// Package cdp is test-support code: a tiny Chrome DevTools Protocol client that starts
// headless Chromium on loopback (127.0.0.1 only), attaches to a page and sends commands.
// No npm needed. It is used by the admin and e2e browser tests.
package cdp

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

// Flags keep Chromium off the network (only 127.0.0.1) and quiet.
var Flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-dev-shm-usage", "--disable-default-apps", "--disable-domain-reliability",
	"--disable-client-side-phishing-detection", "--no-pings", "--disable-extensions",
	"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
	"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
	"--window-size=1280,900",
}

var reDevTools = regexp.MustCompile(`DevTools listening on (ws://127\.0\.0\.1:\d+/devtools/browser/\S+)`)

// Event is one CDP event.
type Event struct {
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
	SessionID string          `json:"sessionId"`
}

type message struct {
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

// Browser is a running Chromium with a CDP connection.
type Browser struct {
	t    *testing.T
	cmd  *exec.Cmd
	conn *websocket.Conn

	wmu    sync.Mutex // serialises writes
	mu     sync.Mutex
	nextID int64
	wait   map[int64]chan message
	events chan Event    // every event; the test reads them (buffered, dropped when full)
	done   chan struct{} // reader ended
	stderr strings.Builder
}

// Start launches Chromium (bin) with a fresh profile in a temp dir and connects to it.
// Cleanup closes it and waits for the process (group) to exit.
func Start(t *testing.T, bin string) *Browser {
	t.Helper()
	args := append(append([]string(nil), Flags...), "--user-data-dir="+t.TempDir(), "about:blank")
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // own group: Cleanup ends all its children
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &Browser{t: t, cmd: cmd, wait: map[int64]chan message{}, events: make(chan Event, 256), done: make(chan struct{})}

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
			_, _ = b.Call(ctx, "", "Browser.close", nil)
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
func (b *Browser) read() {
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
		var m message
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
		case b.events <- Event{Method: m.Method, Params: m.Params, SessionID: m.SessionID}:
		default: // nobody cares about this one
		}
	}
}

// Call sends a command (to sessionID, "" = browser) and waits for its result.
func (b *Browser) Call(ctx context.Context, sessionID, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan message, 1)
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

// Page is one attached tab.
type Page struct {
	b       *Browser
	session string
}

// NewPage opens a tab and attaches to it (flat session) with Page and Runtime enabled.
func (b *Browser) NewPage(ctx context.Context) (*Page, error) {
	res, err := b.Call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"})
	if err != nil {
		return nil, err
	}
	var tg struct {
		TargetID string `json:"targetId"`
	}
	if err := json.Unmarshal(res, &tg); err != nil {
		return nil, err
	}
	res, err = b.Call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": tg.TargetID, "flatten": true})
	if err != nil {
		return nil, err
	}
	var at struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(res, &at); err != nil {
		return nil, err
	}
	p := &Page{b: b, session: at.SessionID}
	for _, m := range []string{"Page.enable", "Runtime.enable"} {
		if _, err := b.Call(ctx, p.session, m, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// DrainEvents forgets the events received so far.
func (p *Page) DrainEvents() {
	for {
		select {
		case <-p.b.events:
		default:
			return
		}
	}
}

// WaitLoad waits for the page's next load event.
func (p *Page) WaitLoad(ctx context.Context) error {
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

// Navigate loads url and waits for the load event.
func (p *Page) Navigate(ctx context.Context, url string) error {
	p.DrainEvents()
	res, err := p.b.Call(ctx, p.session, "Page.navigate", map[string]any{"url": url})
	if err != nil {
		return err
	}
	var nr struct {
		ErrorText string `json:"errorText"`
	}
	if json.Unmarshal(res, &nr) == nil && nr.ErrorText != "" {
		return fmt.Errorf("navigate %s: %s", url, nr.ErrorText)
	}
	return p.WaitLoad(ctx)
}

// Eval runs a JS expression and decodes its (JSON-serialisable) value into out (may be nil).
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	res, err := p.b.Call(ctx, p.session, "Runtime.evaluate", map[string]any{
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

// Act runs JS that starts a navigation (a click, a form submit) and waits for the next load.
func (p *Page) Act(ctx context.Context, expr string) error {
	p.DrainEvents()
	if err := p.Eval(ctx, expr, nil); err != nil {
		return err
	}
	return p.WaitLoad(ctx)
}

// Screenshot returns a PNG of the viewport.
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	res, err := p.b.Call(ctx, p.session, "Page.captureScreenshot", map[string]any{"format": "png"})
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
