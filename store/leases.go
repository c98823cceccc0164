package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Line ownership in clustered mode.
//
// Each line's notification channel (and so its inbound calls) is owned by one
// node at a time through a row in line_leases: holder, the holder's SIP
// address, an expiry by the database clock and a fencing epoch. A row rather
// than a PostgreSQL advisory lock because an advisory lock lives on one
// server connection: a connection blip loses it silently, a pool cannot hold
// it, and nobody else can see who holds it (the admin page and /readyz show
// the owner of each line). The row is taken or renewed by one conditional
// UPSERT, evaluated with the database's clock (now()), so node clocks never
// matter: a node may take a line when the row is missing, its own, or expired.
// The epoch grows each time the holder changes; a node that lost a line and
// comes back sees a higher epoch than the one it held.
//
// The holder keeps its own deadline: the local time before the request plus
// the TTL, which is never later than the database's expiry, and stops using
// the line (closes its channel) before that deadline if renewals fail, so two
// nodes never hold a channel of one line at the same time.

// Lease is one line's ownership row.
type Lease struct {
	MSISDN    string
	Holder    string    // node id
	NodeAddr  string    // the holder's SIP address (host:port)
	ExpiresAt time.Time // by the database clock
	Epoch     int64     // grows on every change of holder
	Since     time.Time // when the current holder took it (database clock)
	// Prev is the holder before this AcquireLease ("" for a new, released or
	// never held line; Holder itself for a renewal). A takeover from a Prev
	// that did not release the line means Prev stopped renewing (died).
	Prev string
}

// AcquireLease takes or renews msisdn's lease for holder for ttl. held says
// whether holder holds it now; l is the lease as it stands (another node's
// when held is false).
func (p *Postgres) AcquireLease(ctx context.Context, msisdn, holder, addr string, ttl time.Duration) (l Lease, held bool, err error) {
	if msisdn == "" || holder == "" || ttl <= 0 {
		return Lease{}, false, fmt.Errorf("%w: lease needs line, holder and a positive TTL", ErrInvalid)
	}
	if err := p.check(); err != nil {
		return Lease{}, false, err
	}
	// prev reads the statement's snapshot: the row before this statement (a
	// FOR UPDATE there would see nothing once ON CONFLICT updated the row).
	row := p.write().QueryRowContext(ctx, `WITH prev AS (SELECT holder FROM line_leases WHERE msisdn = ?1)
		INSERT INTO line_leases AS l (msisdn, holder, node_addr, expires_at, epoch, acquired_at)
		VALUES (?1, ?2, ?3, now() + CAST(?4 AS BIGINT) * interval '1 microsecond', 1, now())
		ON CONFLICT (msisdn) DO UPDATE SET
			holder      = excluded.holder,
			node_addr   = excluded.node_addr,
			expires_at  = excluded.expires_at,
			epoch       = CASE WHEN l.holder = excluded.holder THEN l.epoch ELSE l.epoch + 1 END,
			acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE now() END
		WHERE l.holder = excluded.holder OR l.expires_at <= now()
		RETURNING msisdn, holder, node_addr, expires_at, epoch, acquired_at, COALESCE((SELECT holder FROM prev), '')`,
		msisdn, holder, addr, ttl.Microseconds())
	l, err = scanLease(row, true)
	if err == nil {
		return l, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Lease{}, false, fmt.Errorf("store: acquire lease %s: %w", msisdn, err)
	}
	// Held by another node and not expired.
	l, err = scanLease(p.read().QueryRowContext(ctx, "SELECT "+leaseCols+" FROM line_leases WHERE msisdn = ?", msisdn))
	if err != nil {
		return Lease{}, false, fmt.Errorf("store: read lease %s: %w", msisdn, err)
	}
	return l, false, nil
}

// ReleaseLease lets another node take msisdn at once (a drain, a rebalance):
// if holder holds it, the row is left with no holder and expired (its epoch
// stays), so the next node's takeover is not mistaken for one from a dead node.
func (p *Postgres) ReleaseLease(ctx context.Context, msisdn, holder string) error {
	if err := p.check(); err != nil {
		return err
	}
	if _, err := p.write().ExecContext(ctx, `UPDATE line_leases SET holder = '', node_addr = '', expires_at = now() - interval '1 microsecond'
		WHERE msisdn = ? AND holder = ?`, msisdn, holder); err != nil {
		return fmt.Errorf("store: release lease %s: %w", msisdn, err)
	}
	return nil
}

// Leases returns every lease row (expired ones too), by line.
func (p *Postgres) Leases(ctx context.Context) ([]Lease, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	rows, err := p.read().QueryContext(ctx, "SELECT "+leaseCols+" FROM line_leases ORDER BY msisdn")
	if err != nil {
		return nil, fmt.Errorf("store: leases: %w", err)
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		l, err := scanLease(rows)
		if err != nil {
			return nil, fmt.Errorf("store: leases: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: leases: %w", err)
	}
	return out, nil
}

// DBNow is the database clock (lease expiries are on it).
func (p *Postgres) DBNow(ctx context.Context) (time.Time, error) {
	var t time.Time
	if err := p.read().QueryRowContext(ctx, "SELECT now()").Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("store: now: %w", err)
	}
	return t.UTC(), nil
}

const leaseCols = "msisdn, holder, node_addr, expires_at, epoch, acquired_at"

func scanLease(r rowScanner, withPrev ...bool) (Lease, error) {
	var l Lease
	var prev string
	dest := []any{&l.MSISDN, &l.Holder, &l.NodeAddr, &l.ExpiresAt, &l.Epoch, &l.Since}
	if len(withPrev) > 0 && withPrev[0] {
		dest = append(dest, &prev)
	}
	if err := r.Scan(dest...); err != nil {
		return Lease{}, err
	}
	l.Prev = prev
	l.ExpiresAt, l.Since = l.ExpiresAt.UTC(), l.Since.UTC()
	return l, nil
}

// Node is one live cluster node (a heartbeat row not expired).
type Node struct {
	ID        string
	SIPAddr   string
	ExpiresAt time.Time
}

// Heartbeat records that node (the process instance, a value unique per process
// start) is alive for ttl (database clock) and returns the live nodes, node itself
// included, by id. Nodes use the count to take only their share of the free lines.
// A node id whose live heartbeat belongs to another instance is refused with
// ErrNodeInUse: two processes with one node id would both hold its leases.
func (p *Postgres) Heartbeat(ctx context.Context, node, instance, addr string, ttl time.Duration) ([]Node, error) {
	if node == "" || instance == "" || ttl <= 0 {
		return nil, fmt.Errorf("%w: heartbeat needs a node, an instance and a positive TTL", ErrInvalid)
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	res, err := p.write().ExecContext(ctx, `INSERT INTO cluster_nodes AS n (node_id, instance, sip_addr, expires_at)
		VALUES (?1, ?2, ?3, now() + CAST(?4 AS BIGINT) * interval '1 microsecond')
		ON CONFLICT (node_id) DO UPDATE SET instance = excluded.instance, sip_addr = excluded.sip_addr, expires_at = excluded.expires_at
		WHERE n.instance = excluded.instance OR n.expires_at <= now()`,
		node, instance, addr, ttl.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("store: heartbeat: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNodeInUse, node)
	}
	rows, err := p.read().QueryContext(ctx, "SELECT node_id, sip_addr, expires_at FROM cluster_nodes WHERE expires_at > now() ORDER BY node_id")
	if err != nil {
		return nil, fmt.Errorf("store: nodes: %w", err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var n Node
		if err := rows.Scan(&n.ID, &n.SIPAddr, &n.ExpiresAt); err != nil {
			return nil, fmt.Errorf("store: nodes: %w", err)
		}
		n.ExpiresAt = n.ExpiresAt.UTC()
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: nodes: %w", err)
	}
	return out, nil
}

// Leave removes node's heartbeat if instance sent it (a clean stop), so the others
// stop counting it.
func (p *Postgres) Leave(ctx context.Context, node, instance string) error {
	if err := p.check(); err != nil {
		return err
	}
	if _, err := p.write().ExecContext(ctx, "DELETE FROM cluster_nodes WHERE node_id = ? AND instance = ?", node, instance); err != nil {
		return fmt.Errorf("store: leave: %w", err)
	}
	return nil
}
