// Command ynagw is the YNA gateway daemon. It only parses flags; the work is done by
// package daemon (run, check-config, lines) and package demo (demo).
//
//	ynagw run -config FILE           run the daemon
//	ynagw demo                       a self-contained demo against an embedded simulator
//	ynagw check-config -config FILE  print OK or every field error (exit 1)
//	ynagw lines -config FILE         linked lines and their state
//	ynagw version                    print the version
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/ynagw/ynagw/daemon"
	"github.com/ynagw/ynagw/demo"
)

// version is set with -ldflags "-X main.version=v1.2.3".
var version string

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func usage(w io.Writer) {
	_, _ = fmt.Fprint(w, `usage: ynagw <command> [flags]

commands:
  run -config FILE           run the gateway (SIGTERM drains, SIGHUP reloads)
  demo                       run a scripted call against an embedded YNA simulator
  check-config -config FILE  validate a configuration file
  lines -config FILE         list linked lines and their state
  version                    print the version
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet("ynagw "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/ynagw/ynagw.yaml", "configuration file")
	var verbose *bool
	if cmd == "demo" {
		verbose = fs.Bool("v", false, "also print the gateway's logs (stderr)")
	}
	switch cmd {
	case "run", "check-config", "lines", "demo", "version":
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	default:
		_, _ = fmt.Fprintf(stderr, "ynagw: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "ynagw %s: unexpected arguments %v\n", cmd, fs.Args())
		return 2
	}
	v := daemon.Version(version)
	var err error
	switch cmd {
	case "version":
		_, _ = fmt.Fprintln(stdout, "ynagw", v)
		return 0
	case "run":
		err = daemon.Run(*cfgPath, v, stderr)
	case "check-config":
		err = daemon.CheckConfig(*cfgPath, stdout)
	case "lines":
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = daemon.PrintLines(ctx, *cfgPath, stdout)
		cancel()
	case "demo":
		var logs io.Writer
		if *verbose {
			logs = stderr
		} else {
			// sipgo logs a few harmless warnings through slog's default logger.
			slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
		}
		err = demo.Run(context.Background(), demo.Options{Out: stdout, Logs: logs, Version: v})
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "ynagw %s: %v\n", cmd, err)
		return 1
	}
	return 0
}
