package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// Orphan CDR values.
const (
	ResultOrphaned = "orphaned"
	ReasonRestart  = "daemon restarted"
	// ReasonNodeLost: clustered mode, another node took a line from the call's node,
	// which had stopped renewing its leases.
	ReasonNodeLost = "node stopped"
)

// recoverOrphans ends the calls a crash left open: DELETE /end for each one with a YNA
// call id, then CloseCall. A DELETE /end that fails (other than the network not knowing
// the call) is kept as a pending end: the gateway retries it from Start on. In clustered
// mode only this node's calls (by CDR node; and those of no node) are its orphans: the
// other nodes' open calls are alive.
func (d *Daemon) recoverOrphans(ctx context.Context) {
	d.endOrphansOf(ctx, d.nodeID(), ReasonRestart)
}

// endOrphansOf ends the open calls of node (all open calls in one-process mode, node
// "") with reason.
func (d *Daemon) endOrphansOf(ctx context.Context, node, reason string) {
	open, err := d.store.OpenCalls(ctx)
	if err != nil {
		d.log.Error("cannot list open calls", zap.Error(err))
		return
	}
	var orphans []store.CDR
	for _, c := range open {
		if node == "" || c.Node == node || c.Node == "" && reason == ReasonRestart {
			orphans = append(orphans, c)
		}
	}
	for _, c := range orphans {
		log := d.log.With(zap.String("cdr_id", c.ID), zap.String("line", c.Line), zap.String("yna_call_id", c.YNACallID),
			zap.String("sip_call_id", c.SIPCallID))
		if c.YNACallID != "" {
			tok, err := d.tokens.AccessToken(ctx, c.Line)
			if err == nil {
				ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err = d.yna.End(ectx, tok, c.YNACallID, "", false)
				cancel()
			}
			switch {
			case err == nil, errors.Is(err, yna.ErrNotFound):
				log.Info("orphaned call ended at YNA", zap.Bool("network_knew_the_call", err == nil))
			case reason == ReasonNodeLost: // the gateway runs: it retries (and stores) it now
				log.Warn("orphaned call: DELETE /end failed; retrying", zap.Error(err))
				d.gw.RetryEnd(bridge.PendingEnd{YNACallID: c.YNACallID, Line: c.Line, CDRID: c.ID, Since: time.Now()})
			default:
				log.Warn("orphaned call: DELETE /end failed; the gateway retries it", zap.Error(err))
				d.keepPendingEnd(ctx, store.PendingEnd{YNACallID: c.YNACallID, Line: c.Line, CDRID: c.ID})
			}
		}
		if err := d.store.CloseCall(ctx, c.ID, store.CallEnd{Result: ResultOrphaned, Reason: reason}); errors.Is(err, store.ErrAlreadyClosed) {
			continue // another node ended it first
		} else if err != nil {
			log.Warn("orphaned call: close CDR", zap.Error(err))
			continue
		}
		log.Info("orphaned call closed")
	}
}

// keepPendingEnd stores a DELETE /end still to be sent.
func (d *Daemon) keepPendingEnd(ctx context.Context, e store.PendingEnd) {
	p, ok := d.store.(store.PendingEnds)
	if !ok {
		return
	}
	if err := p.AddPendingEnd(ctx, e); err != nil {
		d.log.Warn("cannot keep the pending DELETE /end", zap.String("yna_call_id", e.YNACallID), zap.Error(err))
	}
}
