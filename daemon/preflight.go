package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/store"
)

// Preflight is the configuration stage shared by `ynagw run` and `ynagw check-config`:
// the options (FromConfig: PoP key, store key) and the store as the daemon will open it
// (its directory exists and is writable, an existing database is writable, holds a schema
// this binary knows and was created with this key). It changes nothing on disk, so it can
// run beside a running daemon; the one start failure it leaves out is the instance lock
// held by that running daemon. Problems are *config.FieldError naming the option.
func Preflight(ctx context.Context, c *config.Config) (Options, error) {
	opts, err := FromConfig(c)
	if err != nil {
		return opts, err
	}
	if err := checkStore(ctx, c.Store.Path, opts.StoreKey); err != nil {
		var fe *config.FieldError
		if errors.As(err, &fe) {
			if fe.Path == "store.key" {
				fe.Path = keyField(c)
			}
			if fe.Line == 0 {
				fe.Line = c.LineOf(fe.Path)
			}
		}
		return opts, err
	}
	return opts, nil
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
