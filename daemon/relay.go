package daemon

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// Clustered mode: a line's status notifications reach only the node holding its
// channel, yet any node places the line's outbound calls (and a node that released a
// line on drain keeps its established calls). The holder's gateway hands every status
// of a call it does not have to relayStatus, which publishes it through PostgreSQL
// (store.PublishRelayed: a row plus NOTIFY); every node listens (relayLoop) and
// delivers what others relayed to its gateway, which keeps those of its own calls.

const (
	relayTimeout    = 2 * time.Second
	relayPurgeEvery = 30 * time.Second
)

// relayStatus publishes a status notification this node cannot use (bridge Deps.Relay).
func (d *Daemon) relayStatus(st *yna.SessionStatus) {
	b, err := json.Marshal(st)
	if err != nil {
		d.log.Warn("cluster: cannot encode a notification to relay", zap.Error(err))
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, relayTimeout)
	defer cancel()
	if err := d.pg.PublishRelayed(ctx, d.opts.Cluster.NodeID, b); err != nil {
		d.metrics.LeaseError()
		d.log.Warn("cluster: cannot relay a notification", zap.String("status", st.Status), zap.Error(err))
	}
}

// relayLoop listens for relayed notifications until the daemon closes, listening
// again a second after a lost connection and then delivering what it missed (rows
// after the last id it saw); ready is closed once it first listens.
func (d *Daemon) relayLoop(ready chan<- struct{}) {
	first := true
	var last int64 // the newest relayed id seen
	deliver := func(id int64) {
		if id > last {
			last = id
		}
		d.deliverRelayed(id)
	}
	for d.ctx.Err() == nil {
		err := d.pg.ListenRelayed(d.ctx, func() {
			if first { // start after what is relayed already: those calls are not ours
				first = false
				ctx, cancel := context.WithTimeout(d.ctx, relayTimeout)
				if ids, err := d.pg.RelayedSince(ctx, 0); err == nil && len(ids) > 0 {
					last = ids[len(ids)-1]
				}
				cancel()
				close(ready)
				return
			}
			// Listening again: deliver what was relayed while the connection was down.
			ctx, cancel := context.WithTimeout(d.ctx, relayTimeout)
			ids, err := d.pg.RelayedSince(ctx, last)
			cancel()
			if err != nil {
				d.log.Warn("cluster: cannot read the notifications relayed while not listening", zap.Error(err))
			}
			for _, id := range ids {
				deliver(id)
			}
		}, deliver)
		if d.ctx.Err() != nil {
			break
		}
		d.metrics.LeaseError()
		d.log.Warn("cluster: relay listener lost; listening again", zap.Error(err))
		t := time.NewTimer(time.Second)
		select {
		case <-d.ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	if first {
		close(ready)
	}
}

// deliverRelayed hands another node's relayed notification to the gateway.
func (d *Daemon) deliverRelayed(id int64) {
	ctx, cancel := context.WithTimeout(d.ctx, relayTimeout)
	defer cancel()
	r, err := d.pg.GetRelayed(ctx, id)
	if err != nil {
		d.log.Debug("cluster: relayed notification gone", zap.Int64("id", id), zap.Error(err))
		return
	}
	if r.Origin == d.opts.Cluster.NodeID {
		return
	}
	var st yna.SessionStatus
	if err := json.Unmarshal(r.Payload, &st); err != nil {
		d.log.Warn("cluster: relayed notification does not decode", zap.Int64("id", id), zap.Error(err))
		return
	}
	d.gw.Deliver(&st)
}

// relayPurgeLoop deletes old relayed rows until the daemon closes.
func (d *Daemon) relayPurgeLoop() {
	tk := time.NewTicker(relayPurgeEvery)
	defer tk.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-tk.C:
		}
		ctx, cancel := context.WithTimeout(d.ctx, relayTimeout)
		if err := d.pg.PurgeRelayed(ctx); err != nil {
			d.log.Warn("cluster: cannot purge relayed notifications", zap.Error(err))
		}
		cancel()
	}
}
