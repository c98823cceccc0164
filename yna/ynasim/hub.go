package ynasim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/ynagw/ynagw/yna"
)

// hub is the notification channel server (§6): capability URLs, sockets, the per-account
// message log with ack tracking, and the channel faults. One mutex guards all of it; each
// socket has a reader and a writer goroutine, both owned (and waited for) by the hub.
type hub struct {
	s  *Sim
	up websocket.Upgrader

	mu       sync.Mutex
	caps     map[string]*capability // capability token -> owner
	chans    map[*Account]*channel
	nextMsg  int64
	nextSock int
	closed   bool
	changed  chan struct{} // closed and replaced on every observable change
	prunedAt time.Time     // last sweep of retired channel URLs and ack records

	wg sync.WaitGroup
}

// capability is one channel URL handed out by account status.
type capability struct {
	url     string
	acct    *Account
	g       *grant
	valid   bool
	retired time.Time // when it was superseded or invalidated (zero: the account's newest)
}

// channel is the notification state of one account.
type channel struct {
	latest        *capability // newest channel URL handed out
	sockets       []*socket   // open sockets, oldest first; the newest receives notifications
	msgs          []*message  // notifications not acknowledged yet, in msgId order
	acked         int
	ackedIDs      map[string]time.Time // msgId -> when acked; kept for Config.Retention
	badAcks       int
	pings, pongs  int
	opened        int
	withholdPongs bool
	rawCRLF       bool
}

// message is one notification frame.
type message struct {
	id    string
	typ   string
	frame []byte
	sent  bool         // written to a socket's queue at least once
	onAck func(string) // called (without h.mu) when the client acknowledges it; may be nil
}

// socket is one open WebSocket of an account.
type socket struct {
	h    *hub
	id   int
	acct *Account
	g    *grant
	cap  *capability // the channel URL it was opened on
	conn *websocket.Conn
	send chan []byte
	done chan struct{}
	once sync.Once
}

func newHub(s *Sim) *hub {
	return &hub{
		s:       s,
		up:      websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		caps:    map[string]*capability{},
		chans:   map[*Account]*channel{},
		changed: make(chan struct{}),
	}
}

// chanLocked returns the account's channel state, creating it. Caller holds h.mu.
func (h *hub) chanLocked(acct *Account) *channel {
	ch := h.chans[acct]
	if ch == nil {
		ch = &channel{}
		h.chans[acct] = ch
	}
	return ch
}

// changedLocked wakes WaitChannel callers. Caller holds h.mu.
func (h *hub) changedLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// newChannelURL hands out a fresh capability URL for g's account (§5.4, §6.1). Older URLs
// stay valid until invalidated or unlinked (§18.4).
func (h *hub) newChannelURL(r *http.Request, g *grant) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("channel token: %w", err)
	}
	tok := strings.ToUpper(hex.EncodeToString(b))
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	u := scheme + "://" + r.Host + channelPathPrefix + tok + channelPathSuffix
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return "", errors.New("simulator closing")
	}
	now := h.s.now()
	c := &capability{url: u, acct: g.acct, g: g, valid: true}
	h.caps[tok] = c
	ch := h.chanLocked(g.acct)
	if old := ch.latest; old != nil && old.retired.IsZero() && supersededURLsExpire {
		old.retired = now
	}
	ch.latest = c
	h.pruneLocked(now)
	h.changedLocked()
	return u, nil
}

// handleUpgrade accepts a WebSocket at a channel URL; unknown or invalidated tokens get 404.
func (h *hub) handleUpgrade(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	h.mu.Lock()
	c := h.caps[tok]
	ok := c != nil && c.valid && !h.closed
	h.mu.Unlock()
	if !ok || h.s.grantRevoked(c.g) {
		writeError(w, http.StatusNotFound, "Entity does not exist")
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, http.StatusBadRequest, "WebSocket upgrade required")
		return
	}
	conn, err := h.up.Upgrade(w, r, nil)
	if err != nil {
		h.s.logf("channel upgrade: %v", err)
		return
	}
	conn.SetReadLimit(64 << 10)
	sk := &socket{h: h, acct: c.acct, g: c.g, cap: c, conn: conn,
		send: make(chan []byte, socketSendQueue), done: make(chan struct{})}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || !c.valid {
		_ = conn.Close()
		return
	}
	h.nextSock++
	sk.id = h.nextSock
	ch := h.chanLocked(c.acct)
	ch.sockets = append(ch.sockets, sk)
	ch.opened++
	for _, m := range ch.msgs {
		if !m.sent || h.s.cfg.RedeliverUnacked {
			if sk.enqueue(m.frame) {
				m.sent = true
			}
		}
	}
	h.wg.Add(2)
	go sk.writeLoop()
	go sk.readLoop()
	h.changedLocked()
	h.s.log.Debug("channel socket open", zap.String("account", c.acct.ID), zap.Int("socket", sk.id))
}

// enqueue queues a frame for writing; a socket whose queue is full is dropped. It may be
// called with h.mu held.
func (sk *socket) enqueue(frame []byte) bool {
	select {
	case <-sk.done:
		return false
	default:
	}
	select {
	case sk.send <- frame:
		return true
	default:
		sk.kill()
		return false
	}
}

// kill closes the connection without a close frame. Safe to call many times, with h.mu held.
func (sk *socket) kill() {
	sk.once.Do(func() {
		close(sk.done)
		_ = sk.conn.Close()
	})
}

// closeWith sends a close frame, then kills the socket.
func (sk *socket) closeWith(code int, text string) {
	_ = sk.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text),
		time.Now().Add(time.Second))
	sk.kill()
}

func (sk *socket) closed() bool {
	select {
	case <-sk.done:
		return true
	default:
		return false
	}
}

func (sk *socket) writeLoop() {
	defer sk.h.wg.Done()
	for {
		select {
		case f := <-sk.send:
			_ = sk.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := sk.conn.WriteMessage(websocket.TextMessage, f); err != nil {
				sk.kill()
				return
			}
		case <-sk.done:
			return
		}
	}
}

func (sk *socket) readLoop() {
	defer sk.h.wg.Done()
	defer sk.h.removeSocket(sk)
	defer sk.kill()
	for {
		mt, data, err := sk.conn.ReadMessage()
		if err != nil {
			return
		}
		if mt != websocket.TextMessage {
			// All frames are text frames (§6.1).
			sk.closeWith(websocket.CloseUnsupportedData, "text frames only")
			return
		}
		if yna.IsPing(data) {
			sk.h.onPing(sk, data)
			continue
		}
		id, err := yna.DecodeAck(data)
		if err != nil {
			sk.h.s.logf("channel: unexpected frame from account %s: %.80q", sk.acct.ID, data)
			sk.h.onBadFrame(sk)
			continue
		}
		sk.h.onAck(sk, id)
	}
}

func (h *hub) removeSocket(sk *socket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := h.chanLocked(sk.acct)
	for i, o := range ch.sockets {
		if o == sk {
			ch.sockets = append(ch.sockets[:i:i], ch.sockets[i+1:]...)
			break
		}
	}
	h.changedLocked()
	h.s.log.Debug("channel socket closed", zap.String("account", sk.acct.ID), zap.Int("socket", sk.id))
}

func (h *hub) onPing(sk *socket, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := h.chanLocked(sk.acct)
	ch.pings++
	if !ch.withholdPongs && sk.enqueue([]byte(pongFor(data))) {
		ch.pongs++
	}
	h.changedLocked()
}

func (h *hub) onBadFrame(sk *socket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.chanLocked(sk.acct).badAcks++
	h.changedLocked()
}

// onAck records {"nsAck":{"msgId":..}}. The msgId must echo ours with the same JSON type (a
// string, §6.4); anything else counts as a bad ack.
func (h *hub) onAck(sk *socket, raw json.RawMessage) {
	var id string
	ok := json.Unmarshal(raw, &id) == nil
	now := h.s.now()
	var onAck func(string)
	h.mu.Lock()
	ch := h.chanLocked(sk.acct)
	found := false
	if ok {
		for i, m := range ch.msgs {
			if m.id == id {
				ch.msgs = append(ch.msgs[:i:i], ch.msgs[i+1:]...)
				ch.acked++
				if ch.ackedIDs == nil {
					ch.ackedIDs = map[string]time.Time{}
				}
				ch.ackedIDs[id] = now
				found, onAck = true, m.onAck
				break
			}
		}
	}
	if !found {
		ch.badAcks++
		h.s.logf("channel: ack of unknown msgId %s from account %s", raw, sk.acct.ID)
	}
	h.pruneLocked(now)
	h.changedLocked()
	h.mu.Unlock()
	if onAck != nil {
		onAck(id)
	}
}

// pruneLocked drops, at most every pruneEvery, what Config.Retention no longer keeps:
// channel URLs retired that long ago on which no socket is open, and ack records that
// old. Caller holds h.mu.
func (h *hub) pruneLocked(now time.Time) {
	keep := h.s.cfg.Retention
	if now.Sub(h.prunedAt) < pruneEvery(keep) {
		return
	}
	h.prunedAt = now
	inUse := map[*capability]bool{}
	for _, ch := range h.chans {
		for _, sk := range ch.sockets {
			if !sk.closed() {
				inUse[sk.cap] = true
			}
		}
		for id, at := range ch.ackedIDs {
			if now.Sub(at) >= keep {
				delete(ch.ackedIDs, id)
			}
		}
	}
	for tok, c := range h.caps {
		if c.retired.IsZero() || inUse[c] || now.Sub(c.retired) < keep {
			continue
		}
		delete(h.caps, tok)
		if ch := h.chans[c.acct]; ch != nil && ch.latest == c {
			ch.latest = nil
		}
	}
}

// newestLocked returns the newest open socket, or nil. Caller holds h.mu.
func (ch *channel) newestLocked() *socket {
	for i := len(ch.sockets) - 1; i >= 0; i-- {
		if !ch.sockets[i].closed() {
			return ch.sockets[i]
		}
	}
	return nil
}

// notify sends one notification to the account's newest open socket, or queues it until a
// socket opens. It returns the msgId.
func (h *hub) notify(acct *Account, typ string, v any) string {
	return h.notifyAck(acct, typ, v, nil)
}

// notifyAck is notify with a function called (with the msgId) when the client acks it.
func (h *hub) notifyAck(acct *Account, typ string, v any, onAck func(string)) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextMsg++
	id := strconv.FormatInt(h.nextMsg, 10)
	frame, err := yna.EncodeFrame(id, typ, v)
	if err != nil {
		h.s.log.Error("ynasim: encode notification", zap.String("type", typ), zap.Error(err))
		return id
	}
	if h.closed {
		return id
	}
	ch := h.chanLocked(acct)
	if ch.rawCRLF {
		frame = rawCRLF(frame)
	}
	m := &message{id: id, typ: typ, frame: frame, onAck: onAck}
	ch.msgs = append(ch.msgs, m)
	if sk := ch.newestLocked(); sk != nil {
		m.sent = sk.enqueue(frame)
	}
	h.changedLocked()
	return id
}

// setToggles sets the pong and raw-CR/LF toggles of an account (nil = unchanged).
func (h *hub) setToggles(acct *Account, withholdPongs, raw *bool) {
	if withholdPongs == nil && raw == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := h.chanLocked(acct)
	if withholdPongs != nil {
		ch.withholdPongs = *withholdPongs
	}
	if raw != nil {
		ch.rawCRLF = *raw
	}
	h.changedLocked()
}

// invalidate makes every channel URL of acct unusable and closes its sockets.
func (h *hub) invalidate(acct *Account) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.s.now()
	for _, c := range h.caps {
		if c.acct == acct {
			c.valid = false
			if c.retired.IsZero() {
				c.retired = now
			}
		}
	}
	for _, sk := range h.chanLocked(acct).sockets {
		h.closeAsyncLocked(sk, websocket.CloseGoingAway, "channel invalidated")
	}
	h.changedLocked()
}

// revokeGrant invalidates the channel URLs fetched under g and closes their sockets (unlink).
func (h *hub) revokeGrant(g *grant) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.s.now()
	for _, c := range h.caps {
		if c.g == g {
			c.valid = false
			if c.retired.IsZero() {
				c.retired = now
			}
		}
	}
	for _, sk := range h.chanLocked(g.acct).sockets {
		if sk.g == g {
			h.closeAsyncLocked(sk, websocket.CloseNormalClosure, "unlinked")
		}
	}
	h.changedLocked()
}

// closeAsyncLocked sends a close frame and kills the socket in a hub-owned goroutine, so
// that h.mu is not held during the write. Caller holds h.mu.
func (h *hub) closeAsyncLocked(sk *socket, code int, text string) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		sk.closeWith(code, text)
	}()
}

// drop closes the account's sockets abruptly, like a network failure.
func (h *hub) drop(acct *Account) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, sk := range h.chanLocked(acct).sockets {
		sk.kill()
	}
	h.changedLocked()
}

// close kills every socket and waits for their goroutines.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	for _, ch := range h.chans {
		for _, sk := range ch.sockets {
			sk.kill()
		}
	}
	h.changedLocked()
	h.mu.Unlock()
	h.wg.Wait()
}

// ChannelInfo describes an account's notification channel (GET /sim/accounts/{id}/channel).
type ChannelInfo struct {
	// URL is the newest valid channel URL handed out, "" if none.
	URL string `json:"url"`
	// SocketsOpen counts open sockets; SocketsOpened counts all sockets ever accepted.
	SocketsOpen   int `json:"socketsOpen"`
	SocketsOpened int `json:"socketsOpened"`
	// Unacked lists the msgIds sent or queued but not acknowledged, oldest first; Queued the
	// subset not yet delivered to any socket.
	Unacked []string `json:"unacked"`
	Queued  []string `json:"queued"`
	// UnackedTypes gives the notification type of each Unacked entry.
	UnackedTypes []string `json:"unackedTypes"`
	// Acked counts acknowledged notifications; BadAcks counts acks of unknown msgIds and
	// unexpected frames.
	Acked   int `json:"acked"`
	BadAcks int `json:"badAcks"`
	// Pings counts PING frames received, Pongs the PONG frames sent.
	Pings int `json:"pings"`
	Pongs int `json:"pongs"`
	// WithholdPongs and RawCRLF are the current fault toggles.
	WithholdPongs bool `json:"withholdPongs"`
	RawCRLF       bool `json:"rawCRLF"`
}

func (h *hub) infoLocked(acct *Account) ChannelInfo {
	ch := h.chans[acct]
	info := ChannelInfo{Unacked: []string{}, Queued: []string{}, UnackedTypes: []string{}}
	if ch == nil {
		return info
	}
	if ch.latest != nil && ch.latest.valid {
		info.URL = ch.latest.url
	}
	for _, sk := range ch.sockets {
		if !sk.closed() {
			info.SocketsOpen++
		}
	}
	info.SocketsOpened = ch.opened
	for _, m := range ch.msgs {
		info.Unacked = append(info.Unacked, m.id)
		info.UnackedTypes = append(info.UnackedTypes, m.typ)
		if !m.sent {
			info.Queued = append(info.Queued, m.id)
		}
	}
	info.Acked, info.BadAcks = ch.acked, ch.badAcks
	info.Pings, info.Pongs = ch.pings, ch.pongs
	info.WithholdPongs, info.RawCRLF = ch.withholdPongs, ch.rawCRLF
	return info
}

// Channel returns the state of an account's notification channel.
func (s *Sim) Channel(accountID string) (ChannelInfo, error) {
	acct := s.account(accountID)
	if acct == nil {
		return ChannelInfo{}, fmt.Errorf("%w: account %s", ErrNotFound, accountID)
	}
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.hub.infoLocked(acct), nil
}

// ErrClosed is returned by waits aborted because the Sim was closed.
var ErrClosed = errors.New("ynasim: closed")

// WaitChannel waits until cond holds for the account's channel state and returns that state.
// It returns ctx.Err() or ErrClosed (with the last state) if that comes first.
func (s *Sim) WaitChannel(ctx context.Context, accountID string, cond func(ChannelInfo) bool) (ChannelInfo, error) {
	acct := s.account(accountID)
	if acct == nil {
		return ChannelInfo{}, fmt.Errorf("%w: account %s", ErrNotFound, accountID)
	}
	for {
		s.hub.mu.Lock()
		info := s.hub.infoLocked(acct)
		changed := s.hub.changed
		s.hub.mu.Unlock()
		if cond(info) {
			return info, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return info, ctx.Err()
		case <-s.done:
			return info, ErrClosed
		}
	}
}

// notify sends one notification (typ e.g. yna.TypeSessionStatus, v its struct) as an nsMsg to
// the account's newest open socket; it is queued if none is open and tracked until acked.
// It returns the msgId.
func (s *Sim) notify(acct *Account, typ string, v any) string {
	return s.hub.notify(acct, typ, v)
}

// Notify sends an arbitrary notification to an account (see notify) and returns its msgId.
func (s *Sim) Notify(accountID, typ string, v any) (string, error) {
	acct := s.account(accountID)
	if acct == nil {
		return "", fmt.Errorf("%w: account %s", ErrNotFound, accountID)
	}
	if typ == "" {
		return "", fmt.Errorf("%w: notification type required", ErrInvalid)
	}
	return s.notify(acct, typ, v), nil
}

// Ack states returned by ackState.
const (
	AckQueued  = "queued"  // not yet delivered to any socket
	AckSent    = "sent"    // written to a socket, not acknowledged
	AckAcked   = "acked"   // acknowledged by the client
	AckUnknown = "unknown" // not a msgId of this account
)

// ackState reports the delivery state of a notification sent to acct with notify.
func (s *Sim) ackState(acct *Account, msgID string) string {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	ch := s.hub.chans[acct]
	if ch == nil {
		return AckUnknown
	}
	if _, ok := ch.ackedIDs[msgID]; ok {
		return AckAcked
	}
	for _, m := range ch.msgs {
		if m.id == msgID {
			if m.sent {
				return AckSent
			}
			return AckQueued
		}
	}
	return AckUnknown
}

// grantRevoked reports whether g was unlinked.
func (s *Sim) grantRevoked(g *grant) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return g.revoked
}

// rawCRLF turns the JSON escapes \r and \n inside strings into literal CR and LF bytes, the
// way a tolerant client must cope with (§6.3, §14 item 13). Other escapes are kept.
func rawCRLF(frame []byte) []byte {
	out := make([]byte, 0, len(frame))
	inStr := false
	for i := 0; i < len(frame); i++ {
		b := frame[i]
		switch {
		case !inStr:
			if b == '"' {
				inStr = true
			}
		case b == '"':
			inStr = false
		case b == '\\' && i+1 < len(frame):
			switch frame[i+1] {
			case 'r':
				out = append(out, '\r')
				i++
				continue
			case 'n':
				out = append(out, '\n')
				i++
				continue
			}
			out = append(out, b, frame[i+1])
			i++
			continue
		}
		out = append(out, b)
	}
	return out
}
