//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
)

// storeLock is the exclusive flock(2) one daemon holds on <store>.lock, in the state
// directory, for as long as it runs: a second daemon on the same store would open a
// second notification channel of every line and take its inbound calls. The kernel
// drops the lock with the process, so a crash (even SIGKILL) leaves no stale lock; the
// file stays and records the holder ("pid=… host=… since=…") for the refusal message.
type storeLock struct {
	f    *os.File
	path string
}

// LockedError is returned by New when another process holds the store's lock.
type LockedError struct {
	Store, Lock string
	// Holder is what the holder recorded: "pid 123 on host gw1 since 2006-01-02T15:04:05Z",
	// or "" when it has not written it yet.
	Holder string
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.Holder != "" {
		who = "another ynagw: " + e.Holder
	}
	return fmt.Sprintf("store %s is in use by %s (lock %s); one ynagw per store: stop the other one first", e.Store, who, e.Lock)
}

// lockStore takes the lock of the SQLite store at storePath (none for :memory: and
// file: URIs).
func lockStore(storePath string) (*storeLock, error) {
	if storePath == "" || strings.HasPrefix(storePath, ":") || strings.HasPrefix(storePath, "file:") {
		return nil, nil
	}
	p := storePath + ".lock"
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("daemon: store lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := readHolder(f)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Store: storePath, Lock: p, Holder: holder}
		}
		return nil, fmt.Errorf("daemon: store lock %s: %w", p, err)
	}
	host, _ := os.Hostname()
	rec := fmt.Sprintf("pid=%d host=%s since=%s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(rec), 0)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("daemon: store lock %s: %w", p, err)
	}
	return &storeLock{f: f, path: p}, nil
}

// lockHolder reports whether another process holds the lock of the store at storePath,
// and what it recorded, without taking the lock for longer than a test (a shared lock,
// released at once) and without creating the lock file.
func lockHolder(storePath string) (holder string, held bool) {
	if storePath == "" || strings.HasPrefix(storePath, ":") || strings.HasPrefix(storePath, "file:") {
		return "", false
	}
	f, err := os.Open(storePath + ".lock")
	if err != nil {
		return "", false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return readHolder(f), errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return "", false
}

// readHolder formats the holder record of a lock file ("" if none).
func readHolder(f *os.File) string {
	b, _ := io.ReadAll(io.LimitReader(f, 512))
	var pid, host, since string
	for _, kv := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "pid":
			pid = v
		case "host":
			host = v
		case "since":
			since = v
		}
	}
	if pid == "" {
		return ""
	}
	s := "pid " + pid
	if host != "" {
		s += " on host " + host
	}
	if since != "" {
		s += " since " + since
	}
	return s
}

// release empties the record and drops the lock (nil-safe).
func (l *storeLock) release() {
	if l == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = l.f.Close()
}
