package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Postgres pool tuning: a node holds at most this many server connections
// (PostgreSQL's default max_connections=100 leaves room for ~10 nodes).
const (
	pgMaxConns    = 8
	pgMaxIdle     = 4
	pgConnMaxIdle = 5 * time.Minute
	// pgMigrationLock is the advisory lock key nodes take (per transaction)
	// while migrating, so two nodes starting together do not race.
	pgMigrationLock = 0x796e6177 // "ynaw"
)

var pgDialect = dialect{
	name:   "postgres",
	rebind: dollarRebind,
	duplicate: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
	},
	lockMigrations: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", pgMigrationLock),
}

// Postgres is the Store for clustered deployments: several ynagw nodes share
// one PostgreSQL database (lines, tokens, CDRs, pending ends, line leases and
// registrations). Create it with OpenPostgres.
type Postgres struct{ core }

var (
	_ Store       = (*Postgres)(nil)
	_ PendingEnds = (*Postgres)(nil)
)

// OpenPostgres connects to the database at dsn (a postgres:// URL or a
// key=value connection string), applies pending migrations and checks key
// like OpenSQLite. Commits are durable as far as the server's
// synchronous_commit setting makes them (the default, on, is).
func OpenPostgres(ctx context.Context, dsn string, key []byte) (*Postgres, error) {
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message can quote the DSN (and a password in it): keep ours generic.
		return nil, fmt.Errorf("%w: postgres DSN does not parse", ErrInvalid)
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "ynagw"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(pgMaxIdle)
	db.SetConnMaxIdleTime(pgConnMaxIdle)
	s := &Postgres{core{w: db, r: db, seal: seal, now: time.Now, d: pgDialect}}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: connect to postgres %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	if err := migrate(ctx, db, pgDialect, s.now); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.checkKey(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// CheckPostgres is the preflight of a postgres store: the server answers, the
// schema is not newer than this binary, and key opens the key check if there
// is one. It changes nothing.
func CheckPostgres(ctx context.Context, dsn string, key []byte) error {
	seal, err := newSealer(key)
	if err != nil {
		return err
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("%w: postgres DSN does not parse", ErrInvalid)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: connect to postgres %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name IN ('schema_migrations', 'meta')`).Scan(&tables); err != nil {
		return fmt.Errorf("store: postgres: %w", err)
	}
	if tables < 2 {
		return nil // empty database: OpenPostgres sets it up
	}
	var cur int
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&cur); err != nil {
		return fmt.Errorf("store: schema version: %w", err)
	}
	if cur > SchemaVersion() {
		return fmt.Errorf("%w: database at version %d, binary knows %d", ErrSchemaTooNew, cur, SchemaVersion())
	}
	var blob []byte
	switch err := db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'key_check'").Scan(&blob); {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("store: read key check: %w", err)
	}
	if pt, err := seal.open(blob, keyCheckAAD); err != nil || pt != keyCheckPlain {
		return fmt.Errorf("%w (the database was created with another key)", ErrBadKey)
	}
	return nil
}
