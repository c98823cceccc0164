// Package pgtest starts a real PostgreSQL server for tests: initdb into a
// private temporary directory, postgres listening on a free 127.0.0.1 port with
// its unix socket in that directory, trust authentication, no fsync. When the
// test runs as root the server runs as nobody:nogroup (postgres refuses to run
// as root), the data directory chowned to it. One server per test binary is the
// intended use (Shared + StopShared from TestMain); each test gets its own
// database (NewDB), dropped on cleanup. Tests skip when the Debian postgresql
// binaries (/usr/lib/postgresql/*/bin/initdb) are missing (in CI, with CI set, they
// fail). Only tests import it.
package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres: no initdb/postgres binaries on this machine.
var ErrNoPostgres = errors.New("pgtest: PostgreSQL server binaries not found (apt-get install postgresql)")

// BinDir returns the newest /usr/lib/postgresql/N/bin holding initdb and
// postgres (or $YNAGW_PG_BINDIR), ErrNoPostgres if there is none.
func BinDir() (string, error) {
	if d := os.Getenv("YNAGW_PG_BINDIR"); d != "" {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
		return "", fmt.Errorf("%w in YNAGW_PG_BINDIR=%s", ErrNoPostgres, d)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return verOf(dirs[i]) > verOf(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func verOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Require skips t when the PostgreSQL server binaries are missing; in CI (CI set) it
// fails instead, like internal/testpeer: a broken install never turns into a green run.
func Require(t testing.TB) {
	t.Helper()
	if _, err := BinDir(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (the test command installs it: make test-deps)", err)
		}
		t.Skip(err.Error())
	}
}

// Server is one running postgres.
type Server struct {
	Port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  *logTail
	dbs  atomic.Int64
}

// Start runs initdb and postgres; ctx bounds the startup. Stop the server with Stop.
func Start(ctx context.Context) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ynagw-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{dir: dir, done: make(chan struct{}), log: &logTail{}}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	asNobody := os.Geteuid() == 0
	if asNobody {
		if err := chownNobody(dir, data); err != nil {
			return nil, err
		}
	}
	initdb := command(ctx, asNobody, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.Port = port
	// Not bound to ctx: the server outlives Start.
	s.cmd = command(context.Background(), asNobody, filepath.Join(bin, "postgres"),
		"-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB",
		"-c", "log_min_messages=warning", "-c", "logging_collector=off")
	// No server left behind by a killed test binary (setpriv sets it again
	// after changing the user, which clears it).
	s.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s.cmd.Stdout = io.Discard
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: start postgres: %w", err)
	}
	ready := make(chan struct{})
	go func() { // owned by s: ends at the process's EOF
		var once sync.Once
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.log.add(line)
			if strings.Contains(line, "ready to accept connections") {
				once.Do(func() { close(ready) })
			}
		}
		_ = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case <-ready:
	case <-s.done:
		return nil, fmt.Errorf("pgtest: postgres exited during startup:\n%s", s.log.String())
	case <-ctx.Done():
		s.kill()
		return nil, fmt.Errorf("pgtest: postgres startup: %w\n%s", ctx.Err(), s.log.String())
	}
	ok = true
	return s, nil
}

func command(ctx context.Context, asNobody bool, name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if asNobody {
		cmd = exec.CommandContext(ctx, "setpriv", append([]string{"--reuid=nobody", "--regid=nogroup", "--clear-groups", "--pdeathsig=KILL", "--", name}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	return cmd
}

func chownNobody(paths ...string) error {
	uid, gid := 65534, 65534 // nobody:nogroup on Debian
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("pgtest: chown %s: %w", p, err)
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DSN is the connection string for database db (user postgres, no password).
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// CreateDB creates a fresh database and returns its DSN.
func (s *Server) CreateDB(ctx context.Context, prefix string) (string, error) {
	name := fmt.Sprintf("%s_%d", sanitize(prefix), s.dbs.Add(1))
	if err := s.admin(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		return "", err
	}
	return s.DSN(name), nil
}

// DropDB drops a database made by CreateDB, closing its remaining sessions.
func (s *Server) DropDB(ctx context.Context, dsn string) error {
	i := strings.LastIndex(dsn, "/")
	name, _, _ := strings.Cut(dsn[i+1:], "?")
	return s.admin(ctx, `DROP DATABASE IF EXISTS "`+sanitize(name)+`" WITH (FORCE)`)
}

func (s *Server) admin(ctx context.Context, sql string) error {
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %s: %w", sql, err)
	}
	return nil
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 50 {
		out = out[:50]
	}
	return out
}

// Log returns the server's recent log lines.
func (s *Server) Log() string { return s.log.String() }

// Stop shuts the server down (fast shutdown, SIGKILL after 10 s) and removes
// its directory.
func (s *Server) Stop() error {
	if s == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.kill()
	}
	return os.RemoveAll(s.dir)
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

type logTail struct {
	mu    sync.Mutex
	lines []string
}

func (l *logTail) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) >= 200 {
		l.lines = l.lines[1:]
	}
	l.lines = append(l.lines, s)
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

var (
	sharedMu  sync.Mutex
	sharedSrv *Server
	sharedErr error
)

// Shared returns the test binary's one server, starting it on first use; it
// skips t when PostgreSQL is not installed. Call StopShared from TestMain after
// m.Run.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedSrv == nil && sharedErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		sharedSrv, sharedErr = Start(ctx)
		cancel()
	}
	if errors.Is(sharedErr, ErrNoPostgres) {
		Require(t) // skips, or fails in CI
	}
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedSrv
}

// StopShared stops the server Shared started, if any.
func StopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedSrv != nil {
		_ = sharedSrv.Stop()
		sharedSrv = nil
	}
}

// NewDB creates a database on the shared server for t, dropped on cleanup, and
// returns its DSN.
func NewDB(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := s.CreateDB(ctx, "t_"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.DropDB(ctx, dsn); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return dsn
}
