package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are applied in order, each in its own transaction together with
// its row in schema_migrations. Never edit a released step: append a new one.
var sqliteMigrations = []string{
	// 1: lines, CDRs, meta.
	`CREATE TABLE meta (
		key   TEXT PRIMARY KEY,
		value BLOB NOT NULL
	);
	CREATE TABLE lines (
		msisdn        TEXT PRIMARY KEY,
		access_token  BLOB,
		refresh_token BLOB,
		expires_at    INTEGER,
		state         TEXT NOT NULL CHECK (state IN ('linked','needs_relink','unlinked')),
		reason        TEXT NOT NULL DEFAULT '',
		linked_at     INTEGER,
		updated_at    INTEGER NOT NULL
	);
	CREATE TABLE cdrs (
		id           TEXT PRIMARY KEY,
		direction    TEXT NOT NULL CHECK (direction IN ('outbound','inbound')),
		line         TEXT NOT NULL,
		sip_call_id  TEXT NOT NULL DEFAULT '',
		yna_call_id  TEXT NOT NULL DEFAULT '',
		from_uri     TEXT NOT NULL DEFAULT '',
		to_uri       TEXT NOT NULL DEFAULT '',
		setup_at     INTEGER NOT NULL,
		answer_at    INTEGER,
		end_at       INTEGER,
		result       TEXT NOT NULL DEFAULT '',
		end_reason   TEXT NOT NULL DEFAULT '',
		sip_code     INTEGER NOT NULL DEFAULT 0,
		pkt_sip_in   INTEGER NOT NULL DEFAULT 0,
		pkt_sip_out  INTEGER NOT NULL DEFAULT 0,
		pkt_net_in   INTEGER NOT NULL DEFAULT 0,
		pkt_net_out  INTEGER NOT NULL DEFAULT 0,
		lost_sip     INTEGER NOT NULL DEFAULT 0,
		lost_net     INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX cdrs_setup ON cdrs(setup_at);
	CREATE INDEX cdrs_line_setup ON cdrs(line, setup_at);
	CREATE INDEX cdrs_open ON cdrs(setup_at) WHERE end_at IS NULL;`,
	// 2: DELETE /end requests the network has not taken yet (retried until it does).
	`CREATE TABLE pending_ends (
		yna_call_id TEXT PRIMARY KEY,
		line        TEXT NOT NULL,
		cdr_id      TEXT NOT NULL DEFAULT '',
		since       INTEGER NOT NULL
	);`,
	// 3: the node that handled a call (clustered mode; "" for one process).
	`ALTER TABLE cdrs ADD COLUMN node TEXT NOT NULL DEFAULT '';
	CREATE INDEX cdrs_open_line ON cdrs(line) WHERE end_at IS NULL;`,
	// 4: line leases and shared registrations exist only in PostgreSQL.
	`SELECT 1`,
	// 5: so does the relay of status notifications between nodes.
	`SELECT 1`,
}

// pgMigrations are the same versions for PostgreSQL: the same tables with
// BIGINT nanoseconds and BYTEA ciphertexts (the Go values are the same), and
// from version 4 the cluster tables.
var pgMigrations = []string{
	// 1: lines, CDRs, meta.
	`CREATE TABLE meta (
		key   TEXT PRIMARY KEY,
		value BYTEA NOT NULL
	);
	CREATE TABLE lines (
		msisdn        TEXT PRIMARY KEY,
		access_token  BYTEA,
		refresh_token BYTEA,
		expires_at    BIGINT,
		state         TEXT NOT NULL CHECK (state IN ('linked','needs_relink','unlinked')),
		reason        TEXT NOT NULL DEFAULT '',
		linked_at     BIGINT,
		updated_at    BIGINT NOT NULL
	);
	CREATE TABLE cdrs (
		id           TEXT PRIMARY KEY,
		direction    TEXT NOT NULL CHECK (direction IN ('outbound','inbound')),
		line         TEXT NOT NULL,
		sip_call_id  TEXT NOT NULL DEFAULT '',
		yna_call_id  TEXT NOT NULL DEFAULT '',
		from_uri     TEXT NOT NULL DEFAULT '',
		to_uri       TEXT NOT NULL DEFAULT '',
		setup_at     BIGINT NOT NULL,
		answer_at    BIGINT,
		end_at       BIGINT,
		result       TEXT NOT NULL DEFAULT '',
		end_reason   TEXT NOT NULL DEFAULT '',
		sip_code     INTEGER NOT NULL DEFAULT 0,
		pkt_sip_in   BIGINT NOT NULL DEFAULT 0,
		pkt_sip_out  BIGINT NOT NULL DEFAULT 0,
		pkt_net_in   BIGINT NOT NULL DEFAULT 0,
		pkt_net_out  BIGINT NOT NULL DEFAULT 0,
		lost_sip     BIGINT NOT NULL DEFAULT 0,
		lost_net     BIGINT NOT NULL DEFAULT 0
	);
	CREATE INDEX cdrs_setup ON cdrs(setup_at);
	CREATE INDEX cdrs_line_setup ON cdrs(line, setup_at);
	CREATE INDEX cdrs_open ON cdrs(setup_at) WHERE end_at IS NULL;`,
	// 2: pending DELETE /end requests.
	`CREATE TABLE pending_ends (
		yna_call_id TEXT PRIMARY KEY,
		line        TEXT NOT NULL,
		cdr_id      TEXT NOT NULL DEFAULT '',
		since       BIGINT NOT NULL
	);`,
	// 3: the node that handled a call.
	`ALTER TABLE cdrs ADD COLUMN node TEXT NOT NULL DEFAULT '';
	CREATE INDEX cdrs_open_line ON cdrs(line) WHERE end_at IS NULL;`,
	// 4: line ownership (one row per line: holder, expiry by the database
	// clock, fencing epoch), the live nodes (heartbeat rows, for sharing the
	// lines out) and the registrar's bindings shared by all nodes.
	`CREATE TABLE line_leases (
		msisdn     TEXT PRIMARY KEY,
		holder     TEXT NOT NULL,
		node_addr  TEXT NOT NULL DEFAULT '',
		expires_at TIMESTAMPTZ NOT NULL,
		epoch      BIGINT NOT NULL DEFAULT 1,
		acquired_at TIMESTAMPTZ NOT NULL DEFAULT now()
	);
	CREATE TABLE cluster_nodes (
		node_id    TEXT PRIMARY KEY,
		sip_addr   TEXT NOT NULL DEFAULT '',
		expires_at TIMESTAMPTZ NOT NULL,
		started_at TIMESTAMPTZ NOT NULL DEFAULT now()
	);
	CREATE TABLE registrations (
		username   TEXT NOT NULL,
		uri        TEXT NOT NULL,
		node       TEXT NOT NULL DEFAULT '',
		binding    BYTEA NOT NULL,
		expires_at BIGINT NOT NULL,
		PRIMARY KEY (username, uri)
	);`,
	// 5: status notifications a line's holder relays to the node that placed the
	// call (NOTIFY ynagw_relay carries the id; rows are purged after a minute).
	`CREATE TABLE relayed_status (
		id      BIGSERIAL PRIMARY KEY,
		origin  TEXT NOT NULL,
		payload BYTEA NOT NULL,
		at      TIMESTAMPTZ NOT NULL DEFAULT now()
	);
	CREATE INDEX relayed_status_at ON relayed_status(at);
	-- the process behind a node id: a second process with the same id is refused
	ALTER TABLE cluster_nodes ADD COLUMN instance TEXT NOT NULL DEFAULT '';`,
}

// migrations returns the dialect's steps; both lists have the same length
// and version numbers.
func migrationsFor(d dialect) []string {
	if d.name == pgDialect.name {
		return pgMigrations
	}
	return sqliteMigrations
}

// SchemaVersion is the schema version this binary migrates to.
func SchemaVersion() int { return len(sqliteMigrations) }

// migrator is a *sql.DB or *sql.Conn.
type migrator interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func migrate(ctx context.Context, db migrator, d dialect, now func() time.Time) error {
	steps := migrationsFor(d)
	if len(steps) != SchemaVersion() {
		return fmt.Errorf("store: %s has %d migrations, want %d", d.name, len(steps), SchemaVersion())
	}
	for {
		cur, err := migrationStep(ctx, db, d, steps, now())
		if err != nil {
			return err
		}
		if cur == len(steps) {
			return nil
		}
	}
}

// migrationStep applies the next pending migration (if any) in one
// transaction together with its row in schema_migrations and returns the
// version the database is at afterwards.
func migrationStep(ctx context.Context, db migrator, d dialect, steps []string, at time.Time) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	q := &qtx{tx: tx, d: d}
	if d.lockMigrations != "" {
		if _, err := q.ExecContext(ctx, d.lockMigrations); err != nil {
			return 0, fmt.Errorf("store: migration lock: %w", err)
		}
	}
	if _, err := q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return 0, fmt.Errorf("store: migrations table: %w", err)
	}
	// Another process may have migrated since our last look: read inside the
	// (SQLite: BEGIN IMMEDIATE; Postgres: advisory-locked) transaction.
	var cur int
	if err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&cur); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	if cur > len(steps) {
		return 0, fmt.Errorf("%w: database at version %d, binary knows %d", ErrSchemaTooNew, cur, len(steps))
	}
	if cur == len(steps) {
		return cur, nil
	}
	version := cur + 1
	if _, err := tx.ExecContext(ctx, steps[version-1]); err != nil {
		return 0, fmt.Errorf("store: migration %d: %w", version, err)
	}
	if _, err := q.ExecContext(ctx, "INSERT INTO schema_migrations(version, applied_at) VALUES(?, ?)", version, at.UnixNano()); err != nil {
		return 0, fmt.Errorf("store: migration %d: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: migration %d commit: %w", version, err)
	}
	return version, nil
}
