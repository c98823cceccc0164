package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are applied in order, each in its own transaction together with
// its row in schema_migrations. Never edit a released step: append a new one.
var migrations = []string{
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
}

// SchemaVersion is the schema version this binary migrates to.
func SchemaVersion() int { return len(migrations) }

func migrate(ctx context.Context, db *sql.DB, now func() time.Time) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	for {
		var cur int
		if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&cur); err != nil {
			return fmt.Errorf("store: schema version: %w", err)
		}
		if cur > len(migrations) {
			return fmt.Errorf("%w: database at version %d, binary knows %d", ErrSchemaTooNew, cur, len(migrations))
		}
		if cur == len(migrations) {
			return nil
		}
		if err := applyMigration(ctx, db, cur+1, now()); err != nil {
			return err
		}
	}
}

func applyMigration(ctx context.Context, db *sql.DB, version int, at time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migration %d: %w", version, err)
	}
	defer func() { _ = tx.Rollback() }()
	// Another process may have migrated between our read and BEGIN IMMEDIATE.
	var done int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", version).Scan(&done); err != nil {
		return fmt.Errorf("store: migration %d: %w", version, err)
	}
	if done > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, migrations[version-1]); err != nil {
		return fmt.Errorf("store: migration %d: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations(version, applied_at) VALUES(?, ?)", version, at.UnixNano()); err != nil {
		return fmt.Errorf("store: migration %d: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migration %d commit: %w", version, err)
	}
	return nil
}
