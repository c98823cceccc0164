// Package store owns ynagw's persistent state: linked lines (MSISDN, OAuth tokens,
// link state) and call detail records (CDRs).
//
// Store is the interface the daemon uses; SQLite (OpenSQLite) is the embedded
// implementation, built on the pure-Go driver modernc.org/sqlite so the daemon
// stays a static CGO_ENABLED=0 binary. A PostgreSQL implementation for clustered
// deployments can follow the same interface: every method is a single
// self-contained transaction and the types carry no driver specifics.
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
