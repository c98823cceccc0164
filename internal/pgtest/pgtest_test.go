package pgtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopShared()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// TestServer: a database from NewDB answers queries, as a non-superuser-owned
// process when the test runs as root, and is dropped on cleanup.
func TestServer(t *testing.T) {
	dsn := NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var one int
	var addr string
	if err := c.QueryRow(ctx, "SELECT 1, host(inet_server_addr())").Scan(&one, &addr); err != nil {
		t.Fatal(err)
	}
	if one != 1 || addr != "127.0.0.1" {
		t.Fatalf("got %d from %q, want 1 from 127.0.0.1", one, addr)
	}
}
