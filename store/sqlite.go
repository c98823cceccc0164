package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// SQLite tuning. Writes go through one connection (SQLite allows one writer at
// a time anyway; funnelling them through database/sql's pool queues writers in
// Go, context-aware, instead of spinning on SQLITE_BUSY). Reads use a separate
// small pool; WAL lets them run alongside the writer.
const (
	busyTimeout  = 5 * time.Second
	maxReadConns = 4
	connMaxIdle  = 5 * time.Minute
	sqliteDriver = "sqlite"
)

// SQLite is the embedded Store. Create it with OpenSQLite.
type SQLite struct{ core }

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the database file at path, applies
// pending schema migrations and checks key against the key the database was
// first opened with (ErrBadKey on mismatch). key is the 32-byte token
// encryption key (see ParseKey).
func OpenSQLite(ctx context.Context, path string, key []byte) (*SQLite, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || strings.Contains(path, ":memory:") {
		return nil, fmt.Errorf("%w: sqlite path %q must be a plain file path", ErrInvalid, path)
	}
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	s := &SQLite{core{seal: seal, now: time.Now, d: sqliteDialect}}

	// journal_mode=WAL is persistent in the file and is set by the writer
	// before the read pool ever connects. synchronous=FULL fsyncs the WAL on
	// every commit: a committed transaction survives power loss.
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)", busyTimeout.Milliseconds())
	w, err := sql.Open(sqliteDriver, path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0) // keep the writer open: reopening costs a WAL recovery check
	s.w = w

	if err := s.init(ctx); err != nil {
		_ = w.Close()
		return nil, err
	}

	r, err := sql.Open(sqliteDriver, path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("store: open %s (read pool): %w", path, err)
	}
	r.SetMaxOpenConns(maxReadConns)
	r.SetMaxIdleConns(maxReadConns)
	r.SetConnMaxIdleTime(connMaxIdle)
	s.r = r
	return s, nil
}

// init verifies the pragmas took effect, migrates and checks the key.
func (s *SQLite) init(ctx context.Context) error {
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("store: open: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("store: journal_mode is %q, want wal (filesystem without shared-memory support?)", mode)
	}
	if err := migrate(ctx, s.w, s.d, s.now); err != nil {
		return err
	}
	return s.checkKey(ctx)
}

// Time columns: INTEGER Unix nanoseconds, NULL for the zero time.

func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func timeCol(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// counterArg clamps a uint64 counter into SQLite's signed INTEGER.
func counterArg(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}
