package daemon

import (
	"context"
	"time"

	"github.com/ynagw/ynagw/store"
	"go.uber.org/zap"
)

// Orphan CDR values.
const (
	ResultOrphaned = "orphaned"
	ReasonRestart  = "daemon restarted"
)

// recoverOrphans ends the calls a crash left open: DELETE /end for each one with a YNA
// call id (best effort: the network may have ended it already), then CloseCall.
func (d *Daemon) recoverOrphans(ctx context.Context) {
	orphans, err := d.store.OpenCalls(ctx)
	if err != nil {
		d.log.Error("cannot list open calls", zap.Error(err))
		return
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
			if err != nil {
				log.Warn("orphaned call: DELETE /end failed", zap.Error(err))
			} else {
				log.Info("orphaned call ended at YNA")
			}
		}
		if err := d.store.CloseCall(ctx, c.ID, store.CallEnd{Result: ResultOrphaned, Reason: ReasonRestart}); err != nil {
			log.Warn("orphaned call: close CDR", zap.Error(err))
			continue
		}
		log.Info("orphaned call closed")
	}
}
