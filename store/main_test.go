package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ynagw/ynagw/internal/pgtest"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnvPath); path != "" {
		os.Exit(crashWriter(path, os.Getenv(crashEnvKey)))
	}
	code := m.Run()
	pgtest.StopShared()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// forEachDriver runs fn against a fresh SQLite store and a fresh PostgreSQL
// store (a real server from internal/pgtest; that subtest skips when
// PostgreSQL is not installed).
func forEachDriver(t *testing.T, fn func(t *testing.T, s *core)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, &newTest(t).core) })
	t.Run("postgres", func(t *testing.T) { fn(t, &newPG(t).core) })
}

func newPG(t testing.TB) *Postgres {
	t.Helper()
	return openPG(t, pgtest.NewDB(t), testKey)
}

func openPG(t testing.TB, dsn string, key []byte) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := OpenPostgres(ctx, dsn, key)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

const (
	crashEnvPath = "YNAGW_STORE_CRASH_DB"
	crashEnvKey  = "YNAGW_STORE_CRASH_KEY"
	crashCallID  = "crash-call-1"
	crashExit    = 3
)

// crashWriter runs in a child process: it opens the store, commits an
// answered call and exits without closing anything, like a crashed daemon.
func crashWriter(path, hexKey string) int {
	key, err := hex.DecodeString(hexKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	s, err := OpenSQLite(ctx, path, key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	setup := time.Unix(1_700_000_000, 0)
	if err := s.OpenCall(ctx, CDR{ID: crashCallID, Direction: Outbound, Line: "14155550100", SIPCallID: "sip-1", SetupAt: setup}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := s.UpdateCall(ctx, CDR{ID: crashCallID, YNACallID: "yna-1", AnswerAt: setup.Add(3 * time.Second), SIPCode: 200}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return crashExit // no s.Close(): the WAL is left un-checkpointed
}

var testKey = mustKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")

func mustKey(s string) []byte {
	k, err := ParseKey(s)
	if err != nil {
		panic(err)
	}
	return k
}

func openTest(t testing.TB, path string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path, testKey)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newTest(t testing.TB) *SQLite {
	t.Helper()
	return openTest(t, t.TempDir()+"/ynagw.db")
}
