package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// offerAnswerTimeout bounds how long we wait for the user to answer an OfferEvent.
const offerAnswerTimeout = 30 * time.Second

// dialogSession is what sipgo's DialogServerSession and DialogClientSession share:
// in-dialog request building (CSeq, Route, From/To, destination).
type dialogSession interface {
	TransactionRequest(ctx context.Context, req *sip.Request) (sip.ClientTransaction, error)
	WriteRequest(req *sip.Request) error
}

type oaState int

const (
	oaIdle        oaState = iota
	oaRemoteOffer         // the peer offered, we owe the answer
	oaLocalOffer          // we offered, waiting for the answer
)

// Dialog is an established INVITE dialog, UAS (from InboundCall.Answer) or UAC
// (created by the outbound code through (*Server).newClientDialog).
//
// Offer/answer is an explicit state machine: every offer from the peer is handed to
// the user as an OfferEvent and answered by the user (never from a cached SDP).
// A re-INVITE/UPDATE offer that arrives while our own offer is outstanding gets 491;
// a re-INVITE while a previous one is still in progress gets 500 with Retry-After.
type Dialog struct {
	srv          *Server
	sess         dialogSession
	uas          bool
	key          string
	callID       string
	remoteTarget sip.Uri

	mu               sync.Mutex
	localSDP         []byte
	remoteSDP        []byte
	oa               oaState
	inInvite         bool // peer's re-INVITE not yet finally answered
	outInvite        bool // our re-INVITE/UPDATE outstanding
	remoteCSeq       uint32
	acks             map[uint32]chan *sip.Request
	sentAcks         map[uint32]*sip.Request
	st               timerParams
	peerAllowsUpdate bool
	lastRefresh      time.Time
	hangingUp        bool // our BYE is out (or being sent): no second BYE, no new offers
	ended            bool
	err              error
	onEnd            []func()

	timerKick chan struct{}
	done      chan struct{}
	evq       *eventQueue
}

func (s *Server) newDialog(sess dialogSession, uas bool, key, callID string) *Dialog {
	d := &Dialog{
		srv: s, sess: sess, uas: uas, key: key, callID: callID,
		acks: map[uint32]chan *sip.Request{}, sentAcks: map[uint32]*sip.Request{},
		timerKick: make(chan struct{}, 1), done: make(chan struct{}), evq: newEventQueue(),
		lastRefresh: time.Now(),
	}
	if ss, ok := sess.(*sipgo.DialogServerSession); ok {
		d.remoteCSeq = ss.InviteRequest.CSeq().SeqNo
		if c := ss.InviteRequest.Contact(); c != nil {
			d.remoteTarget = *c.Address.Clone()
		}
	}
	return d
}

// newClientDialog wraps an answered and ACKed outbound INVITE (UAC side) into a
// Dialog, registers it for in-dialog requests and starts its event pump and
// session timer. localSDP is the SDP we offered (or answered in the ACK), remoteSDP
// the peer's. For use by uac.go / fork.go.
func (s *Server) newClientDialog(sess *sipgo.DialogClientSession, localSDP, remoteSDP []byte) (*Dialog, error) {
	inv, res := sess.InviteRequest, sess.InviteResponse
	if inv == nil || res == nil || inv.CallID() == nil || inv.From() == nil || res.To() == nil {
		return nil, errors.New("sip: client dialog without INVITE/response")
	}
	lt, _ := inv.From().Params.Get("tag")
	rt, _ := res.To().Params.Get("tag")
	d := s.newDialog(sess, false, dialogKey(inv.CallID().Value(), lt, rt), inv.CallID().Value())
	d.localSDP, d.remoteSDP = localSDP, remoteSDP
	if c := res.Contact(); c != nil {
		d.remoteTarget = *c.Address.Clone()
	} else {
		d.remoteTarget = *inv.Recipient.Clone()
	}
	d.peerAllowsUpdate = headerHasToken(res, "Allow", "UPDATE")
	d.st.updateFromResponse(res, s.cfg.SessionTimer.MinSE)
	if !s.addDialog(d) {
		return nil, ErrClosed
	}
	d.startEvents()
	d.startTimer()
	return d, nil
}

// CallID returns the dialog's Call-ID.
func (d *Dialog) CallID() string { return d.callID }

// Events delivers dialog events; TerminatedEvent is the last one, after which the
// channel is closed. OfferEvents must be answered (Respond).
func (d *Dialog) Events() <-chan Event { return d.evq.out }

// RemoteSDP is the peer's SDP of the last completed offer/answer exchange.
func (d *Dialog) RemoteSDP() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remoteSDP
}

// LocalSDP is our SDP of the last completed offer/answer exchange.
func (d *Dialog) LocalSDP() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.localSDP
}

// Done is closed when the dialog has ended.
func (d *Dialog) Done() <-chan struct{} { return d.done }

// Err tells why the dialog ended (nil while running and after a normal BYE).
func (d *Dialog) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

func (d *Dialog) startEvents() {
	if !d.srv.goOwned(func() { d.evq.run(d.srv.ctx) }) {
		d.evq.push(&TerminatedEvent{Err: ErrClosed})
		go d.evq.run(d.srv.ctx) // ctx already cancelled: returns at once
	}
}

// terminate ends the dialog once: removes it, queues TerminatedEvent, closes Done.
func (d *Dialog) terminate(err error, _ bool) {
	d.mu.Lock()
	if d.ended {
		d.mu.Unlock()
		return
	}
	d.ended = true
	d.err = err
	fns := d.onEnd
	d.mu.Unlock()
	d.srv.removeDialog(d)
	d.evq.push(&TerminatedEvent{Err: err})
	close(d.done)
	for _, f := range fns {
		f()
	}
	d.srv.log.Debug("dialog ended", zap.String("sip_call_id", d.callID), zap.Error(err))
}

// Hangup sends BYE with a Reason header and ends the dialog (TerminatedEvent{nil}).
// reason is either a full RFC 3326 Reason value (e.g. `Q.850;cause=16;text="Normal
// call clearing"`), sent as is, or plain text, sent as SIP;cause=200;text="<reason>".
func (d *Dialog) Hangup(ctx context.Context, reason string) error {
	return d.hangup(ctx, reason, nil)
}

// hangup sends the dialog's one BYE and ends it with endErr. The check and the
// hangingUp mark are one step under d.mu, so of concurrent callers (the bridge,
// the session timer, a missing ACK) exactly one sends BYE; the others wait for
// the dialog to end (or ctx) and send nothing.
func (d *Dialog) hangup(ctx context.Context, reason string, endErr error) error {
	d.mu.Lock()
	if d.ended {
		d.mu.Unlock()
		return nil
	}
	if d.hangingUp {
		d.mu.Unlock()
		select {
		case <-d.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("sip: BYE already in progress: %w", ctx.Err())
		}
	}
	d.hangingUp = true
	d.mu.Unlock()
	req := sip.NewRequest(sip.BYE, d.target())
	if reason != "" {
		req.AppendHeader(sip.NewHeader("Reason", hangupReason(reason)))
	}
	_, err := d.do(ctx, req)
	d.terminate(endErr, false)
	if err != nil {
		return fmt.Errorf("sip: BYE: %w", err)
	}
	return nil
}

// do sends an in-dialog request and waits for its final response.
func (d *Dialog) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	if req.Body() == nil {
		req.SetBody(nil)
	}
	tx, err := d.sess.TransactionRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, ErrRequestTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ReInvite sends sdp as a new offer in a re-INVITE (e.g. hold/resume toward the
// phone) and returns the peer's answer. A 491 comes back as a *StatusError with
// Retryable set; ErrOfferPending when another exchange is running.
func (d *Dialog) ReInvite(ctx context.Context, sdp []byte) ([]byte, error) {
	return d.sendOffer(ctx, sip.INVITE, sdp)
}

// Update sends sdp as a new offer in an UPDATE (RFC 3311) and returns the answer.
func (d *Dialog) Update(ctx context.Context, sdp []byte) ([]byte, error) {
	return d.sendOffer(ctx, sip.UPDATE, sdp)
}

func (d *Dialog) sendOffer(ctx context.Context, method sip.RequestMethod, sdp []byte) ([]byte, error) {
	if len(sdp) == 0 {
		return nil, fmt.Errorf("sip: %s needs an SDP offer", method)
	}
	d.mu.Lock()
	if d.ended || d.hangingUp {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	if d.oa != oaIdle || d.inInvite || d.outInvite {
		d.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrOfferPending, ErrRequestPending)
	}
	d.oa, d.outInvite = oaLocalOffer, true
	st := d.st
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.outInvite = false
		if d.oa == oaLocalOffer {
			d.oa = oaIdle
		}
		d.mu.Unlock()
	}()

	req := sip.NewRequest(method, d.target())
	req.SetBody(sdp)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Supported", supportedOpts))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	for _, h := range st.requestHeaders() {
		req.AppendHeader(h)
	}
	res, err := d.do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sip: %s: %w", method, err)
	}
	if method == sip.INVITE && res.IsSuccess() {
		d.sendAck(req, res)
	}
	switch {
	case res.IsSuccess():
		ans, _ := sdpBody(res)
		if len(ans) == 0 {
			d.refreshed() // the session is alive even if the answer is missing
			return nil, fmt.Errorf("sip: %s 2xx without SDP answer: %w", method, errNoAnswerSDP)
		}
		d.mu.Lock()
		d.localSDP, d.remoteSDP = sdp, ans
		d.st.updateFromResponse(res, d.srv.cfg.SessionTimer.MinSE)
		d.mu.Unlock()
		d.refreshed()
		return ans, nil
	case res.StatusCode == 481 || res.StatusCode == 408:
		d.terminate(&StatusError{Code: res.StatusCode, Reason: res.Reason}, false)
	}
	return nil, &StatusError{Code: res.StatusCode, Reason: res.Reason, Retryable: res.StatusCode == 491}
}

// sendAck acknowledges a 2xx to our re-INVITE and remembers the ACK for retransmitted 2xx.
func (d *Dialog) sendAck(inv *sip.Request, res *sip.Response) {
	target := d.target()
	if c := res.Contact(); c != nil {
		target = *c.Address.Clone()
	}
	ack := sip.NewRequest(sip.ACK, target)
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.ACK})
	ack.SetBody(nil)
	if err := d.sess.WriteRequest(ack); err != nil {
		d.srv.log.Debug("ACK failed", zap.Error(err))
	}
	d.mu.Lock()
	d.sentAcks = map[uint32]*sip.Request{inv.CSeq().SeqNo: ack}
	d.mu.Unlock()
}

// target is the remote target URI (Contact of the peer, refreshed by re-INVITE).
func (d *Dialog) target() sip.Uri {
	d.mu.Lock()
	defer d.mu.Unlock()
	return *d.remoteTarget.Clone()
}

// reAck resends the ACK for a retransmitted 2xx.
func (d *Dialog) reAck(cseq uint32) {
	d.mu.Lock()
	ack := d.sentAcks[cseq]
	d.mu.Unlock()
	if ack != nil {
		_ = d.srv.client.WriteRequest(ack.Clone(), func(*sipgo.Client, *sip.Request) error { return nil })
	}
}

// expectAck registers interest in the ACK for cseq (before sending the 2xx).
func (d *Dialog) expectAck(cseq uint32) chan *sip.Request {
	ch := make(chan *sip.Request, 1)
	d.mu.Lock()
	d.acks[cseq] = ch
	d.mu.Unlock()
	return ch
}

func (d *Dialog) onAck(req *sip.Request) {
	d.mu.Lock()
	ch := d.acks[req.CSeq().SeqNo]
	delete(d.acks, req.CSeq().SeqNo)
	d.mu.Unlock()
	if ch != nil {
		ch <- req
	}
}

// waitAck retransmits res (unreliable transports: T1 doubling up to T2) until the
// ACK arrives. After 64*T1 without ACK the dialog is ended with BYE (ErrNoAck).
// txAcks catches ACKs that (wrongly) reuse the INVITE's branch and so land in the
// INVITE server transaction instead of the ACK handler.
func (d *Dialog) waitAck(ctx context.Context, res *sip.Response, ackCh chan *sip.Request, txAcks <-chan *sip.Request) (*sip.Request, error) {
	reliable := sip.IsReliable(res.Transport())
	interval := sip.T1
	retrans := time.NewTimer(interval)
	defer retrans.Stop()
	giveUp := time.NewTimer(64 * sip.T1)
	defer giveUp.Stop()
	for {
		select {
		case ack := <-ackCh:
			return ack, nil
		case ack := <-txAcks:
			return ack, nil
		case <-retrans.C:
			if !reliable {
				if err := d.srv.ua.TransportLayer().WriteMsg(res); err != nil {
					d.srv.log.Debug("2xx retransmission failed", zap.Error(err))
				}
				interval = min(2*interval, sip.T2)
			}
			retrans.Reset(interval)
		case <-giveUp.C:
			d.srv.log.Info("no ACK for 2xx, ending dialog", zap.String("sip_call_id", d.callID))
			_ = d.hangup(context.Background(), "no ACK", ErrNoAck)
			return nil, ErrNoAck
		case <-d.done:
			return nil, fmt.Errorf("sip: dialog ended before ACK: %w", ErrClosed)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// checkCSeq enforces increasing remote CSeq numbers (RFC 3261 12.2.2).
func (d *Dialog) checkCSeq(req *sip.Request) bool {
	n := req.CSeq().SeqNo
	d.mu.Lock()
	defer d.mu.Unlock()
	if n < d.remoteCSeq {
		return false
	}
	d.remoteCSeq = n
	return true
}

// touch notes activity from the peer (currently informational).
func (d *Dialog) touch() {}

// refreshed restarts the session timer.
func (d *Dialog) refreshed() {
	d.mu.Lock()
	d.lastRefresh = time.Now()
	d.mu.Unlock()
	select {
	case d.timerKick <- struct{}{}:
	default:
	}
}

type offerReply struct {
	code int
	sdp  []byte
}

// askUser hands an offer to the user and waits for the Respond call.
func (d *Dialog) askUser(offer []byte, method string) offerReply {
	hold := NotHeld
	if len(offer) > 0 {
		hold, _ = DetectHold(offer)
	}
	d.mu.Lock()
	refresh := len(offer) > 0 && bytes.Equal(offer, d.remoteSDP)
	d.mu.Unlock()
	ch := make(chan offerReply, 1)
	var once sync.Once
	ev := &OfferEvent{SDP: offer, Hold: hold, Method: method, Refresh: refresh}
	ev.Respond = func(code int, sdp []byte) error {
		if code < 200 || code > 699 {
			return fmt.Errorf("sip: respond code %d: %w", code, ErrBadRequest)
		}
		if code < 300 && len(sdp) == 0 {
			return fmt.Errorf("sip: 2xx to an offer needs SDP: %w", ErrNotAcceptable)
		}
		sent := false
		once.Do(func() { ch <- offerReply{code: code, sdp: sdp}; sent = true })
		if !sent {
			return ErrAlreadyAnswered
		}
		return nil
	}
	if !d.evq.push(ev) {
		return offerReply{code: 481}
	}
	t := time.NewTimer(offerAnswerTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r
	case <-d.done:
		return offerReply{code: 487}
	case <-t.C:
		d.srv.log.Warn("offer not answered in time", zap.String("sip_call_id", d.callID))
		once.Do(func() {})
		return offerReply{code: 500}
	}
}

func (d *Dialog) okHeaders() []sip.Header {
	d.mu.Lock()
	st := d.st
	d.mu.Unlock()
	hs := []sip.Header{sip.HeaderClone(d.contactHeader())}
	hs = append(hs, d.srv.capabilityHeaders()...)
	return append(hs, st.responseHeaders()...)
}

func (d *Dialog) contactHeader() *sip.ContactHeader {
	if ss, ok := d.sess.(*sipgo.DialogServerSession); ok {
		if ua := d.srv.dialogUA(ss.InviteRequest.Transport()); ua != nil {
			return &ua.ContactHDR
		}
	}
	if cs, ok := d.sess.(*sipgo.DialogClientSession); ok && cs.UA != nil {
		return &cs.UA.ContactHDR
	}
	return &d.srv.dialogUA("udp").ContactHDR
}

func (d *Dialog) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	s := d.srv
	if !d.checkCSeq(req) {
		s.respond(req, tx, 500, "CSeq Out of Order", nil)
		return
	}
	offer, err := sdpBody(req)
	if err != nil {
		s.respond(req, tx, 415, "", nil, sip.NewHeader("Accept", "application/sdp"))
		return
	}
	if offer != nil {
		if _, err := parseSDP(offer); err != nil {
			s.respond(req, tx, 488, "Malformed SDP", nil)
			return
		}
	}
	d.mu.Lock()
	switch {
	case d.ended:
		d.mu.Unlock()
		s.respond(req, tx, 481, "", nil)
		return
	case d.inInvite || d.oa == oaRemoteOffer:
		d.mu.Unlock()
		s.respond(req, tx, 500, "Previous Request Pending", nil, retryAfter(1+int(time.Now().UnixNano()%5)))
		return
	case d.outInvite || d.oa == oaLocalOffer:
		d.mu.Unlock()
		s.respond(req, tx, 491, "", nil)
		return
	}
	d.inInvite = true
	if offer != nil {
		d.oa = oaRemoteOffer
	} else {
		d.oa = oaLocalOffer // our offer goes in the 2xx, the answer in the ACK
	}
	d.st.updateFromRequest(req, s.cfg.SessionTimer.MinSE)
	if c := req.Contact(); c != nil {
		d.remoteTarget = *c.Address.Clone() // target refresh
	}
	d.mu.Unlock()

	r := d.askUser(offer, "INVITE")
	if r.code >= 300 {
		d.mu.Lock()
		d.inInvite, d.oa = false, oaIdle
		d.mu.Unlock()
		s.respond(req, tx, r.code, "", nil)
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", r.sdp)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	for _, h := range d.okHeaders() {
		res.AppendHeader(h)
	}
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	ackCh := d.expectAck(req.CSeq().SeqNo)
	// The re-INVITE is complete once its 2xx is on the wire, and a fast peer may ACK
	// and send its next re-INVITE (e.g. resume right after hold) before this goroutine
	// runs again. So the state moves on BEFORE the 2xx is sent; a failed send rolls it
	// back. Otherwise that next re-INVITE would find inInvite set and get a spurious
	// 500 Previous Request Pending.
	d.mu.Lock()
	prevLocal, prevRemote := d.localSDP, d.remoteSDP
	d.inInvite = false
	if offer != nil {
		d.localSDP, d.remoteSDP, d.oa = r.sdp, offer, oaIdle
	}
	d.mu.Unlock()
	if err := tx.Respond(res); err != nil {
		d.mu.Lock()
		d.oa = oaIdle
		if offer != nil {
			d.localSDP, d.remoteSDP = prevLocal, prevRemote
		}
		d.mu.Unlock()
		return
	}
	s.obs.Response(200)
	d.refreshed()

	ack, err := d.waitAck(s.ctx, res, ackCh, tx.Acks())
	if err != nil {
		d.mu.Lock()
		d.oa = oaIdle
		d.mu.Unlock()
		return
	}
	ans, _ := sdpBody(ack)
	if offer == nil {
		d.mu.Lock()
		d.oa = oaIdle
		if len(ans) > 0 {
			d.localSDP, d.remoteSDP = r.sdp, ans
		}
		d.mu.Unlock()
		if len(ans) == 0 {
			_ = d.hangup(context.Background(), "ACK without SDP answer", ErrNotAcceptable)
			return
		}
	}
	d.evq.push(&AckEvent{SDP: ans})
}

func (d *Dialog) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	s := d.srv
	if !d.checkCSeq(req) {
		s.respond(req, tx, 500, "CSeq Out of Order", nil)
		return
	}
	offer, err := sdpBody(req)
	if err != nil {
		s.respond(req, tx, 415, "", nil, sip.NewHeader("Accept", "application/sdp"))
		return
	}
	d.mu.Lock()
	d.st.updateFromRequest(req, s.cfg.SessionTimer.MinSE)
	if offer == nil { // session refresh / target refresh only
		d.mu.Unlock()
		d.refreshed()
		s.respond(req, tx, 200, "OK", nil, d.okHeaders()...)
		return
	}
	if _, err := parseSDP(offer); err != nil {
		d.mu.Unlock()
		s.respond(req, tx, 488, "Malformed SDP", nil)
		return
	}
	switch {
	case d.ended:
		d.mu.Unlock()
		s.respond(req, tx, 481, "", nil)
		return
	case d.outInvite || d.oa == oaLocalOffer:
		d.mu.Unlock()
		s.respond(req, tx, 491, "", nil)
		return
	case d.oa == oaRemoteOffer:
		d.mu.Unlock()
		s.respond(req, tx, 500, "Offer Pending", nil, retryAfter(1+int(time.Now().UnixNano()%5)))
		return
	}
	d.oa = oaRemoteOffer
	d.mu.Unlock()
	r := d.askUser(offer, "UPDATE")
	d.mu.Lock()
	d.oa = oaIdle
	if r.code < 300 {
		d.localSDP, d.remoteSDP = r.sdp, offer
	}
	d.mu.Unlock()
	if r.code >= 300 {
		s.respond(req, tx, r.code, "", nil)
		return
	}
	d.refreshed()
	hs := append(d.okHeaders(), sip.NewHeader("Content-Type", "application/sdp"))
	s.respond(req, tx, 200, "OK", r.sdp, hs...)
}

func (d *Dialog) onBye(req *sip.Request, tx sip.ServerTransaction) {
	d.srv.respond(req, tx, 200, "OK", nil)
	reason := ""
	if h := req.GetHeader("Reason"); h != nil {
		reason = h.Value()
	}
	d.evq.push(&ByeEvent{Reason: reason})
	d.terminate(nil, false)
}

func (d *Dialog) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	s := d.srv
	if !d.checkCSeq(req) {
		s.respond(req, tx, 500, "CSeq Out of Order", nil)
		return
	}
	ct := contentType(req)
	if len(req.Body()) == 0 {
		s.respond(req, tx, 200, "OK", nil) // keep-alive INFO
		return
	}
	digit, dur, ok := parseDTMFInfo(ct, req.Body())
	if !ok {
		if ct == "application/dtmf-relay" || ct == "application/dtmf" {
			s.respond(req, tx, 400, "Bad DTMF", nil)
		} else {
			s.respond(req, tx, 415, "", nil, sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		}
		return
	}
	s.respond(req, tx, 200, "OK", nil)
	d.evq.push(&DTMFEvent{Digit: digit, Duration: dur, Source: "info"})
}

// startTimer runs the RFC 4028 session timer (if negotiated) in a Server-owned goroutine.
func (d *Dialog) startTimer() {
	d.mu.Lock()
	active := d.st.active
	d.lastRefresh = time.Now()
	d.mu.Unlock()
	if !active {
		return
	}
	d.srv.goOwned(d.timerLoop)
}

func (d *Dialog) timerLoop() {
	var retryAt time.Time
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		d.mu.Lock()
		st, last := d.st, d.lastRefresh
		d.mu.Unlock()
		if !st.active {
			return
		}
		var at time.Time
		if st.weRefresh {
			at = last.Add(st.interval / 2)
			if !retryAt.IsZero() && retryAt.After(last) {
				at = retryAt
			}
		} else {
			at = last.Add(st.interval - st.expiryGuard())
		}
		t.Reset(time.Until(at))
		select {
		case <-d.done:
			return
		case <-d.srv.ctx.Done():
			return
		case <-d.timerKick:
			retryAt = time.Time{}
			continue
		case <-t.C:
		}
		if !st.weRefresh {
			d.srv.log.Info("session expired (peer did not refresh)", zap.String("sip_call_id", d.callID))
			ctx, cancel := context.WithTimeout(d.srv.ctx, 5*time.Second)
			_ = d.hangup(ctx, "session expired", ErrSessionExpired)
			cancel()
			return
		}
		err := d.refresh()
		switch {
		case err == nil:
			retryAt = time.Time{}
		case errors.Is(err, ErrOfferPending) || StatusOf(err) == 491:
			retryAt = time.Now().Add(time.Second)
		default:
			d.srv.log.Info("session refresh failed", zap.String("sip_call_id", d.callID), zap.Error(err))
			ctx, cancel := context.WithTimeout(d.srv.ctx, 5*time.Second)
			_ = d.hangup(ctx, "session refresh failed", fmt.Errorf("%w: %w", ErrSessionExpired, err))
			cancel()
			return
		}
	}
}

// refresh sends a session refresh carrying the current local SDP (UPDATE if the
// peer allows it, else re-INVITE).
func (d *Dialog) refresh() error {
	d.mu.Lock()
	sdp, useUpdate := d.localSDP, d.peerAllowsUpdate
	interval := d.st.interval
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(d.srv.ctx, min(interval/3, 32*time.Second)+time.Second)
	defer cancel()
	method := sip.INVITE
	if useUpdate {
		method = sip.UPDATE
	}
	_, err := d.sendOffer(ctx, method, sdp)
	if errors.Is(err, errNoAnswerSDP) {
		return nil // refresh succeeded; the session keeps its SDP
	}
	return err
}

var errNoAnswerSDP = &StatusError{Code: 488, Reason: "2xx without SDP answer"}
