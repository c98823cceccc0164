package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

func validDirection(d string) bool { return d == Outbound || d == Inbound }

// OpenCall implements Store.
func (s *core) OpenCall(ctx context.Context, c CDR) error {
	if c.ID == "" || c.Line == "" {
		return fmt.Errorf("%w: call needs ID and Line", ErrInvalid)
	}
	if !validDirection(c.Direction) {
		return fmt.Errorf("%w: call direction %q", ErrInvalid, c.Direction)
	}
	if c.SetupAt.IsZero() {
		c.SetupAt = s.now()
	}
	return s.tx(ctx, func(tx *qtx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM cdrs WHERE id = ?", c.ID).Scan(&n); err != nil {
			return fmt.Errorf("store: open call: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("%w: call %s", ErrExists, c.ID)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO cdrs (`+cdrCols+`)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			c.ID, c.Direction, c.Line, c.SIPCallID, c.YNACallID, c.From, c.To,
			timeArg(c.SetupAt), timeArg(c.AnswerAt), timeArg(c.EndAt),
			c.Result, c.EndReason, c.SIPCode,
			counterArg(c.PacketsSIPIn), counterArg(c.PacketsSIPOut),
			counterArg(c.PacketsNetIn), counterArg(c.PacketsNetOut),
			counterArg(c.LostSIP), counterArg(c.LostNet), c.Node)
		if s.d.duplicate(err) { // a concurrent OpenCall of the same ID won
			return fmt.Errorf("%w: call %s", ErrExists, c.ID)
		}
		if err != nil {
			return fmt.Errorf("store: open call: %w", err)
		}
		return nil
	})
}

// UpdateCall implements Store.
func (s *core) UpdateCall(ctx context.Context, c CDR) error {
	if c.ID == "" {
		return fmt.Errorf("%w: call without ID", ErrInvalid)
	}
	if c.Direction != "" && !validDirection(c.Direction) {
		return fmt.Errorf("%w: call direction %q", ErrInvalid, c.Direction)
	}
	return s.tx(ctx, func(tx *qtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE cdrs SET
			direction   = COALESCE(NULLIF(?, ''), direction),
			line        = COALESCE(NULLIF(?, ''), line),
			sip_call_id = COALESCE(NULLIF(?, ''), sip_call_id),
			yna_call_id = COALESCE(NULLIF(?, ''), yna_call_id),
			from_uri    = COALESCE(NULLIF(?, ''), from_uri),
			to_uri      = COALESCE(NULLIF(?, ''), to_uri),
			setup_at    = COALESCE(?, setup_at),
			answer_at   = COALESCE(?, answer_at),
			end_at      = COALESCE(?, end_at),
			result      = COALESCE(NULLIF(?, ''), result),
			end_reason  = COALESCE(NULLIF(?, ''), end_reason),
			sip_code    = COALESCE(NULLIF(?, 0), sip_code),
			`+statsSet+`,
			node        = COALESCE(NULLIF(?, ''), node)
			WHERE id = ?`,
			c.Direction, c.Line, c.SIPCallID, c.YNACallID, c.From, c.To,
			timeArg(c.SetupAt), timeArg(c.AnswerAt), timeArg(c.EndAt),
			c.Result, c.EndReason, c.SIPCode,
			counterArg(c.PacketsSIPIn), counterArg(c.PacketsSIPOut),
			counterArg(c.PacketsNetIn), counterArg(c.PacketsNetOut),
			counterArg(c.LostSIP), counterArg(c.LostNet),
			c.Node, c.ID)
		if err != nil {
			return fmt.Errorf("store: update call: %w", err)
		}
		return mustAffect(res, "call "+c.ID)
	})
}

// statsSet merges counters: a zero argument keeps the stored value.
const statsSet = `pkt_sip_in  = COALESCE(NULLIF(CAST(? AS BIGINT), 0), pkt_sip_in),
			pkt_sip_out = COALESCE(NULLIF(CAST(? AS BIGINT), 0), pkt_sip_out),
			pkt_net_in  = COALESCE(NULLIF(CAST(? AS BIGINT), 0), pkt_net_in),
			pkt_net_out = COALESCE(NULLIF(CAST(? AS BIGINT), 0), pkt_net_out),
			lost_sip    = COALESCE(NULLIF(CAST(? AS BIGINT), 0), lost_sip),
			lost_net    = COALESCE(NULLIF(CAST(? AS BIGINT), 0), lost_net)`

// CloseCall implements Store.
func (s *core) CloseCall(ctx context.Context, id string, end CallEnd) error {
	if id == "" {
		return fmt.Errorf("%w: call without ID", ErrInvalid)
	}
	if end.At.IsZero() {
		end.At = s.now()
	}
	st := end.Stats
	return s.tx(ctx, func(tx *qtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE cdrs SET
			end_at     = ?,
			result     = COALESCE(NULLIF(?, ''), result),
			end_reason = COALESCE(NULLIF(?, ''), end_reason),
			sip_code   = COALESCE(NULLIF(?, 0), sip_code),
			`+statsSet+`
			WHERE id = ? AND end_at IS NULL`,
			end.At.UnixNano(), end.Result, end.Reason, end.SIPCode,
			counterArg(st.PacketsSIPIn), counterArg(st.PacketsSIPOut),
			counterArg(st.PacketsNetIn), counterArg(st.PacketsNetOut),
			counterArg(st.LostSIP), counterArg(st.LostNet),
			id)
		if err != nil {
			return fmt.Errorf("store: close call: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: close call: %w", err)
		}
		if n == 1 {
			return nil
		}
		var exists int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM cdrs WHERE id = ?", id).Scan(&exists); err != nil {
			return fmt.Errorf("store: close call: %w", err)
		}
		if exists == 0 {
			return fmt.Errorf("%w: call %s", ErrNotFound, id)
		}
		return fmt.Errorf("%w: call %s", ErrAlreadyClosed, id)
	})
}

const cdrCols = `id, direction, line, sip_call_id, yna_call_id, from_uri, to_uri,
	setup_at, answer_at, end_at, result, end_reason, sip_code,
	pkt_sip_in, pkt_sip_out, pkt_net_in, pkt_net_out, lost_sip, lost_net, node`

func scanCDR(r rowScanner) (CDR, error) {
	var (
		c                  CDR
		setup, ans, end    sql.NullInt64
		si, so, ni, no, ls int64
		ln                 int64
	)
	if err := r.Scan(&c.ID, &c.Direction, &c.Line, &c.SIPCallID, &c.YNACallID, &c.From, &c.To,
		&setup, &ans, &end, &c.Result, &c.EndReason, &c.SIPCode,
		&si, &so, &ni, &no, &ls, &ln, &c.Node); err != nil {
		return CDR{}, err
	}
	c.SetupAt, c.AnswerAt, c.EndAt = timeCol(setup), timeCol(ans), timeCol(end)
	c.Stats = Stats{
		PacketsSIPIn: uint64(si), PacketsSIPOut: uint64(so),
		PacketsNetIn: uint64(ni), PacketsNetOut: uint64(no),
		LostSIP: uint64(ls), LostNet: uint64(ln),
	}
	return c, nil
}

// GetCall implements Store.
func (s *core) GetCall(ctx context.Context, id string) (CDR, error) {
	if err := s.check(); err != nil {
		return CDR{}, err
	}
	c, err := scanCDR(s.read().QueryRowContext(ctx, "SELECT "+cdrCols+" FROM cdrs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return CDR{}, fmt.Errorf("%w: call %s", ErrNotFound, id)
	}
	if err != nil {
		return CDR{}, fmt.Errorf("store: get call: %w", err)
	}
	return c, nil
}

// OpenCalls implements Store.
func (s *core) OpenCalls(ctx context.Context) ([]CDR, error) {
	return s.queryCDRs(ctx, "SELECT "+cdrCols+" FROM cdrs WHERE end_at IS NULL ORDER BY setup_at, id")
}

// CDRs implements Store.
func (s *core) CDRs(ctx context.Context, f CDRFilter) ([]CDR, error) {
	var (
		where []string
		args  []any
	)
	if f.Line != "" {
		where, args = append(where, "line = ?"), append(args, f.Line)
	}
	if f.Direction != "" {
		where, args = append(where, "direction = ?"), append(args, f.Direction)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "setup_at >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "setup_at < ?"), append(args, f.Until.UnixNano())
	}
	if f.OpenOnly {
		where = append(where, "end_at IS NULL")
	}
	q := "SELECT " + cdrCols + " FROM cdrs"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY setup_at DESC, id DESC"
	if f.Limit > 0 {
		q, args = q+" LIMIT ?", append(args, f.Limit)
	}
	return s.queryCDRs(ctx, q, args...)
}

func (s *core) queryCDRs(ctx context.Context, q string, args ...any) ([]CDR, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.read().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query cdrs: %w", err)
	}
	defer rows.Close()
	var out []CDR
	for rows.Next() {
		c, err := scanCDR(rows)
		if err != nil {
			return nil, fmt.Errorf("store: scan cdr: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query cdrs: %w", err)
	}
	return out, nil
}
