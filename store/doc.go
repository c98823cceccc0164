// Package store owns ynagw's persistent state: linked lines (MSISDN, OAuth tokens,
// link state) and call detail records (CDRs).
//
// Store is the interface the daemon uses; SQLite (OpenSQLite) is the embedded
// implementation, built on the pure-Go driver modernc.org/sqlite so the daemon
// stays a static CGO_ENABLED=0 binary. Postgres (OpenPostgres) is the store of
// clustered deployments, where several ynagw nodes share one database.
//
// # Two drivers, one code path
//
// Both implementations are the same code (core) over database/sql: the
// PostgreSQL one goes through pgx v5's database/sql adapter (pgx/stdlib)
// rather than pgxpool, so every query, scan, merge rule and the token
// encryption are written once and the driver-parametric tests
// (forEachDriver) run the same table tests against both. Queries use SQLite's
// ? / ?N placeholders and are rewritten to $N for PostgreSQL; the few
// parameters whose type PostgreSQL cannot infer carry a CAST that SQLite
// accepts too. Columns hold the same Go values (Unix nanoseconds in
// INTEGER/BIGINT, ciphertext in BLOB/BYTEA). Migrations are versioned once and
// written per driver (sqliteMigrations, pgMigrations, same length); PostgreSQL
// nodes migrating at the same time serialise on an advisory transaction lock.
//
// The PostgreSQL-only parts of clustered mode, line leases (leases.go) and
// shared registrations (registrations.go), are methods of *Postgres only.
//
// # Durability contract
//
// Every mutating method commits before it returns. The SQLite implementation runs
// in WAL mode with synchronous=FULL, so once a method has returned nil its effect
// survives a process crash or power loss. Callers rely on that ordering:
//
//   - OpenCall is called at call setup, before the INVITE is forwarded or the YNA
//     call is started, so a crash mid-call always leaves a row behind.
//   - The answer (UpdateCall with AnswerAt set) is committed before the 200 OK is
//     sent to the SIP side, so a billed (answered) call is never lost.
//   - After a restart OpenCalls returns the calls whose end was never recorded;
//     the daemon ends their YNA calls (DELETE /call/end) and closes them with
//     CloseCall.
//
// # Secrets
//
// Access and refresh tokens are encrypted at rest with AES-256-GCM (a fresh random
// nonce per value, the MSISDN and column bound in as additional data). The 32-byte
// key comes from configuration (ParseKey accepts hex or base64). A database opened
// with a different key fails with ErrBadKey rather than yielding garbage tokens.
package store
