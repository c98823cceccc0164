package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// InboundCall is a new INVITE on the UAS side, before and while it is answered.
type InboundCall struct {
	srv   *Server
	req   *sip.Request // as received
	tx    sip.ServerTransaction
	sess  *sipgo.DialogServerSession
	id    identity
	offer []byte
	src   netip.AddrPort
	st    timerParams

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	state    callState
	done     chan struct{}
	settled  chan struct{} // final response sent or call gone: releases the sipgo handler goroutine
	err      error
	released bool // concurrency slot given back (or handed to the dialog)
}

type callState int

const (
	callPending callState = iota
	callAnswering
	callFinal
)

func (s *Server) onNewInvite(req *sip.Request, tx sip.ServerTransaction) {
	if max := s.cfg.MaxConcurrentCalls; max > 0 && int(s.active.Load()) >= max {
		s.respond(req, tx, 503, "Too Many Calls", nil, retryAfter(5))
		return
	}
	id, ok := s.authenticateInvite(req, tx)
	if !ok {
		return
	}
	offer, err := sdpBody(req)
	if err != nil {
		s.respond(req, tx, 415, "", nil, sip.NewHeader("Accept", "application/sdp"))
		return
	}
	if offer != nil {
		if _, err := parseSDP(offer); err != nil {
			s.respond(req, tx, 400, "Malformed SDP", nil)
			return
		}
	}
	st, code := s.negotiateTimer(req)
	if code != 0 {
		s.respond(req, tx, code, "", nil, sip.NewHeader("Min-SE", strconv.Itoa(int(s.cfg.SessionTimer.MinSE/time.Second))))
		return
	}
	hp := s.handler.Load()
	if hp == nil {
		s.respond(req, tx, 480, "No Handler", nil)
		return
	}
	dua := s.dialogUA(req.Transport())
	if dua == nil {
		s.respond(req, tx, 500, "", nil)
		return
	}
	sess, err := dua.ReadInvite(req, tx)
	if err != nil {
		s.respond(req, tx, 400, "Bad INVITE", nil)
		return
	}
	if max := s.cfg.MaxConcurrentCalls; max > 0 && int(s.active.Add(1)) > max {
		s.active.Add(-1)
		s.respond(req, tx, 503, "Too Many Calls", nil, retryAfter(5))
		return
	} else if max <= 0 {
		s.active.Add(1)
	}
	c := &InboundCall{
		srv: s, req: req, tx: tx, sess: sess, id: id, offer: offer, src: sourceAddr(req), st: st,
		done: make(chan struct{}), settled: make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.release()
		c.cancel()
		s.respond(req, tx, 503, "Shutting Down", nil)
		return
	}
	s.calls[c] = struct{}{}
	s.mu.Unlock()

	// Hook the transaction before the 100 Trying lets the caller CANCEL, and notice a
	// CANCEL or transaction end that came even earlier (the hooks then report false):
	// otherwise the call would ring on unnoticed.
	hooked := tx.OnCancel(func(*sip.Request) {
		// sipgo's transaction layer has answered the CANCEL 200 and sends 487 now
		s.obs.Response(200)
		s.obs.Response(487)
		c.finish(ErrCanceled, true)
	})
	if !hooked {
		c.finish(ErrCanceled, true)
	}
	if !tx.OnTerminate(func(string, error) { c.finish(errTxEnded, true) }) {
		c.finish(errTxEnded, true)
	}
	if c.state0() == callPending {
		s.respond(req, tx, 100, "Trying", nil)
	}

	h := *hp
	if !s.goOwned(func() {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("panic in HandleInvite", zap.Any("panic", r), zap.String("sip_call_id", c.CallID()))
				_ = c.Reject(500, "Internal Error")
			}
		}()
		h.HandleInvite(c.ctx, c)
	}) {
		_ = c.Reject(503, "Shutting Down")
	}
	ring := time.NewTimer(s.cfg.MaxRingTime)
	defer ring.Stop()
	select {
	case <-c.settled:
	case <-s.ctx.Done():
	case <-ring.C:
		s.log.Info("call not answered in MaxRingTime", zap.String("sip_call_id", c.CallID()))
		_ = c.Reject(480, "No Answer")
	}
}

var errTxEnded = errors.New("sip: INVITE transaction ended")

// state0 is the call's current state.
func (c *InboundCall) state0() callState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// release gives the MaxConcurrentCalls slot back once.
func (c *InboundCall) release() {
	c.mu.Lock()
	r := c.released
	c.released = true
	c.mu.Unlock()
	if !r {
		c.srv.active.Add(-1)
	}
}

// finish ends the call before a dialog exists (cancel, reject, tx end).
// onlyPending: ignore if an answer is under way.
func (c *InboundCall) finish(err error, onlyPending bool) {
	c.mu.Lock()
	if c.state == callFinal || (onlyPending && c.state != callPending) {
		c.mu.Unlock()
		return
	}
	c.state = callFinal
	c.err = err
	c.mu.Unlock()
	c.release()
	c.cancel()
	c.srv.mu.Lock()
	delete(c.srv.calls, c)
	c.srv.mu.Unlock()
	close(c.done)
	close(c.settled)
}

func (c *InboundCall) CallID() string { return c.req.CallID().Value() }

// From returns the caller's URI (From header address).
func (c *InboundCall) From() string { return c.req.From().Address.String() }

// FromDisplay returns the display name of the From header.
func (c *InboundCall) FromDisplay() string { return c.req.From().DisplayName }

// To returns the To URI.
func (c *InboundCall) To() string { return c.req.To().Address.String() }

// RequestURI returns the Request-URI.
func (c *InboundCall) RequestURI() string { return c.req.Recipient.String() }

// AuthUser is the digest-authenticated user ("" for trunk calls).
func (c *InboundCall) AuthUser() string {
	if c.id.user != nil {
		return c.id.user.Username
	}
	return ""
}

// Trunk is the name of the trunk the call came from ("" for users).
func (c *InboundCall) Trunk() string {
	if c.id.trunk != nil {
		return c.id.trunk.Name
	}
	return ""
}

// Source is the address the INVITE came from.
func (c *InboundCall) Source() netip.AddrPort { return c.src }

// Header returns the first value of a header of the INVITE ("" if absent).
func (c *InboundCall) Header(name string) string {
	if h := c.req.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// Offer is the SDP offer of the INVITE; nil for a late offer (then Answer's sdp is our offer).
func (c *InboundCall) Offer() []byte { return c.offer }

// Progress sends a provisional response (180 or 183), optionally with early-media SDP.
func (c *InboundCall) Progress(ctx context.Context, code int, sdp []byte) error {
	if code <= 100 || code >= 200 {
		return fmt.Errorf("sip: progress code %d: %w", code, ErrBadRequest)
	}
	c.mu.Lock()
	st, err := c.state, c.err
	c.mu.Unlock()
	if st == callFinal {
		if err == nil {
			err = ErrAlreadyAnswered
		}
		return err
	}
	res := sip.NewResponseFromRequest(c.sess.InviteRequest, code, StatusText(code), sdp)
	res.AppendHeader(sip.HeaderClone(&c.srv.dialogUA(c.req.Transport()).ContactHDR))
	if len(sdp) > 0 {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	if err := c.tx.Respond(res); err != nil {
		return fmt.Errorf("sip: progress: %w", err)
	}
	c.srv.obs.Response(code)
	return nil
}

// Reject sends a final error response (300-699) with a Reason header
// SIP;cause=<code>;text="<reason>" (none when reason is empty).
func (c *InboundCall) Reject(code int, reason string) error {
	if code < 300 || code > 699 {
		code = 500
	}
	hdr := ""
	if reason != "" {
		hdr = fmt.Sprintf("SIP;cause=%d;text=%q", code, sanitizeReason(reason))
	}
	return c.reject(code, hdr, reason)
}

// RejectWithReason is Reject with a full RFC 3326 Reason header value supplied by
// the caller, e.g. `Q.850;cause=17;text="User busy"` or `SIP;cause=486;text="Busy Here"`
// (empty: no Reason header). A malformed value (no protocol token or numeric cause,
// control characters, unbalanced quotes) returns an error wrapping ErrBadReason and
// sends nothing: the call stays pending.
func (c *InboundCall) RejectWithReason(code int, reasonHeader string) error {
	if code < 300 || code > 699 {
		code = 500
	}
	if reasonHeader != "" {
		if err := checkReasonHeader(reasonHeader); err != nil {
			return err
		}
	}
	return c.reject(code, reasonHeader, reasonHeader)
}

// reject sends the final error response; hdr is the Reason header value ("" = none),
// why goes into the StatusError reported by Err; extra headers are appended.
func (c *InboundCall) reject(code int, hdr, why string, extra ...sip.Header) error {
	c.mu.Lock()
	if c.state != callPending {
		c.mu.Unlock()
		return ErrAlreadyAnswered
	}
	c.state = callAnswering
	c.mu.Unlock()
	phrase := StatusText(code)
	res := sip.NewResponseFromRequest(c.sess.InviteRequest, code, phrase, nil)
	if hdr != "" {
		res.AppendHeader(sip.NewHeader("Reason", hdr))
	}
	for _, h := range extra {
		res.AppendHeader(h)
	}
	if code == 503 || code == 486 || code == 480 {
		res.AppendHeader(retryAfter(30))
	}
	res.AppendHeader(sip.NewHeader("Server", c.srv.cfg.UserAgent))
	err := c.tx.Respond(res)
	if err == nil {
		c.srv.obs.Response(code)
	}
	c.finish(&StatusError{Code: code, Reason: why}, false)
	if err != nil {
		return fmt.Errorf("sip: reject: %w", err)
	}
	return nil
}

func sanitizeReason(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 128 {
		s = s[:128]
	}
	return s
}

// Done is closed when the call is over before/without a dialog (CANCEL → 487, Reject,
// transaction end) or when Answer has established the dialog.
func (c *InboundCall) Done() <-chan struct{} { return c.done }

// Err tells why Done closed: ErrCanceled, a *StatusError after Reject, nil after a
// successful Answer.
func (c *InboundCall) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Answer sends 200 OK with sdp (the answer, or our offer for a late-offer INVITE),
// retransmits it until the ACK arrives (UDP) and returns the established dialog.
// Without ACK after 64*T1 the dialog is ended with BYE and ErrNoAck returned.
func (c *InboundCall) Answer(ctx context.Context, sdp []byte) (*Dialog, error) {
	if len(sdp) == 0 {
		return nil, fmt.Errorf("sip: answer needs SDP: %w", ErrNotAcceptable)
	}
	c.mu.Lock()
	if c.state != callPending {
		err := c.err
		c.mu.Unlock()
		if err == nil {
			err = ErrAlreadyAnswered
		}
		return nil, err
	}
	c.state = callAnswering
	c.mu.Unlock()
	s := c.srv

	inv := c.sess.InviteRequest
	localTag, _ := inv.To().Params.Get("tag")
	remoteTag, _ := inv.From().Params.Get("tag")
	d := s.newDialog(c.sess, true, dialogKey(inv.CallID().Value(), localTag, remoteTag), inv.CallID().Value())
	d.localSDP = sdp
	d.remoteSDP = c.offer
	d.st = c.st
	d.peerAllowsUpdate = headerHasToken(inv, "Allow", "UPDATE")
	d.onEnd = append(d.onEnd, c.release, c.cancel)

	res := sip.NewResponseFromRequest(inv, 200, "OK", sdp)
	res.AppendHeader(sip.HeaderClone(&c.srv.dialogUA(c.req.Transport()).ContactHDR))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	for _, h := range s.capabilityHeaders() {
		res.AppendHeader(h)
	}
	for _, h := range c.st.responseHeaders() {
		res.AppendHeader(h)
	}
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	c.sess.InviteResponse = res

	if !s.addDialog(d) {
		c.finish(ErrClosed, false)
		return nil, ErrClosed
	}
	ackCh := d.expectAck(inv.CSeq().SeqNo)
	if err := c.tx.Respond(res); err != nil {
		s.removeDialog(d)
		c.finish(ErrCanceled, false)
		d.terminate(ErrCanceled, false)
		return nil, fmt.Errorf("sip: answer: %w", err)
	}
	s.obs.Response(200)
	// final response sent: the dialog owns the slot now
	c.mu.Lock()
	c.state = callFinal
	c.mu.Unlock()
	s.mu.Lock()
	delete(s.calls, c)
	s.mu.Unlock()
	close(c.done)
	close(c.settled)
	d.startEvents()

	ack, err := d.waitAck(ctx, res, ackCh, c.tx.Acks())
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// The caller gave up and never gets the dialog, so nobody could end it:
			// keep waiting for the ACK (no BYE before it, RFC 3261 §15), then hang up.
			abandoned := fmt.Errorf("sip: answer abandoned: %w", err)
			if !s.goOwned(func() {
				if _, err := d.waitAck(s.ctx, res, ackCh, c.tx.Acks()); err == nil {
					hctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
					defer cancel()
					_ = d.hangup(hctx, "answer abandoned", abandoned)
				}
			}) {
				d.terminate(ErrClosed, false)
			}
		}
		return nil, err
	}
	if c.offer == nil {
		ans, _ := sdpBody(ack)
		if len(ans) == 0 {
			s.log.Info("late offer: ACK without answer", zap.String("sip_call_id", d.callID))
			_ = d.hangup(context.Background(), "ACK without SDP answer", ErrNotAcceptable)
			return nil, fmt.Errorf("sip: ACK without answer: %w", ErrNotAcceptable)
		}
		d.mu.Lock()
		d.remoteSDP = ans
		d.mu.Unlock()
	}
	d.startTimer()
	return d, nil
}
