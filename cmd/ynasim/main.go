package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ynagw/ynagw/yna/ynasim"
)

const (
	demoAccount  = "demo"
	demoLine     = "14255550100"
	demoRedirect = "http://localhost:8080/callback"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ynasim:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("ynasim", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", "127.0.0.1:9080", "listen address")
	stateDir := fl.String("state-dir", defaultStateDir(), "directory holding the demo app credentials (generated if absent)")
	lifetime := fl.Duration("token-lifetime", ynasim.DefaultTokenLifetime, "access token lifetime")
	laxPoP := fl.Bool("lax-pop", false, "accept requests without X-Authorization (a present PoP is still checked)")
	autoApprove := fl.Bool("auto-approve", false, "link page redirects at once with a code for the first account")
	retention := fl.Duration("retention", ynasim.DefaultRetention, "how long ended calls, expired tokens, retired channel URLs and used codes are kept")
	history := fl.Int("call-history", ynasim.DefaultCallHistory, "most ended calls kept, newest first")
	verbose := fl.Bool("v", false, "debug logging")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *retention <= 0 || *history <= 0 {
		return fmt.Errorf("-retention and -call-history must be positive (got %s, %d)", *retention, *history)
	}

	level := zapcore.InfoLevel
	if *verbose {
		level = zapcore.DebugLevel
	}
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
		zapcore.AddSync(stderr), level))
	defer func() { _ = log.Sync() }()

	c, created, err := loadOrCreateCreds(*stateDir)
	if err != nil {
		return fmt.Errorf("credentials in %s: %w", *stateDir, err)
	}
	cfg := ynasim.Config{
		Apps:          []ynasim.App{{ClientID: c.ClientID, ClientSecret: c.ClientSecret, PublicKeyPEM: c.PublicPEM, Name: "ynasim demo app"}},
		Accounts:      []ynasim.Account{{ID: demoAccount, Lines: []string{demoLine}, Name: "Demo User"}},
		TokenLifetime: *lifetime,
		Retention:     *retention,
		CallHistory:   *history,
		AutoApprove:   *autoApprove,
		Log:           log,
	}
	if *laxPoP {
		cfg.PoP = ynasim.PoPLax
	}
	// Catch signals before the banner says "ready": a supervisor (or a test) may
	// send SIGTERM as soon as it reads that line.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)

	sim, err := ynasim.New(cfg)
	if err != nil {
		return err
	}
	if err := sim.Start(*addr); err != nil {
		return err
	}
	printBanner(stdout, sim, c, created, cfg.PoP)
	s := <-sig
	log.Info("ynasim: shutting down", zap.String("signal", s.String()))
	done := make(chan error, 1)
	go func() { done <- sim.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("shutdown timed out")
	}
}

func printBanner(w io.Writer, sim *ynasim.Sim, c creds, created bool, pop ynasim.PoPMode) {
	origin := "loaded"
	if created {
		origin = "generated"
	}
	fmt.Fprintf(w, "ynasim: simulated T-Mobile YNA service\n")
	fmt.Fprintf(w, "  base URL:      %s\n", sim.URL())
	fmt.Fprintf(w, "  client id:     %s\n", c.ClientID)
	fmt.Fprintf(w, "  client secret: %s\n", c.ClientSecret)
	fmt.Fprintf(w, "  private key:   %s (PKCS#8 PEM, %s)\n", c.KeyPath, origin)
	fmt.Fprintf(w, "  PoP checks:    %s\n", pop)
	fmt.Fprintf(w, "  demo account:  %s, line %s\n", demoAccount, demoLine)
	fmt.Fprintf(w, "  link URL:      %s\n", sim.LinkURL(c.ClientID, demoRedirect, "demo"))
	fmt.Fprintf(w, "  control API:   %s/sim/accounts (see yna/ynasim/README.md)\n", sim.URL())
	fmt.Fprintf(w, "ynasim: ready; Ctrl-C to stop\n")
}
