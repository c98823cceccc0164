package sip

// One UAC branch of an outbound call: a single INVITE client transaction to one
// target, driven by sipgo's DialogClientSession. The fork owner (fork.go) runs
// many of these at once and decides what happens to each.
//
// sipgo's WaitAnswer sends CANCEL itself when its context is cancelled, but that
// CANCEL carries no Reason header (RFC 3326), which we need ("Call completed
// elsewhere"). So WaitAnswer runs on a context we only cancel as a last resort
// (sipgo.WaitAnswerForceCancelErr: exit without CANCEL), and the branch sends
// its own CANCEL, built from a snapshot of the INVITE that was actually on the
// wire, while WaitAnswer keeps waiting for the 487 (or a racing 2xx).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"go.uber.org/zap"
)

// Reason header values (RFC 3326) used when cancelling branches.
const (
	ReasonCompletedElsewhere = `SIP;cause=200;text="Call completed elsewhere"`
	reasonRingTimeout        = `SIP;cause=408;text="Ring timeout"`
	reasonBranchTimeout      = `SIP;cause=408;text="Branch timeout"`
	reasonCallerCancelled    = `SIP;cause=487;text="Call cancelled"`
	reasonGaveUp             = `SIP;cause=500;text="Too many provisional responses"`
)

// reasonHeaderValue turns Cancel's argument into a Reason header value: a full
// value ("SIP;cause=..." / "Q.850;cause=...") is used as is when it passes
// checkReasonHeader (no CR/LF or other control characters: no header
// injection), a malformed one is replaced by reasonCallerCancelled, plain text
// becomes SIP;cause=487;text="...", and empty means "Call cancelled".
func reasonHeaderValue(r string) string {
	r = strings.TrimSpace(r)
	if r == "" {
		return reasonCallerCancelled
	}
	up := strings.ToUpper(r)
	if strings.HasPrefix(up, "SIP;") || strings.HasPrefix(up, "Q.850;") {
		if checkReasonHeader(r) != nil {
			return reasonCallerCancelled
		}
		return r
	}
	text := sanitizeReasonText(r)
	if len(text) > maxReasonText {
		text = text[:maxReasonText]
	}
	return `SIP;cause=487;text="` + text + `"`
}

// maxReasonText bounds the text of a Reason built from Cancel's plain text.
const maxReasonText = 128

// branchMsgKind says what a branch reports to the fork owner.
type branchMsgKind int

const (
	branchProgress branchMsgKind = iota // a provisional response
	branchAnswered                      // a 2xx; the branch waits on decide
	branchFinal                         // a final non-2xx (or local failure); the branch is finishing
	branchDone                          // the branch goroutine has finished; always the last message
)

type branchMsg struct {
	idx    int
	kind   branchMsgKind
	code   int
	reason string
	sdp    []byte
	err    error
	sess   *sipgo.DialogClientSession // branchAnswered only
}

// branch is one INVITE to one target. Its goroutines: run (owns the INVITE
// transaction and WaitAnswer) and canceller (sends our CANCEL when asked).
// Both end when the INVITE transaction has a final outcome.
type branch struct {
	idx    int
	target Target
	ua     *sipgo.DialogUA
	local  string // UDP: send from this listener address ("" = any)
	// transport, if set, is the network the INVITE must use whatever its URI
	// says (the phone's registration connection, see registrationRoute).
	transport string
	log       *zap.Logger

	cancelOnce sync.Once
	cancelCh   chan struct{} // closed by requestCancel
	reason     string        // Reason header; written before cancelCh is closed

	decide chan bool // after branchAnswered: true = we won (owner keeps the session), false = ACK+BYE it

	mu          sync.Mutex
	provisional chan struct{}   // closed on the first 1xx of the current INVITE
	snapshot    *sipmsg.Request // the INVITE as sent, for building CANCEL
	waitDone    chan struct{}   // closed when WaitAnswer has returned
	forceStop   context.CancelCauseFunc
	quiet       atomic.Bool // server closing: send nothing more (no CANCEL/ACK/BYE)
	cancelSent  atomic.Bool
}

func newBranch(idx int, t Target, ua *sipgo.DialogUA, local string, log *zap.Logger) *branch {
	return &branch{
		idx:         idx,
		target:      t,
		ua:          ua,
		local:       local,
		log:         log.With(zap.Int("branch", idx), zap.String("target", t.URI)),
		cancelCh:    make(chan struct{}),
		decide:      make(chan bool, 1),
		provisional: make(chan struct{}),
		waitDone:    make(chan struct{}),
	}
}

// requestCancel asks the branch to CANCEL its INVITE with this Reason header
// value. Safe to call many times and from any goroutine; the first call wins.
func (b *branch) requestCancel(reason string) {
	b.cancelOnce.Do(func() {
		b.reason = reason
		close(b.cancelCh)
	})
}

// stopQuietly ends the branch without any further network traffic: the
// transports are going away (server shutdown), and a request sent now could
// only open a fresh socket nobody closes.
func (b *branch) stopQuietly() {
	b.quiet.Store(true)
	b.requestCancel("")
	b.mu.Lock()
	fs := b.forceStop
	b.mu.Unlock()
	if fs != nil {
		fs(sipgo.WaitAnswerForceCancelErr)
	}
}

func (b *branch) cancelRequested() bool {
	select {
	case <-b.cancelCh:
		return true
	default:
		return false
	}
}

// buildInvite makes the INVITE for this branch. Every branch gets its own
// Call-ID: to the callee each branch is an independent call from a B2BUA.
func buildInvite(req *DialRequest, t Target, ruri sipmsg.Uri) (*sipmsg.Request, error) {
	inv := sipmsg.NewRequest(sipmsg.INVITE, ruri)
	if tp, ok := ruri.UriParams.Get("transport"); ok && tp != "" {
		inv.SetTransport(strings.ToUpper(tp))
	}

	var fromURI sipmsg.Uri
	fromParams := sipmsg.NewParams()
	fromName, err := sipmsg.ParseAddressValue(req.From, &fromURI, &fromParams)
	if err != nil {
		return nil, fmt.Errorf("from %q: %w", req.From, err)
	}
	fromParams.Add("tag", sipmsg.GenerateTagN(16))
	inv.AppendHeader(&sipmsg.FromHeader{DisplayName: fromName, Address: fromURI, Params: fromParams})

	toStr := req.To
	if toStr == "" {
		toStr = "<" + t.URI + ">" // its parameters are the URI's, not To's (RFC 3261 §20.10)
	}
	var toURI sipmsg.Uri
	toParams := sipmsg.NewParams()
	toName, err := sipmsg.ParseAddressValue(toStr, &toURI, &toParams)
	if err != nil {
		return nil, fmt.Errorf("to %q: %w", toStr, err)
	}
	toParams.Remove("tag")
	inv.AppendHeader(&sipmsg.ToHeader{DisplayName: toName, Address: toURI, Params: toParams})

	callID := sipmsg.CallIDHeader(uuid.NewString())
	inv.AppendHeader(&callID)
	inv.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: sipmsg.INVITE})
	mf := sipmsg.MaxForwardsHeader(70)
	inv.AppendHeader(&mf)
	for k, v := range req.Headers {
		if k == "" || strings.ContainsAny(k, "\r\n: \t") || strings.ContainsAny(v, "\r\n") {
			continue // never let a caller inject header lines
		}
		if reservedHeader[strings.ToLower(k)] {
			continue // the fork builds these itself
		}
		inv.AppendHeader(sipmsg.NewHeader(k, v))
	}
	if len(t.Route) > 0 {
		if _, _, err := addRoute(inv, t.Route); err != nil {
			return nil, err
		}
	}
	if offer := t.offer(req); len(offer) > 0 {
		inv.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		inv.SetBody(offer)
	} else {
		inv.SetBody(nil)
	}
	return inv, nil
}

// reservedHeader lists headers DialRequest.Headers cannot set.
var reservedHeader = map[string]bool{
	"via": true, "from": true, "to": true, "call-id": true, "cseq": true, "contact": true,
	"max-forwards": true, "content-length": true, "content-type": true, "route": true,
	"record-route": true, "authorization": true, "proxy-authorization": true,
	"v": true, "f": true, "t": true, "i": true, "m": true, "l": true, "c": true,
}

// run sends the INVITE and reports everything that happens to report. It ends
// with exactly one branchDone message. ruri has been validated by Dial.
func (b *branch) run(dreq *DialRequest, ruri sipmsg.Uri, report chan<- branchMsg) {
	defer func() { report <- branchMsg{idx: b.idx, kind: branchDone} }()

	inv, err := buildInvite(dreq, b.target, ruri)
	if err != nil {
		report <- branchMsg{idx: b.idx, kind: branchFinal, code: 400, reason: "Bad Request", err: err}
		return
	}

	if b.transport != "" {
		inv.SetTransport(sipmsg.NetworkToUpper(b.transport))
	}
	if b.target.Destination != "" {
		inv.SetDestination(b.target.Destination)
	}
	if b.local != "" {
		// Only when sipgo already serves that socket: otherwise it would try
		// to bind a second socket to the listener's port and fail.
		if c, _ := b.ua.Client.TransportLayer().GetConnection("udp", b.local); c != nil {
			if ap, err := netip.ParseAddrPort(b.local); err == nil {
				inv.Laddr = sipmsg.Addr{IP: net.IP(ap.Addr().AsSlice()), Port: int(ap.Port())}
			}
		} else {
			b.log.Warn("UDP listener not in sipgo's pool yet; INVITE leaves from a new socket", zap.String("listener", b.local))
		}
	}

	// WaitAnswer's context: cancelled only to force it out (no CANCEL sent).
	waitCtx, forceStop := context.WithCancelCause(context.Background())
	defer forceStop(nil)
	b.mu.Lock()
	b.forceStop = forceStop
	b.mu.Unlock()

	if b.quiet.Load() {
		close(b.waitDone)
		report <- branchMsg{idx: b.idx, kind: branchFinal, code: 503, reason: "Service Unavailable", err: ErrClosed}
		return
	}
	sendCtx, cancelSend := context.WithTimeout(context.Background(), 10*time.Second)
	sess, err := b.ua.WriteInvite(sendCtx, inv)
	cancelSend()
	if err != nil {
		close(b.waitDone)
		b.log.Debug("INVITE not sent", zap.Error(err))
		report <- branchMsg{idx: b.idx, kind: branchFinal, code: 503, reason: "Service Unavailable",
			err: fmt.Errorf("send INVITE to %s: %w", b.target.URI, err)}
		return
	}

	cancellerDone := make(chan struct{})
	go func() {
		defer close(cancellerDone)
		b.canceller(sess)
	}()
	// The canceller may still be waiting for its CANCEL's response.
	defer func() { <-cancellerDone }()

	challenges := 0
	err = sess.WaitAnswer(waitCtx, sipgo.AnswerOptions{
		Username: b.target.Username,
		Password: b.target.Password,
		OnResponse: func(r *sipmsg.Response) error {
			// Runs on this goroutine, inside WaitAnswer: sess.InviteRequest is
			// the INVITE this response answers.
			switch {
			case r.IsProvisional():
				b.markProvisional(sess.InviteRequest)
				if r.StatusCode > 100 {
					report <- branchMsg{idx: b.idx, kind: branchProgress, code: r.StatusCode,
						reason: r.Reason, sdp: respSDP(r)}
				}
			case r.StatusCode == 401 || r.StatusCode == 407:
				challenges++
				if challenges > 1 || b.target.Password == "" || b.cancelRequested() {
					return &StatusError{Code: r.StatusCode, Reason: r.Reason,
						Err: errors.New("digest challenge not answered (again)")}
				}
				b.resetProvisional()
			}
			return nil
		},
	})
	close(b.waitDone)

	resp := sess.InviteResponse
	switch {
	case err == nil || (resp != nil && resp.IsSuccess()):
		// A 2xx: it won, or it is late (after a winner, or it raced our CANCEL).
		report <- branchMsg{idx: b.idx, kind: branchAnswered, code: resp.StatusCode,
			reason: resp.Reason, sdp: respSDP(resp), sess: sess}
		if won := <-b.decide; !won {
			b.ackAndBye(sess)
		}
		return
	}
	if resp != nil && resp.IsProvisional() && !b.quiet.Load() && waitGaveUp(err) {
		// WaitAnswer gave up while the INVITE is still ringing (it stops
		// after 10 responses, e.g. a UAS repeating 180s): stop the ringing.
		// Any other error means the INVITE transaction is gone (terminated,
		// timed out, transport closed): nothing to CANCEL, and sending now
		// could open a fresh socket after the transports closed.
		b.mu.Lock()
		inv := b.snapshot
		b.mu.Unlock()
		if inv != nil {
			b.sendCancel(inv, reasonGaveUp)
		}
	}
	sess.Close()
	code, reason := classifyWaitErr(err, resp)
	report <- branchMsg{idx: b.idx, kind: branchFinal, code: code, reason: reason, err: err}
}

// waitGaveUp reports whether WaitAnswer stopped on its response limit while
// the INVITE transaction is still alive. sipgo v1.7.3 has no sentinel for it,
// only this message ("more than 10 responses received").
func waitGaveUp(err error) bool {
	return err != nil && strings.Contains(err.Error(), "more than 10 responses")
}

// classifyWaitErr maps the way WaitAnswer failed to a SIP status.
func classifyWaitErr(err error, last *sipmsg.Response) (int, string) {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code, se.Reason
	}
	var dr *sipgo.ErrDialogResponse
	if errors.As(err, &dr) && dr.Res != nil {
		return dr.Res.StatusCode, dr.Res.Reason
	}
	var dv sipgo.ErrDialogResponse
	if errors.As(err, &dv) && dv.Res != nil {
		return dv.Res.StatusCode, dv.Res.Reason
	}
	if last != nil && last.StatusCode >= 300 {
		return last.StatusCode, last.Reason
	}
	if errors.Is(err, context.Canceled) {
		// Forced out after CANCEL got no final response within 64*T1.
		return 487, StatusText(487)
	}
	if errors.Is(err, sipmsg.ErrTransactionTimeout) {
		return 408, StatusText(408)
	}
	return 503, StatusText(503) // transport error: RFC 3261 §16.7 treats it as 503
}

func respSDP(r *sipmsg.Response) []byte {
	b := r.Body()
	if len(b) == 0 {
		return nil
	}
	if ct := r.ContentType(); ct != nil && !strings.Contains(strings.ToLower(ct.Value()), "application/sdp") {
		return nil
	}
	return append([]byte(nil), b...)
}

// markProvisional records that the current INVITE got a 1xx (CANCEL is now
// allowed, RFC 3261 §9.1) and snapshots it for building the CANCEL.
func (b *branch) markProvisional(inv *sipmsg.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.provisional:
		return
	default:
	}
	b.snapshot = inv.Clone()
	close(b.provisional)
}

// resetProvisional is called when a challenged INVITE is about to be resent
// with credentials: the new transaction must get its own 1xx before CANCEL.
func (b *branch) resetProvisional() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.provisional:
		b.provisional = make(chan struct{})
		b.snapshot = nil
	default:
	}
}

// canceller waits for requestCancel, then for a provisional response, and sends
// CANCEL with the Reason header. If no final response follows within 64*T1
// (RFC 3261 §9.1) it forces WaitAnswer out.
func (b *branch) canceller(sess *sipgo.DialogClientSession) {
	select {
	case <-b.cancelCh:
	case <-b.waitDone:
		return
	}
	var inv *sipmsg.Request
	for inv == nil {
		b.mu.Lock()
		prov := b.provisional
		b.mu.Unlock()
		select {
		case <-prov:
		case <-b.waitDone:
			return // final (or 2xx) before any 1xx: nothing to cancel
		}
		b.mu.Lock()
		if b.provisional == prov {
			inv = b.snapshot
		}
		b.mu.Unlock()
	}

	if b.quiet.Load() {
		return // stopQuietly already forced WaitAnswer out
	}
	b.sendCancel(inv, b.reason)

	t := time.NewTimer(64 * sipmsg.T1)
	defer t.Stop()
	select {
	case <-b.waitDone:
	case <-t.C:
		b.mu.Lock()
		fs := b.forceStop
		b.mu.Unlock()
		fs(sipgo.WaitAnswerForceCancelErr)
	}
}

// sendCancel sends one CANCEL for inv (at most one per branch) and waits for
// its response.
func (b *branch) sendCancel(inv *sipmsg.Request, reason string) {
	if !b.cancelSent.CompareAndSwap(false, true) {
		return
	}
	ctx, stop := context.WithTimeout(context.Background(), sipmsg.Timer_B)
	defer stop()
	res, err := b.ua.Client.Do(ctx, buildCancel(inv, reason), sipgo.ClientRequestBuild)
	switch {
	case err != nil:
		b.log.Debug("CANCEL failed", zap.Error(err))
	case res.StatusCode != 200:
		b.log.Debug("CANCEL rejected", zap.Int("code", res.StatusCode))
	}
}

// buildCancel builds a CANCEL for inv (RFC 3261 §9.1): same Request-URI, top
// Via, From, To, Call-ID and CSeq number, plus a Reason header (RFC 3326).
func buildCancel(inv *sipmsg.Request, reason string) *sipmsg.Request {
	c := sipmsg.NewRequest(sipmsg.CANCEL, *inv.Recipient.Clone())
	c.SipVersion = inv.SipVersion
	if v := inv.Via(); v != nil {
		c.AppendHeader(v.Clone())
	}
	for _, h := range inv.GetHeaders("Route") {
		c.AppendHeader(sipmsg.HeaderClone(h))
	}
	mf := sipmsg.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	if h := inv.From(); h != nil {
		c.AppendHeader(sipmsg.HeaderClone(h))
	}
	if h := inv.To(); h != nil {
		c.AppendHeader(sipmsg.HeaderClone(h))
	}
	if h := inv.CallID(); h != nil {
		c.AppendHeader(sipmsg.HeaderClone(h))
	}
	if h := inv.CSeq(); h != nil {
		c.AppendHeader(&sipmsg.CSeqHeader{SeqNo: h.SeqNo, MethodName: sipmsg.CANCEL})
	}
	if reason != "" {
		c.AppendHeader(sipmsg.NewHeader("Reason", reason))
	}
	c.SetBody(nil)
	c.SetTransport(inv.Transport())
	c.SetSource(inv.Source())
	c.SetDestination(inv.Destination())
	c.Laddr = inv.Laddr
	return c
}

// ackAndBye ends a 2xx we do not want (late or raced with CANCEL): ACK it,
// then BYE it (RFC 3261 §13.2.2.4 / §15).
func (b *branch) ackAndBye(sess *sipgo.DialogClientSession) {
	defer sess.Close()
	if b.quiet.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sipmsg.Timer_B)
	defer cancel()
	if err := sess.Ack(ctx); err != nil {
		b.log.Debug("ACK of unwanted 2xx failed", zap.Error(err))
		return
	}
	if err := sess.Bye(ctx); err != nil {
		b.log.Debug("BYE of unwanted 2xx failed", zap.Error(err))
	}
}
