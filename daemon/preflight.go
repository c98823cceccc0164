package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/store"
)

// Preflight is the configuration stage shared by `ynagw run` and `ynagw check-config`:
// the options (FromConfig: PoP key, store key), the store as the daemon will open it
// (its directory exists and is writable, an existing database is writable, holds a schema
// this binary knows and was created with this key) and every fixed listen address free
// (bound and released at once). It changes nothing on disk, so it can run beside a
// running daemon; the one start failure it leaves out is the instance lock held by that
// running daemon (whose listen addresses are then not checked, see preflight). Problems
// are *config.FieldError naming the option and its line, all of them at once.
func Preflight(ctx context.Context, c *config.Config) (Options, error) {
	opts, _, err := preflight(ctx, c)
	return opts, err
}

// preflight is Preflight plus notes for check-config: the listen addresses it could not
// check because a ynagw holding the store's lock (presumably the one running on this
// configuration) has them.
func preflight(ctx context.Context, c *config.Config) (Options, []string, error) {
	opts, err := FromConfig(c)
	if err != nil {
		return opts, nil, err
	}
	storeErr := checkConfiguredStore(ctx, c, opts.StoreKey) // sqlite file or postgres database
	var fe *config.FieldError
	if errors.As(storeErr, &fe) {
		if fe.Path == "store.key" {
			fe.Path = keyField(c)
		}
		if fe.Line == 0 {
			fe.Line = c.LineOf(fe.Path)
		}
	}
	notes, listenErr := checkListeners(c)
	return opts, notes, errors.Join(storeErr, listenErr)
}

// listenAddr is one address the daemon binds at start.
type listenAddr struct{ path, network, addr string }

// listenAddrs are the SIP listeners and the admin listener (which serves /metrics too).
func listenAddrs(c *config.Config) []listenAddr {
	var out []listenAddr
	for i, l := range c.Sip.Listen {
		network := "tcp" // tcp and tls
		if l.Transport == "udp" {
			network = "udp"
		}
		out = append(out, listenAddr{fmt.Sprintf("sip.listen[%d].bind", i), network, l.Bind})
	}
	if c.Admin.Listen != "" {
		out = append(out, listenAddr{"admin.listen", "tcp", c.Admin.Listen})
	}
	return out
}

// checkListeners binds every listen address with a fixed port, as run will, and releases
// it at once. An address in use while a ynagw holds the store's lock is a note (that
// daemon has it; run would stop at the lock anyway), else an error asking whether ynagw
// is already running (on another store, or another program has the port).
func checkListeners(c *config.Config) ([]string, error) {
	var notes []string
	var errs []error
	lockChecked, locked, holder := false, false, ""
	for _, a := range listenAddrs(c) {
		if _, port, err := net.SplitHostPort(a.addr); err != nil || port == "0" || port == "" {
			continue // a malformed address is config's error; port 0 is always free
		}
		err := tryBind(a.network, a.addr)
		if err == nil {
			continue
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			if !lockChecked {
				holder, locked = lockHolder(c.Store.Path)
				lockChecked = true
			}
			if locked {
				who := "the running ynagw"
				if holder != "" {
					who += " (" + holder + ")"
				}
				notes = append(notes, fmt.Sprintf("%s: %s %s is in use by %s, which holds the store lock; not checked",
					a.path, a.network, a.addr, who))
				continue
			}
		}
		errs = append(errs, &config.FieldError{Path: a.path, Line: c.LineOf(a.path), Msg: bindProblem(a, err)})
	}
	return notes, errors.Join(errs...)
}

// tryBind binds network addr and releases it.
func tryBind(network, addr string) error {
	if network == "udp" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		return pc.Close()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

// bindProblem words a failed bind for an operator.
func bindProblem(a listenAddr, err error) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Sprintf("%s %s: address in use — is ynagw already running? (else another program has the port: ss -lntup)", a.network, a.addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Sprintf("%s %s: permission denied (ports below 1024 need CAP_NET_BIND_SERVICE, which the systemd unit grants)", a.network, a.addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Sprintf("%s %s: no network interface of this host has that address", a.network, a.addr)
	}
	return fmt.Sprintf("%s %s: cannot listen: %v", a.network, a.addr, err)
}

// keyField names the option the store key came from.
func keyField(c *config.Config) string {
	switch {
	case c.Store.KeyFile != "":
		return "store.key_file"
	case c.Store.KeyEnv != "":
		return "store.key_env"
	}
	return "store.key"
}

// checkStore reports, as a field error, why OpenSQLite(path, key) would fail.
func checkStore(ctx context.Context, path string, key []byte) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &config.FieldError{Path: "store.path", Msg: fmt.Sprintf("no such directory %s (create it, owned by the user ynagw runs as)", dir)}
	case err != nil:
		return &config.FieldError{Path: "store.path", Msg: fmt.Sprintf("cannot use directory %s: %s", dir, osProblem(err))}
	case !fi.IsDir():
		return &config.FieldError{Path: "store.path", Msg: fmt.Sprintf("%s is not a directory", dir)}
	}
	f, err := os.CreateTemp(dir, ".ynagw-check-*")
	if err != nil {
		return &config.FieldError{Path: "store.path", Msg: fmt.Sprintf("cannot write in %s: %s", dir, osProblem(err))}
	}
	_ = f.Close()
	_ = os.Remove(f.Name())
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return &config.FieldError{Path: "store.path", Msg: fmt.Sprintf("%s is a directory, not a database file", path)}
		}
		db, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return &config.FieldError{Path: "store.path", Msg: fmt.Sprintf("cannot write %s: %s", path, osProblem(err))}
		}
		_ = db.Close()
	}
	switch err := store.Check(ctx, path, key); {
	case errors.Is(err, store.ErrBadKey):
		return &config.FieldError{Path: "store.key", Msg: fmt.Sprintf("the database %s was created with another key; "+
			"use that key, or move the database away to start with no linked lines", path)}
	case errors.Is(err, store.ErrSchemaTooNew):
		return &config.FieldError{Path: "store.path", Msg: fmt.Sprintf("the database %s was written by a newer ynagw (%v); run that version", path, err)}
	case err != nil:
		return &config.FieldError{Path: "store.path", Msg: fmt.Sprintf("cannot use the database %s: %v", path, err)}
	}
	return nil
}

// osProblem words a file system error for an operator.
func osProblem(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "permission denied (ynagw runs as its own user)"
	case errors.Is(err, syscall.EROFS):
		return "read-only file system"
	case errors.Is(err, syscall.ENOSPC):
		return "no space left on the file system"
	}
	return err.Error()
}
