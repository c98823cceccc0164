package sip

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// knownExtensions are the option tags we support in Require.
var knownExtensions = map[string]bool{"timer": true, "path": true}

func (s *Server) routes() {
	s.sipSrv.OnInvite(s.wrap(s.onInvite))
	s.sipSrv.OnAck(s.wrap(s.onAck))
	s.sipSrv.OnCancel(s.wrap(s.onCancel))
	s.sipSrv.OnBye(s.wrap(s.inDialog((*Dialog).onBye)))
	s.sipSrv.OnRegister(s.wrap(s.reg.onRegister))
	s.sipSrv.OnOptions(s.wrap(s.onOptions))
	s.sipSrv.OnUpdate(s.wrap(s.inDialog((*Dialog).onUpdate)))
	s.sipSrv.OnInfo(s.wrap(s.inDialog((*Dialog).onInfo)))
	s.sipSrv.OnNoRoute(s.wrap(s.onNoRoute))
}

// wrap adds the checks common to every request: shutdown, recover, syntax
// (validateRequest, before any handler and so before authentication) and
// Require.
func (s *Server) wrap(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		isAck := req.IsAck()
		if gc := s.streamOf(req); gc != nil && countsInflight(string(req.Method)) {
			// Over TCP/TLS sipgo terminates the transaction right after we
			// return; do it here so that its reference to the connection is
			// released before the connection's end may reach sipgo (gatedConn.waitIdle).
			defer func() {
				if tx != nil {
					tx.Terminate()
				}
				gc.end()
			}()
		}
		if !s.enter() {
			if !isAck {
				s.respond(req, tx, 503, "Shutting Down", nil, retryAfter(30))
			}
			return
		}
		defer s.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("panic handling SIP request", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
				if !isAck {
					s.respond(req, tx, 500, "Internal Error", nil)
				}
			}
		}()
		if rej := validateRequest(req); rej != nil {
			s.refuse(req, tx, rej)
			return
		}
		if isAck || req.IsCancel() {
			h(req, tx)
			return
		}
		if unsup := unsupportedRequire(req); len(unsup) > 0 {
			s.respond(req, tx, 420, "", nil, sip.NewHeader("Unsupported", strings.Join(unsup, ", ")))
			return
		}
		h(req, tx)
	}
}

// refuse answers a request that validateRequest refused (an ACK gets no
// answer) with one log line; the response is counted like every other.
func (s *Server) refuse(req *sip.Request, tx sip.ServerTransaction, rej *rejection) {
	reason := rej.reason
	if reason == "" {
		reason = StatusText(rej.code)
	}
	s.log.Info("sip request refused", zap.String("method", string(req.Method)), zap.String("source", req.Source()),
		zap.String("transport", req.Transport()), zap.Int("code", rej.code), zap.String("reason", reason))
	if req.IsAck() {
		return
	}
	s.respond(req, tx, rej.code, reason, nil, rej.hdrs...)
}

// unsupportedRequire lists the option tags of Require we do not support.
func unsupportedRequire(req *sip.Request) []string {
	var out []string
	for _, h := range req.GetHeaders("Require") {
		for _, t := range strings.Split(h.Value(), ",") {
			t = strings.ToLower(strings.TrimSpace(t))
			if t != "" && !knownExtensions[t] {
				out = append(out, t)
			}
		}
	}
	return out
}

func (s *Server) capabilityHeaders() []sip.Header {
	return []sip.Header{
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Accept", acceptTypes),
		sip.NewHeader("Supported", supportedOpts),
	}
}

// readyTimeout bounds Config.Ready when an OPTIONS asks.
const readyTimeout = 2 * time.Second

// onOptions answers 200 with our capabilities. An out-of-dialog OPTIONS (a
// proxy's health probe, e.g. Kamailio dispatcher) gets 503 with Retry-After
// while Config.Ready reports an error (draining, not ready), so the proxy
// takes this node out of rotation; in-dialog ones keep their 200.
func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if d := s.findDialog(req); d != nil {
		d.touch()
		s.respond(req, tx, 200, "OK", nil, s.capabilityHeaders()...)
		return
	}
	if s.cfg.Ready != nil {
		if err := s.readiness(); err != nil {
			s.log.Debug("OPTIONS answered 503: not ready", zap.String("source", req.Source()), zap.Error(err))
			s.respond(req, tx, 503, "Not Ready", nil, append(s.capabilityHeaders(), retryAfter(notReadyRetry))...)
			return
		}
	}
	s.respond(req, tx, 200, "OK", nil, s.capabilityHeaders()...)
}

// defaultReadyTTL is Config.readyTTL's default.
const defaultReadyTTL = 500 * time.Millisecond

// readiness is Config.Ready's answer, reused for Config.readyTTL; callers
// arriving while it is asked wait for that answer.
func (s *Server) readiness() error {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	now := time.Now()
	if s.cfg.readyTTL > 0 && !s.readyAt.IsZero() && now.Sub(s.readyAt) < s.cfg.readyTTL {
		return s.readyErr
	}
	ctx, cancel := context.WithTimeout(s.ctx, readyTimeout)
	defer cancel()
	s.readyErr = s.cfg.Ready(ctx)
	s.readyAt = time.Now()
	return s.readyErr
}

// notReadyRetry is the Retry-After (seconds) of the 503 to OPTIONS while not ready.
const notReadyRetry = 5

func (s *Server) onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, 405, "", nil, sip.NewHeader("Allow", allowMethods))
}

// onCancel sees only CANCELs that matched no INVITE transaction.
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, 481, "", nil)
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if d := s.findDialog(req); d != nil {
		d.onAck(req)
	}
}

// inDialog routes an in-dialog request (BYE, UPDATE, INFO) to its dialog's handler,
// or answers 481 when no dialog matches.
func (s *Server) inDialog(handle func(d *Dialog, req *sip.Request, tx sip.ServerTransaction)) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		d := s.findDialog(req)
		if d == nil {
			s.respond(req, tx, 481, "", nil)
			return
		}
		handle(d, req, tx)
	}
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if tag, _ := req.To().Params.Get("tag"); tag != "" {
		d := s.findDialog(req)
		if d == nil {
			s.respond(req, tx, 481, "", nil)
			return
		}
		d.onReInvite(req, tx)
		return
	}
	s.onNewInvite(req, tx)
}

// onUnhandledResponse re-ACKs retransmitted 2xx responses to our re-INVITEs.
func (s *Server) onUnhandledResponse(res *sip.Response) {
	cseq := res.CSeq()
	if cseq == nil || cseq.MethodName != sip.INVITE || !res.IsSuccess() {
		return
	}
	cid, from, to := res.CallID(), res.From(), res.To()
	if cid == nil || from == nil || to == nil {
		return
	}
	lt, _ := from.Params.Get("tag")
	rt, _ := to.Params.Get("tag")
	s.mu.Lock()
	d := s.dialogs[dialogKey(cid.Value(), lt, rt)]
	s.mu.Unlock()
	if d != nil {
		d.reAck(cseq.SeqNo)
	}
}

func contentType(req sip.Message) string {
	hs := req.GetHeaders("Content-Type")
	if len(hs) == 0 {
		return ""
	}
	v := strings.ToLower(strings.TrimSpace(hs[0].Value()))
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v
}

// sdpBody returns the SDP body of msg or nil.
func sdpBody(msg sip.Message) ([]byte, error) {
	b := msg.Body()
	if len(b) == 0 {
		return nil, nil
	}
	if ct := contentType(msg); ct != "application/sdp" {
		return nil, fmt.Errorf("unsupported content type %q", ct)
	}
	return b, nil
}
