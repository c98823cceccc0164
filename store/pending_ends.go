package store

import (
	"context"
	"fmt"
	"time"
)

// PendingEnd is a DELETE /end of a call the network has not taken yet: the gateway
// retries it (across restarts) until the network takes it or says it does not know
// the call.
type PendingEnd struct {
	YNACallID string
	Line      string // MSISDN
	CDRID     string // the call's CDR id ("" if none)
	Since     time.Time
}

// PendingEnds is implemented by SQLite: the DELETE /end requests still to be sent.
type PendingEnds interface {
	// AddPendingEnd records e (again: keeps the first Since).
	AddPendingEnd(ctx context.Context, e PendingEnd) error
	// RemovePendingEnd forgets the pending end of a call (nothing if there is none).
	RemovePendingEnd(ctx context.Context, ynaCallID string) error
	// ListPendingEnds returns every pending end, oldest first.
	ListPendingEnds(ctx context.Context) ([]PendingEnd, error)
}

var _ PendingEnds = (*SQLite)(nil)

// AddPendingEnd implements PendingEnds.
func (s *core) AddPendingEnd(ctx context.Context, e PendingEnd) error {
	if e.YNACallID == "" || e.Line == "" {
		return fmt.Errorf("%w: pending end without call id or line", ErrInvalid)
	}
	if e.Since.IsZero() {
		e.Since = s.now()
	}
	return s.tx(ctx, func(tx *qtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO pending_ends(yna_call_id, line, cdr_id, since) VALUES(?, ?, ?, ?)
			ON CONFLICT(yna_call_id) DO NOTHING`, e.YNACallID, e.Line, e.CDRID, e.Since.UnixNano())
		if err != nil {
			return fmt.Errorf("store: add pending end: %w", err)
		}
		return nil
	})
}

// RemovePendingEnd implements PendingEnds.
func (s *core) RemovePendingEnd(ctx context.Context, ynaCallID string) error {
	return s.tx(ctx, func(tx *qtx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM pending_ends WHERE yna_call_id = ?", ynaCallID); err != nil {
			return fmt.Errorf("store: remove pending end: %w", err)
		}
		return nil
	})
}

// ListPendingEnds implements PendingEnds.
func (s *core) ListPendingEnds(ctx context.Context) ([]PendingEnd, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.read().QueryContext(ctx, "SELECT yna_call_id, line, cdr_id, since FROM pending_ends ORDER BY since, yna_call_id")
	if err != nil {
		return nil, fmt.Errorf("store: list pending ends: %w", err)
	}
	defer rows.Close()
	var out []PendingEnd
	for rows.Next() {
		var e PendingEnd
		var since int64
		if err := rows.Scan(&e.YNACallID, &e.Line, &e.CDRID, &since); err != nil {
			return nil, fmt.Errorf("store: list pending ends: %w", err)
		}
		e.Since = time.Unix(0, since).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list pending ends: %w", err)
	}
	return out, nil
}
