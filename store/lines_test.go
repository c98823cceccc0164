package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLinesCRUD(t *testing.T) { forEachDriver(t, testLinesCRUD) }

func testLinesCRUD(t *testing.T, s *core) {
	ctx := context.Background()
	exp := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	linked := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

	tests := []struct {
		name    string
		put     Line
		wantErr error
		check   func(t *testing.T, got Line)
	}{
		{
			name: "insert full",
			put:  Line{MSISDN: "14155550100", AccessToken: "AT-1", RefreshToken: "RT-1", ExpiresAt: exp, State: LineLinked, LinkedAt: linked},
			check: func(t *testing.T, got Line) {
				if got.AccessToken != "AT-1" || got.RefreshToken != "RT-1" || !got.ExpiresAt.Equal(exp) ||
					got.State != LineLinked || !got.LinkedAt.Equal(linked) || got.UpdatedAt.IsZero() {
					t.Fatalf("got %+v", got)
				}
			},
		},
		{
			name: "update keeps linked_at when zero, state defaults to linked",
			put:  Line{MSISDN: "14155550100", AccessToken: "AT-2", RefreshToken: "RT-2", ExpiresAt: exp.Add(time.Hour)},
			check: func(t *testing.T, got Line) {
				if got.AccessToken != "AT-2" || !got.LinkedAt.Equal(linked) || got.State != LineLinked {
					t.Fatalf("got %+v", got)
				}
			},
		},
		{
			name: "empty tokens stored as empty",
			put:  Line{MSISDN: "14155550101", State: LineUnlinked},
			check: func(t *testing.T, got Line) {
				if got.AccessToken != "" || got.RefreshToken != "" || got.State != LineUnlinked || got.LinkedAt.IsZero() {
					t.Fatalf("got %+v", got)
				}
			},
		},
		{name: "no msisdn", put: Line{AccessToken: "x"}, wantErr: ErrInvalid},
		{name: "bad state", put: Line{MSISDN: "1", State: "frozen"}, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.PutLine(ctx, tt.put)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("PutLine err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("PutLine: %v", err)
			}
			got, err := s.GetLine(ctx, tt.put.MSISDN)
			if err != nil {
				t.Fatalf("GetLine: %v", err)
			}
			tt.check(t, got)
		})
	}

	all, err := s.Lines(ctx)
	if err != nil || len(all) != 2 || all[0].MSISDN != "14155550100" || all[1].MSISDN != "14155550101" {
		t.Fatalf("Lines = %+v, %v", all, err)
	}
	if err := s.DeleteLine(ctx, "14155550101"); err != nil {
		t.Fatalf("DeleteLine: %v", err)
	}
	if _, err := s.GetLine(ctx, "14155550101"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetLine after delete err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteLine(ctx, "14155550101"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteLine err = %v, want ErrNotFound", err)
	}
}

func TestMarkNeedsRelink(t *testing.T) { forEachDriver(t, testMarkNeedsRelink) }

func testMarkNeedsRelink(t *testing.T, s *core) {
	ctx := context.Background()
	if err := s.PutLine(ctx, Line{MSISDN: "14155550100", AccessToken: "AT", RefreshToken: "RT"}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.GetLine(ctx, "14155550100")

	tests := []struct {
		name    string
		msisdn  string
		wantErr error
	}{
		{"known line", "14155550100", nil},
		{"unknown line", "19999999999", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.MarkNeedsRelink(ctx, tt.msisdn, "401 on account/status")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("MarkNeedsRelink err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	got, err := s.GetLine(ctx, "14155550100")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != LineNeedsRelink || got.Reason != "401 on account/status" || got.AccessToken != "AT" ||
		!got.LinkedAt.Equal(before.LinkedAt) || got.UpdatedAt.Before(before.UpdatedAt) {
		t.Fatalf("after relink mark: %+v (before %+v)", got, before)
	}
	// A relink overwrites tokens and state.
	if err := s.PutLine(ctx, Line{MSISDN: "14155550100", AccessToken: "AT2", RefreshToken: "RT2", State: LineLinked, LinkedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetLine(ctx, "14155550100")
	if got.State != LineLinked || got.Reason != "" || got.AccessToken != "AT2" {
		t.Fatalf("after relink: %+v", got)
	}
}

// TestTokensEncryptedAtRest greps the raw database files (main file, WAL,
// shared memory) for the token plaintext, both while open and after close.
func TestTokensEncryptedAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "ynagw.db")
	const at, rt = "ACCESS-PLAINTEXT-c0ffee-4242", "REFRESH-PLAINTEXT-beef-1717"
	s, err := OpenSQLite(ctx, path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutLine(ctx, Line{MSISDN: "14155550100", AccessToken: at, RefreshToken: rt}); err != nil {
		t.Fatal(err)
	}
	grep := func(stage string) {
		t.Helper()
		files, _ := filepath.Glob(path + "*")
		if len(files) == 0 {
			t.Fatalf("%s: no database files", stage)
		}
		var seenMSISDN bool
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{at, rt} {
				if bytes.Contains(b, []byte(secret)) {
					t.Fatalf("%s: %s contains token plaintext %q", stage, f, secret)
				}
			}
			seenMSISDN = seenMSISDN || bytes.Contains(b, []byte("14155550100"))
		}
		// Proves the grep looks at the right bytes: the MSISDN is stored in clear.
		if !seenMSISDN {
			t.Fatalf("%s: MSISDN not found in raw files; the check would be vacuous", stage)
		}
	}
	grep("open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	grep("closed")

	// Random nonces: the same token stored twice gives different bytes.
	s = openTest(t, path)
	if err := s.PutLine(ctx, Line{MSISDN: "14155550102", AccessToken: at}); err != nil {
		t.Fatal(err)
	}
	var c1, c2 []byte
	if err := s.r.QueryRowContext(ctx, "SELECT access_token FROM lines WHERE msisdn='14155550100'").Scan(&c1); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRowContext(ctx, "SELECT access_token FROM lines WHERE msisdn='14155550102'").Scan(&c2); err != nil {
		t.Fatal(err)
	}
	if len(c1) == 0 || bytes.Equal(c1, c2) {
		t.Fatalf("ciphertexts of equal tokens are equal or empty: %x %x", c1, c2)
	}
}

func TestWrongKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ynagw.db")
	s, err := OpenSQLite(ctx, path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutLine(ctx, Line{MSISDN: "14155550100", AccessToken: "AT", RefreshToken: "RT"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	other := bytes.Clone(testKey)
	other[31] ^= 0x80

	// At open: the key check row refuses the wrong key.
	if s2, err := OpenSQLite(ctx, path, other); !errors.Is(err, ErrBadKey) {
		if s2 != nil {
			_ = s2.Close()
		}
		t.Fatalf("OpenSQLite(wrong key) err = %v, want ErrBadKey", err)
	}

	// When decrypting: tokens written with another key are reported, not returned as garbage.
	s = openTest(t, path)
	s.seal, _ = newSealer(other)
	if l, err := s.GetLine(ctx, "14155550100"); !errors.Is(err, ErrBadKey) || l.AccessToken != "" {
		t.Fatalf("GetLine with wrong key = %+v, %v; want ErrBadKey", l, err)
	}
	if _, err := s.Lines(ctx); !errors.Is(err, ErrBadKey) {
		t.Fatalf("Lines with wrong key err = %v, want ErrBadKey", err)
	}

	// Right key still works afterwards.
	s.seal, _ = newSealer(testKey)
	if l, err := s.GetLine(ctx, "14155550100"); err != nil || l.AccessToken != "AT" {
		t.Fatalf("GetLine with right key = %+v, %v", l, err)
	}
}
