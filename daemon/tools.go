package daemon

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"text/tabwriter"
	"time"

	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/store"
)

// CheckConfig is `ynagw check-config`: it loads the file and prints "OK", or every field
// error (one per line, "path: message") and returns an error.
func CheckConfig(path string, w io.Writer) error {
	cfg, err := config.Load(path)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = Preflight(ctx, cfg) // what run does with it before it starts
		cancel()
	}
	if err == nil {
		_, _ = fmt.Fprintln(w, "OK")
		return nil
	}
	printErrors(w, err)
	return fmt.Errorf("invalid configuration %s", path)
}

// printErrors prints every field error of err on its own line ("path: message"), and
// every other error leaf as it is.
func printErrors(w io.Writer, err error) {
	if fe, ok := err.(*config.FieldError); ok {
		_, _ = fmt.Fprintln(w, fe.Error())
		return
	}
	if len(config.FieldErrors(err)) == 0 {
		_, _ = fmt.Fprintln(w, err)
		return
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			printErrors(w, e)
		}
	case interface{ Unwrap() error }:
		printErrors(w, u.Unwrap())
	}
}

// PrintLines is `ynagw lines`: the linked lines and their state from the store, as a table.
func PrintLines(ctx context.Context, path string, w io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	key, err := store.ParseKey(cfg.Store.Key)
	if err != nil {
		return fmt.Errorf("store.key: %w", err)
	}
	st, err := store.OpenSQLite(ctx, cfg.Store.Path, key)
	if err != nil {
		return err
	}
	defer st.Close()
	ls, err := st.Lines(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "MSISDN\tSTATE\tTOKEN EXPIRES\tLINKED\tREASON")
	for _, l := range ls {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.MSISDN, l.State, fmtTime(l.ExpiresAt), fmtTime(l.LinkedAt), l.Reason)
	}
	if len(ls) == 0 {
		_, _ = fmt.Fprintln(tw, "(no linked lines)\t\t\t\t")
	}
	return tw.Flush()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// Version returns v when set (by -ldflags -X), else the module version from the build
// info (with Go's VCS stamp a pseudo-version naming the commit, +dirty for a modified
// tree), else devel-<commit>[-dirty] from the VCS stamp, else "devel".
func Version(v string) string {
	if v != "" {
		return v
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		var rev, dirty string
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && len(s.Value) >= 12:
				rev = s.Value[:12]
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "-dirty"
			}
		}
		if rev != "" {
			return "devel-" + rev + dirty
		}
	}
	return "devel"
}
