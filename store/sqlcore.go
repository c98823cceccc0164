package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// core is the Store code SQLite and Postgres share: the same queries over
// database/sql, written with SQLite's ? / ?N placeholders and rewritten to
// $N for PostgreSQL by the dialect. Column types hold the same Go values in
// both (INTEGER/BIGINT Unix nanoseconds, BLOB/BYTEA ciphertexts), so scanning
// and encryption are one code path.
type core struct {
	w      *sql.DB // writes (SQLite: one connection)
	r      *sql.DB // reads (SQLite: a query_only pool; Postgres: the same pool as w)
	seal   *sealer
	now    func() time.Time
	d      dialect
	closed atomic.Bool
}

// dialect is what differs between the drivers in the shared code.
type dialect struct {
	name string
	// rebind rewrites a query's placeholders for the driver.
	rebind func(string) string
	// duplicate reports a unique-key violation.
	duplicate func(error) bool
	// lockMigrations runs at the start of each migration transaction, so
	// nodes starting together migrate one at a time.
	lockMigrations string
}

var sqliteDialect = dialect{
	name:      "sqlite",
	rebind:    func(q string) string { return q },
	duplicate: func(err error) bool { return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed") },
}

// dollarRebind turns ? and ?N placeholders into $N. The shared queries hold
// no ? inside string literals.
func dollarRebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' {
			b.WriteByte(q[i])
			continue
		}
		j := i + 1
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		b.WriteByte('$')
		if j > i+1 {
			b.WriteString(q[i+1 : j])
		} else {
			n++
			b.WriteString(strconv.Itoa(n))
		}
		i = j - 1
	}
	return b.String()
}

// qtx is a transaction whose queries are rebound for the dialect.
type qtx struct {
	tx *sql.Tx
	d  dialect
}

func (t *qtx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.d.rebind(q), args...)
}

func (t *qtx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.d.rebind(q), args...)
}

func (t *qtx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.d.rebind(q), args...)
}

// qdb is a pool whose queries are rebound for the dialect.
type qdb struct {
	db *sql.DB
	d  dialect
}

func (q qdb) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.db.ExecContext(ctx, q.d.rebind(query), args...)
}

func (q qdb) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return q.db.QueryRowContext(ctx, q.d.rebind(query), args...)
}

func (q qdb) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.db.QueryContext(ctx, q.d.rebind(query), args...)
}

func (s *core) read() qdb  { return qdb{s.r, s.d} }
func (s *core) write() qdb { return qdb{s.w, s.d} }

// checkKey stores a known value sealed with the key on first open and checks
// it on every later open, so a wrong key fails at startup, not mid-call.
func (s *core) checkKey(ctx context.Context) error {
	var blob []byte
	err := s.write().QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'key_check'").Scan(&blob)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		ct, err := s.seal.seal(keyCheckPlain, keyCheckAAD)
		if err != nil {
			return err
		}
		// ON CONFLICT: another node may store its check between our read and
		// this insert; then read it back and check against ours.
		res, err := s.write().ExecContext(ctx, "INSERT INTO meta(key, value) VALUES('key_check', ?) ON CONFLICT(key) DO NOTHING", ct)
		if err != nil {
			return fmt.Errorf("store: write key check: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		return s.checkKey(ctx)
	case err != nil:
		return fmt.Errorf("store: read key check: %w", err)
	}
	pt, err := s.seal.open(blob, keyCheckAAD)
	if err != nil || pt != keyCheckPlain {
		return fmt.Errorf("%w (the database was created with another key)", ErrBadKey)
	}
	return nil
}

// Close closes the pools. For SQLite the last connection to close
// checkpoints the WAL.
func (s *core) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.r == s.w {
		return s.w.Close()
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

func (s *core) check() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// tx runs fn in one write transaction (SQLite: BEGIN IMMEDIATE) and commits.
func (s *core) tx(ctx context.Context, fn func(*qtx) error) error {
	if err := s.check(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(&qtx{tx: tx, d: s.d}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}
