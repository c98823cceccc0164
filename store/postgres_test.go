package store

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/pgtest"
)

func TestDollarRebind(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                          "SELECT 1",
		"a = ? AND b = ?":                   "a = $1 AND b = $2",
		"VALUES (?1, ?2, COALESCE(?7, ?1))": "VALUES ($1, $2, COALESCE($7, $1))",
		"x IN (?, ?) LIMIT ?":               "x IN ($1, $2) LIMIT $3",
		"COALESCE(NULLIF(CAST(? AS BIGINT)": "COALESCE(NULLIF(CAST($1 AS BIGINT)",
	} {
		if got := dollarRebind(in); got != want {
			t.Errorf("dollarRebind(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCDRNode: the node column round-trips and UpdateCall keeps it when the
// update does not name one (both drivers).
func TestCDRNode(t *testing.T) { forEachDriver(t, testCDRNode) }

func testCDRNode(t *testing.T, s *core) {
	ctx := context.Background()
	if err := s.OpenCall(ctx, CDR{ID: "c1", Direction: Inbound, Line: "1", Node: "node-a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateCall(ctx, CDR{ID: "c1", YNACallID: "y1", Stats: Stats{PacketsNetIn: 1 << 40}}); err != nil {
		t.Fatal(err)
	}
	c, err := s.GetCall(ctx, "c1")
	if err != nil || c.Node != "node-a" || c.YNACallID != "y1" || c.PacketsNetIn != 1<<40 {
		t.Fatalf("GetCall = %+v, %v; want node-a, y1, 2^40 packets", c, err)
	}
	if err := s.UpdateCall(ctx, CDR{ID: "c1", Node: "node-b"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.GetCall(ctx, "c1"); c.Node != "node-b" {
		t.Fatalf("node after takeover update = %q, want node-b", c.Node)
	}
}

// TestPostgresTokensEncrypted: the token columns hold AES-GCM ciphertext (no
// plaintext substring, random nonces), and another key is refused at open.
func TestPostgresTokensEncrypted(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDB(t)
	s := openPG(t, dsn, testKey)
	const at = "ACCESS-PLAINTEXT-c0ffee-4242"
	for _, m := range []string{"14155550100", "14155550102"} {
		if err := s.PutLine(ctx, Line{MSISDN: m, AccessToken: at, RefreshToken: "R-" + at}); err != nil {
			t.Fatal(err)
		}
	}
	var c1, c2 []byte
	var leaks int
	if err := s.r.QueryRowContext(ctx, `SELECT a.access_token, b.access_token,
		(SELECT COUNT(*) FROM lines WHERE position($1::bytea in access_token) > 0 OR position($1::bytea in refresh_token) > 0)
		FROM lines a, lines b WHERE a.msisdn = '14155550100' AND b.msisdn = '14155550102'`, []byte(at)).Scan(&c1, &c2, &leaks); err != nil {
		t.Fatal(err)
	}
	if leaks != 0 || len(c1) == 0 || bytes.Equal(c1, c2) {
		t.Fatalf("plaintext in %d rows; ciphertexts %x / %x (want distinct, non-empty)", leaks, c1, c2)
	}
	if l, err := s.GetLine(ctx, "14155550100"); err != nil || l.AccessToken != at {
		t.Fatalf("GetLine = %+v, %v", l, err)
	}
	other := bytes.Clone(testKey)
	other[0] ^= 1
	if s2, err := OpenPostgres(ctx, dsn, other); !errors.Is(err, ErrBadKey) {
		if s2 != nil {
			_ = s2.Close()
		}
		t.Fatalf("OpenPostgres(wrong key) err = %v, want ErrBadKey", err)
	}
	if err := CheckPostgres(ctx, dsn, other); !errors.Is(err, ErrBadKey) {
		t.Fatalf("CheckPostgres(wrong key) = %v, want ErrBadKey", err)
	}
	if err := CheckPostgres(ctx, dsn, testKey); err != nil {
		t.Fatalf("CheckPostgres(right key) = %v", err)
	}
}

// TestPostgresConcurrentOpen: nodes starting together on an empty database
// migrate it once (advisory lock) and agree on one key check; a duplicate
// OpenCall racing on two nodes gives exactly one winner and ErrExists.
func TestPostgresConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDB(t)
	const nodes = 4
	stores := make([]*Postgres, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = OpenPostgres(ctx, dsn, testKey)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	var n, max int
	if err := stores[0].r.QueryRowContext(ctx, "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != SchemaVersion() || max != SchemaVersion() {
		t.Fatalf("%d migration rows, max %d; want %d", n, max, SchemaVersion())
	}
	var ok, dup int
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := stores[i].OpenCall(ctx, CDR{ID: "same", Direction: Outbound, Line: "1", SetupAt: time.Unix(1, 0)})
			sharedMu.Lock()
			defer sharedMu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrExists):
				dup++
			default:
				t.Errorf("node %d OpenCall: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || dup != nodes-1 {
		t.Fatalf("OpenCall race: %d ok, %d ErrExists; want 1 and %d", ok, dup, nodes-1)
	}
}

var sharedMu sync.Mutex

func TestOpenPostgresBadDSN(t *testing.T) {
	_, err := OpenPostgres(context.Background(), "postgres://u:secretpw@[::1", testKey)
	if !errors.Is(err, ErrInvalid) || bytes.Contains([]byte(err.Error()), []byte("secretpw")) {
		t.Fatalf("err = %v; want ErrInvalid without the password", err)
	}
}
