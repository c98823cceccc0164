package store

import (
	"context"
	"fmt"
	"time"
)

// Registration is one registrar binding shared by the nodes of a cluster
// (PostgreSQL only). The store does not interpret Binding: the daemon keeps
// the SIP layer's contact in it (JSON), so the SIP types stay out of store.
type Registration struct {
	User    string // the registrar's key (lower-case user name)
	URI     string // the Contact URI
	Node    string // the node that accepted the REGISTER
	Binding []byte
	Expires time.Time
}

// PutRegistration inserts or replaces the binding (User, URI), whichever
// node wrote it before, and drops the user's expired bindings.
func (p *Postgres) PutRegistration(ctx context.Context, r Registration) error {
	if r.User == "" || r.URI == "" {
		return fmt.Errorf("%w: registration needs user and URI", ErrInvalid)
	}
	now := p.now()
	return p.tx(ctx, func(tx *qtx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM registrations WHERE username = ? AND expires_at <= ?", r.User, now.UnixNano()); err != nil {
			return fmt.Errorf("store: put registration: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO registrations(username, uri, node, binding, expires_at) VALUES(?1, ?2, ?3, ?4, ?5)
			ON CONFLICT(username, uri) DO UPDATE SET node = excluded.node, binding = excluded.binding, expires_at = excluded.expires_at`,
			r.User, r.URI, r.Node, r.Binding, r.Expires.UnixNano())
		if err != nil {
			return fmt.Errorf("store: put registration: %w", err)
		}
		return nil
	})
}

// DeleteRegistration removes the binding (user, uri); a missing one is no error.
func (p *Postgres) DeleteRegistration(ctx context.Context, user, uri string) error {
	if err := p.check(); err != nil {
		return err
	}
	if _, err := p.write().ExecContext(ctx, "DELETE FROM registrations WHERE username = ? AND uri = ?", user, uri); err != nil {
		return fmt.Errorf("store: delete registration: %w", err)
	}
	return nil
}

// LookupRegistrations returns user's unexpired bindings, by URI.
func (p *Postgres) LookupRegistrations(ctx context.Context, user string) ([]Registration, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	rows, err := p.read().QueryContext(ctx, `SELECT username, uri, node, binding, expires_at FROM registrations
		WHERE username = ? AND expires_at > ? ORDER BY uri`, user, p.now().UnixNano())
	if err != nil {
		return nil, fmt.Errorf("store: lookup registrations: %w", err)
	}
	defer rows.Close()
	var out []Registration
	for rows.Next() {
		var r Registration
		var exp int64
		if err := rows.Scan(&r.User, &r.URI, &r.Node, &r.Binding, &exp); err != nil {
			return nil, fmt.Errorf("store: lookup registrations: %w", err)
		}
		r.Expires = time.Unix(0, exp).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: lookup registrations: %w", err)
	}
	return out, nil
}
