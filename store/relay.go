package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// Relay of status notifications between the nodes of a cluster (PostgreSQL only).
//
// A line's notifications reach only the node holding its channel, but any node may
// have placed one of the line's calls. The holder relays what it cannot use: the
// notification goes into relayed_status and its id out with NOTIFY on RelayChannel
// (one transaction: the NOTIFY is sent at commit, in commit order); every node LISTENs
// and reads the rows it did not write. The payload stays out of the NOTIFY because
// NOTIFY payloads are limited to 8000 bytes and an SDP can come close.

// RelayChannel is the LISTEN/NOTIFY channel of relayed notifications.
const RelayChannel = "ynagw_relay"

// relayKeep is how long relayed rows are kept (PurgeRelayed).
const relayKeep = time.Minute

// Relayed is one relayed notification.
type Relayed struct {
	ID      int64
	Origin  string // the node that relayed it
	Payload []byte
}

// PublishRelayed stores payload from origin and notifies every listening node.
func (p *Postgres) PublishRelayed(ctx context.Context, origin string, payload []byte) error {
	return p.tx(ctx, func(tx *qtx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, "INSERT INTO relayed_status(origin, payload) VALUES(?, ?) RETURNING id", origin, payload).Scan(&id); err != nil {
			return fmt.Errorf("store: relay: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "SELECT pg_notify(?, ?)", RelayChannel, strconv.FormatInt(id, 10)); err != nil {
			return fmt.Errorf("store: relay notify: %w", err)
		}
		return nil
	})
}

// GetRelayed reads one relayed notification (ErrNotFound once purged).
func (p *Postgres) GetRelayed(ctx context.Context, id int64) (Relayed, error) {
	if err := p.check(); err != nil {
		return Relayed{}, err
	}
	r := Relayed{ID: id}
	err := p.read().QueryRowContext(ctx, "SELECT origin, payload FROM relayed_status WHERE id = ?", id).Scan(&r.Origin, &r.Payload)
	if errors.Is(err, sql.ErrNoRows) {
		return Relayed{}, fmt.Errorf("%w: relayed %d", ErrNotFound, id)
	}
	if err != nil {
		return Relayed{}, fmt.Errorf("store: relayed: %w", err)
	}
	return r, nil
}

// RelayedSince returns the ids of the relayed rows after id, in order: what a
// listener missed while its connection was being re-established.
func (p *Postgres) RelayedSince(ctx context.Context, id int64) ([]int64, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	rows, err := p.read().QueryContext(ctx, "SELECT id FROM relayed_status WHERE id > ? ORDER BY id", id)
	if err != nil {
		return nil, fmt.Errorf("store: relayed since: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("store: relayed since: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: relayed since: %w", err)
	}
	return out, nil
}

// PurgeRelayed deletes relayed rows older than a minute.
func (p *Postgres) PurgeRelayed(ctx context.Context) error {
	if err := p.check(); err != nil {
		return err
	}
	if _, err := p.write().ExecContext(ctx, "DELETE FROM relayed_status WHERE at < now() - CAST(? AS BIGINT) * interval '1 microsecond'", relayKeep.Microseconds()); err != nil {
		return fmt.Errorf("store: purge relayed: %w", err)
	}
	return nil
}

// ListenRelayed holds one pool connection LISTENing on RelayChannel and calls fn
// with each notified id until ctx ends or the connection fails (then it returns the
// error; the caller listens again). ready, if not nil, is called once LISTEN is in
// effect.
func (p *Postgres) ListenRelayed(ctx context.Context, ready func(), fn func(id int64)) error {
	if err := p.check(); err != nil {
		return err
	}
	conn, err := p.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: listen: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+RelayChannel); err != nil {
			return fmt.Errorf("store: listen: %w", err)
		}
		// The connection goes back to the pool afterwards: stop listening first.
		defer func() { _, _ = pc.Exec(context.WithoutCancel(ctx), "UNLISTEN *") }()
		if ready != nil {
			ready()
		}
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("store: listen: %w", err)
			}
			id, err := strconv.ParseInt(n.Payload, 10, 64)
			if err != nil {
				continue // not ours
			}
			fn(id)
		}
	})
}
