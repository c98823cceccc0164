package daemon

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/ynagw/ynagw/config"
)

// CheckConfig is `ynagw check-config`: it loads the file and prints "OK" (then a note
// per listen address a running ynagw on the same store holds), or every field error (one
// per line, "path (line N): message") and returns an error.
func CheckConfig(path string, w io.Writer) error {
	cfg, err := config.Load(path)
	var notes []string
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, notes, err = preflight(ctx, cfg) // what run does with it before it starts
		cancel()
	}
	if err == nil {
		_, _ = fmt.Fprintln(w, "OK")
		for _, n := range notes {
			_, _ = fmt.Fprintln(w, "note: "+n)
		}
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
