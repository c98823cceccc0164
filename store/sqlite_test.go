package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPragmas(t *testing.T) {
	s := newTest(t)
	ctx := context.Background()
	tests := []struct {
		db     string
		pragma string
		want   string
	}{
		{"writer", "journal_mode", "wal"},
		{"writer", "synchronous", "2"}, // FULL
		{"writer", "busy_timeout", "5000"},
		{"writer", "foreign_keys", "1"},
		{"reader", "journal_mode", "wal"},
		{"reader", "synchronous", "2"},
		{"reader", "busy_timeout", "5000"},
		{"reader", "query_only", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.db+"/"+tt.pragma, func(t *testing.T) {
			db := s.w
			if tt.db == "reader" {
				db = s.r
			}
			var got string
			if err := db.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(got, tt.want) {
				t.Fatalf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ynagw.db")
	for i := 0; i < 3; i++ {
		s, err := OpenSQLite(ctx, path, testKey)
		if err != nil {
			t.Fatalf("open #%d: %v", i, err)
		}
		if i == 0 {
			if err := s.PutLine(ctx, Line{MSISDN: "1", AccessToken: "AT"}); err != nil {
				t.Fatal(err)
			}
		}
		var n, max int
		if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &max); err != nil {
			t.Fatal(err)
		}
		if n != SchemaVersion() || max != SchemaVersion() {
			t.Fatalf("open #%d: %d migration rows, max %d; want %d", i, n, max, SchemaVersion())
		}
		if l, err := s.GetLine(ctx, "1"); err != nil || l.AccessToken != "AT" {
			t.Fatalf("open #%d: data lost across reopen: %+v %v", i, l, err)
		}
		// Re-running migrate on a live database is a no-op too.
		if err := migrate(ctx, s.w, s.d, time.Now); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ynagw.db")
	s, err := OpenSQLite(ctx, path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, "INSERT INTO schema_migrations(version, applied_at) VALUES(?, 0)", SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if s2, err := OpenSQLite(ctx, path, testKey); !errors.Is(err, ErrSchemaTooNew) {
		if s2 != nil {
			_ = s2.Close()
		}
		t.Fatalf("err = %v, want ErrSchemaTooNew", err)
	}
}

func TestOpenSQLiteArgs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		name    string
		path    string
		key     []byte
		wantErr error
	}{
		{"empty path", "", testKey, ErrInvalid},
		{"query in path", filepath.Join(dir, "a.db?mode=ro"), testKey, ErrInvalid},
		{"uri", "file:" + filepath.Join(dir, "a.db"), testKey, ErrInvalid},
		{"memory", ":memory:", testKey, ErrInvalid},
		{"short key", filepath.Join(dir, "b.db"), testKey[:16], ErrKeyFormat},
		{"nil key", filepath.Join(dir, "c.db"), nil, ErrKeyFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenSQLite(ctx, tt.path, tt.key)
			if !errors.Is(err, tt.wantErr) {
				if s != nil {
					_ = s.Close()
				}
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if _, err := OpenSQLite(ctx, filepath.Join(dir, "missing-dir", "x.db"), testKey); err == nil {
		t.Fatal("open in a missing directory succeeded")
	}
}

func TestClosedAndCancelled(t *testing.T) {
	s := newTest(t)
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.OpenCall(cctx, CDR{ID: "x", Direction: Inbound, Line: "1"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenCall(cancelled ctx) err = %v, want context.Canceled", err)
	}
	if _, err := s.OpenCalls(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenCalls(cancelled ctx) err = %v, want context.Canceled", err)
	}
	ctx := context.Background()
	if _, err := s.GetCall(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancelled OpenCall left a row: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.PutLine(ctx, Line{MSISDN: "1"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("PutLine after Close err = %v", err)
	}
	if _, err := s.Lines(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lines after Close err = %v", err)
	}
}

// TestOrphanAfterCrash: a child process commits an answered call and exits
// without closing the store (no checkpoint, no Close), like a crashed daemon.
// The reopened store must report the call as open with everything committed.
func TestOrphanAfterCrash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ynagw.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnvPath+"="+path, crashEnvKey+"="+hex.EncodeToString(testKey))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != crashExit {
		t.Fatalf("crash writer: %v\n%s", err, out)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("expected a WAL left behind by the crashed writer: %v", err)
	}

	s := openTest(t, path)
	open, err := s.OpenCalls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 {
		t.Fatalf("OpenCalls = %+v, want the crashed call", open)
	}
	c := open[0]
	if c.ID != crashCallID || c.YNACallID != "yna-1" || c.SIPCallID != "sip-1" || c.AnswerAt.IsZero() || c.SIPCode != 200 || !c.Open() {
		t.Fatalf("orphan lost committed fields: %+v", c)
	}
	// What the daemon does next: end the YNA call, then close the record.
	if err := s.CloseCall(ctx, c.ID, CallEnd{Result: "orphaned", Reason: "daemon restart"}); err != nil {
		t.Fatal(err)
	}
	if open, err := s.OpenCalls(ctx); err != nil || len(open) != 0 {
		t.Fatalf("OpenCalls after close = %+v, %v", open, err)
	}

	// Clean close-and-reopen keeps open calls open too.
	if err := s.OpenCall(ctx, CDR{ID: "c2", Direction: Inbound, Line: "14155550100"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	if open, err := s.OpenCalls(ctx); err != nil || !equalStrings(cdrIDs(open), []string{"c2"}) {
		t.Fatalf("OpenCalls after clean reopen = %v, %v", cdrIDs(open), err)
	}
}

// TestConcurrentCalls: 100 goroutines each run a full call lifecycle while
// readers query; run under -race.
func TestConcurrentCalls(t *testing.T) {
	ctx := context.Background()
	s := newTest(t)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("call-%03d", i)
			line := fmt.Sprintf("1415555%04d", i%10)
			if err := s.OpenCall(ctx, CDR{ID: id, Direction: Outbound, Line: line}); err != nil {
				errs <- err
				return
			}
			if err := s.UpdateCall(ctx, CDR{ID: id, YNACallID: "yna-" + id, AnswerAt: time.Now()}); err != nil {
				errs <- err
				return
			}
			if err := s.CloseCall(ctx, id, CallEnd{Result: "answered", Stats: Stats{PacketsSIPIn: uint64(i + 1)}}); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := s.CDRs(ctx, CDRFilter{Line: fmt.Sprintf("1415555%04d", i%10), Limit: 10}); err != nil {
				errs <- err
				return
			}
			if _, err := s.OpenCalls(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all, err := s.CDRs(ctx, CDRFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("%d CDRs, want %d", len(all), n)
	}
	for _, c := range all {
		var i int
		if _, err := fmt.Sscanf(c.ID, "call-%d", &i); err != nil {
			t.Fatal(err)
		}
		if c.Open() || c.YNACallID != "yna-"+c.ID || c.PacketsSIPIn != uint64(i+1) || c.Result != "answered" {
			t.Fatalf("inconsistent CDR %+v", c)
		}
	}
	if open, _ := s.OpenCalls(ctx); len(open) != 0 {
		t.Fatalf("%d calls left open", len(open))
	}
}
