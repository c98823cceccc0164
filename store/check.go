package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
)

// Check opens the existing database at path read-only (no migration, no write) and
// reports whether OpenSQLite would accept it with key: ErrSchemaTooNew when a newer
// binary migrated it, ErrBadKey when it was created with another key. A database that
// does not exist yet is fine (nil: OpenSQLite creates it). For `ynagw check-config`,
// which must not change the store of a daemon that may be running.
func Check(ctx context.Context, path string, key []byte) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	seal, err := newSealer(key)
	if err != nil {
		return err
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: fmt.Sprintf("mode=ro&_pragma=busy_timeout(%d)", busyTimeout.Milliseconds())}
	db, err := sql.Open(sqliteDriver, u.String())
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('schema_migrations', 'meta')").Scan(&tables); err != nil {
		return fmt.Errorf("store: %s is not a ynagw store: %w", path, err)
	}
	if tables == 0 {
		return nil // an empty file: OpenSQLite sets it up
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
		return nil // first OpenSQLite stores the check
	case err != nil:
		return fmt.Errorf("store: read key check: %w", err)
	}
	if pt, err := seal.open(blob, keyCheckAAD); err != nil || pt != keyCheckPlain {
		return fmt.Errorf("%w (the database was created with another key)", ErrBadKey)
	}
	return nil
}
