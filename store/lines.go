package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

func validState(s string) bool {
	return s == LineLinked || s == LineNeedsRelink || s == LineUnlinked
}

// PutLine implements Store.
func (s *core) PutLine(ctx context.Context, l Line) error {
	if l.MSISDN == "" {
		return fmt.Errorf("%w: line without MSISDN", ErrInvalid)
	}
	if l.State == "" {
		l.State = LineLinked
	}
	if !validState(l.State) {
		return fmt.Errorf("%w: line state %q", ErrInvalid, l.State)
	}
	at, err := s.seal.sealOptional(l.AccessToken, tokenAAD("access_token", l.MSISDN))
	if err != nil {
		return err
	}
	rt, err := s.seal.sealOptional(l.RefreshToken, tokenAAD("refresh_token", l.MSISDN))
	if err != nil {
		return err
	}
	now := s.now()
	if l.UpdatedAt.IsZero() {
		l.UpdatedAt = now
	}
	return s.tx(ctx, func(tx *qtx) error {
		// linked_at: the caller's value, else the stored one, else now.
		_, err := tx.ExecContext(ctx, `INSERT INTO lines
			(msisdn, access_token, refresh_token, expires_at, state, reason, linked_at, updated_at)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, COALESCE(CAST(?7 AS BIGINT), CAST(?8 AS BIGINT)), ?9)
			ON CONFLICT(msisdn) DO UPDATE SET
				access_token = excluded.access_token,
				refresh_token = excluded.refresh_token,
				expires_at = excluded.expires_at,
				state = excluded.state,
				reason = excluded.reason,
				linked_at = COALESCE(CAST(?7 AS BIGINT), lines.linked_at, CAST(?8 AS BIGINT)),
				updated_at = excluded.updated_at`,
			l.MSISDN, at, rt, timeArg(l.ExpiresAt), l.State, l.Reason,
			timeArg(l.LinkedAt), now.UnixNano(), l.UpdatedAt.UnixNano())
		if err != nil {
			return fmt.Errorf("store: put line: %w", err)
		}
		return nil
	})
}

const lineCols = `msisdn, access_token, refresh_token, expires_at, state, reason, linked_at, updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func (s *core) scanLine(r rowScanner) (Line, error) {
	var (
		l                Line
		at, rt           []byte
		exp, linked, upd sql.NullInt64
	)
	if err := r.Scan(&l.MSISDN, &at, &rt, &exp, &l.State, &l.Reason, &linked, &upd); err != nil {
		return Line{}, err
	}
	var err error
	if l.AccessToken, err = s.seal.openOptional(at, tokenAAD("access_token", l.MSISDN)); err != nil {
		return Line{}, fmt.Errorf("store: line %s access token: %w", l.MSISDN, err)
	}
	if l.RefreshToken, err = s.seal.openOptional(rt, tokenAAD("refresh_token", l.MSISDN)); err != nil {
		return Line{}, fmt.Errorf("store: line %s refresh token: %w", l.MSISDN, err)
	}
	l.ExpiresAt, l.LinkedAt, l.UpdatedAt = timeCol(exp), timeCol(linked), timeCol(upd)
	return l, nil
}

// GetLine implements Store.
func (s *core) GetLine(ctx context.Context, msisdn string) (Line, error) {
	if err := s.check(); err != nil {
		return Line{}, err
	}
	l, err := s.scanLine(s.read().QueryRowContext(ctx, "SELECT "+lineCols+" FROM lines WHERE msisdn = ?", msisdn))
	if errors.Is(err, sql.ErrNoRows) {
		return Line{}, fmt.Errorf("%w: line %s", ErrNotFound, msisdn)
	}
	if err != nil && !errors.Is(err, ErrBadKey) {
		return Line{}, fmt.Errorf("store: get line: %w", err)
	}
	return l, err
}

// Lines implements Store.
func (s *core) Lines(ctx context.Context) ([]Line, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.read().QueryContext(ctx, "SELECT "+lineCols+" FROM lines ORDER BY msisdn")
	if err != nil {
		return nil, fmt.Errorf("store: lines: %w", err)
	}
	defer rows.Close()
	var out []Line
	for rows.Next() {
		l, err := s.scanLine(rows)
		if errors.Is(err, ErrBadKey) {
			return nil, err // already names the line
		}
		if err != nil {
			return nil, fmt.Errorf("store: lines: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: lines: %w", err)
	}
	return out, nil
}

// DeleteLine implements Store.
func (s *core) DeleteLine(ctx context.Context, msisdn string) error {
	return s.tx(ctx, func(tx *qtx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM lines WHERE msisdn = ?", msisdn)
		if err != nil {
			return fmt.Errorf("store: delete line: %w", err)
		}
		return mustAffect(res, "line "+msisdn)
	})
}

// MarkNeedsRelink implements Store.
func (s *core) MarkNeedsRelink(ctx context.Context, msisdn, reason string) error {
	now := s.now()
	return s.tx(ctx, func(tx *qtx) error {
		res, err := tx.ExecContext(ctx, "UPDATE lines SET state = ?, reason = ?, updated_at = ? WHERE msisdn = ?",
			LineNeedsRelink, reason, now.UnixNano(), msisdn)
		if err != nil {
			return fmt.Errorf("store: mark needs relink: %w", err)
		}
		return mustAffect(res, "line "+msisdn)
	})
}

func mustAffect(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	return nil
}
