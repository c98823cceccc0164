// Command ynagw is the YNA gateway daemon. It only parses flags; the work is done by
// package daemon (run, check-config, health) and package demo (demo).
//
//	ynagw run -config FILE           run the daemon
//	ynagw demo                       a self-contained demo against an embedded simulator
//	ynagw check-config -config FILE  print OK or every field error (exit 1)
//	ynagw lines [-watch N]           lines and their health, live (admin API)
//	ynagw health [-addr HOST:PORT]   probe the running daemon's /healthz, -ready /readyz (exit 0/1)
//	ynagw calls|registrations|cdrs   calls, phones, call records (admin API, apicli.go)
//	ynagw hangup ID                  hang up a call (admin API)
//	ynagw config show -config FILE   the effective config, secrets masked (docs.go)
//	ynagw man | completion bash      man page and bash completion from the command table
//	ynagw version                    print the version (also ynagw --version)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/ynagw/ynagw/daemon"
	"github.com/ynagw/ynagw/demo"
)

// version is set with -ldflags "-X main.version=v1.2.3" (make build, the Dockerfile's
// VERSION build argument); without it the version comes from the build's VCS stamp.
var version string

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const defaultConfig = "/etc/ynagw/ynagw.yaml"

// commands in the order of the usage text.
var commands = []struct{ name, args, help string }{
	{"run", "-config FILE", "run the gateway (SIGTERM drains, SIGHUP reloads)"},
	{"demo", "[-v]", "run a scripted call against an embedded YNA simulator"},
	{"check-config", "-config FILE", "validate a configuration file"},
	{"lines", "[-config FILE|-addr HOST:PORT] [-watch N]", "list the lines and their health: linked, needs relink, never linked, channel (admin API)"},
	{"health", "[-addr HOST:PORT] [-ready]", "probe the running daemon's admin /healthz (alive), or /readyz with -ready (can take calls); exit 0 or 1"},
	{"calls", "[-config FILE|-addr HOST:PORT]", "list the calls in progress (admin API)"},
	{"registrations", "[-config FILE|-addr HOST:PORT]", "list the registered desk phones (admin API)"},
	{"hangup", "[-config FILE|-addr HOST:PORT] ID", "hang up a call in progress (admin API)"},
	{"cdrs", "[-limit N] [-csv]", "list recent call records, or export them as CSV (admin API)"},
	{"config", "show -config FILE", "print the effective configuration, secrets masked"},
	{"man", "", "print the ynagw(1) man page (roff)"},
	{"completion", "bash", "print a bash completion script"},
	{"version", "", "print the version (also: ynagw --version)"},
}

func usage(w io.Writer) {
	_, _ = fmt.Fprint(w, "usage: ynagw <command> [flags]\n\ncommands:\n")
	for _, c := range commands {
		_, _ = fmt.Fprintf(w, "  %-44s %s\n", c.name+" "+c.args, c.help)
	}
	_, _ = fmt.Fprint(w, "\n`ynagw <command> -h` shows the command's flags.\n")
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	case "-version", "--version":
		cmd = "version"
	}
	var help string
	for _, c := range commands {
		if c.name == cmd {
			help = c.help
		}
	}
	if help == "" {
		_, _ = fmt.Fprintf(stderr, "ynagw: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
	if apiCommands[cmd] {
		return runAPI(cmd, help, rest, stdout, stderr)
	}
	switch cmd {
	case "config":
		return configShow(rest, stdout, stderr)
	case "man", "completion":
		return docCommand(cmd, rest, stdout, stderr)
	}
	fs := flag.NewFlagSet("ynagw "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfgPath *string
		verbose *bool
		addr    *string
		ready   *bool
		timeout *time.Duration
	)
	switch cmd {
	case "run", "check-config":
		cfgPath = fs.String("config", defaultConfig, "configuration file")
	case "demo":
		verbose = fs.Bool("v", false, "also print the gateway's logs (stderr)")
	case "health":
		cfgPath = fs.String("config", defaultConfig, "configuration file to take admin.listen from when -addr is not given")
		addr = fs.String("addr", "", "admin listener HOST:PORT (default: admin.listen of -config)")
		ready = fs.Bool("ready", false, "probe /readyz (not draining, store writable, a line linked with its channel up) instead of /healthz (the process answers); "+
			"not for a container HEALTHCHECK: a first start has no line linked yet")
		_ = fs.Bool("live", false, "probe /healthz: the default, accepted for older scripts")
		timeout = fs.Duration("timeout", 5*time.Second, "give up after this long")
	}
	fs.Usage = func() {
		_, _ = fmt.Fprintf(fs.Output(), "usage: ynagw %s [flags]\n\n%s\n", cmd, help)
		var n int
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			_, _ = fmt.Fprint(fs.Output(), "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
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
	case "health":
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		err = daemon.Health(ctx, daemon.HealthOptions{Addr: *addr, ConfigPath: *cfgPath, Ready: *ready}, stdout)
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
