package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ynagw/ynagw/config"
	"go.uber.org/zap"
)

// closeTimeout bounds ending the remaining calls after the drain.
const closeTimeout = 30 * time.Second

// Run is `ynagw run`: it loads the configuration, builds and starts the daemon and serves
// until a signal: SIGTERM drains (see Daemon.Drain) then ends the remaining calls and
// exits; SIGINT ends the calls at once; SIGHUP reloads. A second SIGTERM/SIGINT during
// the drain cuts it short. Logs go to logOut (nil: stderr). Under systemd (Type=notify)
// it reports READY=1, RELOADING=1, STOPPING=1 and WATCHDOG=1 pings (notify.go).
func Run(configPath, version string, logOut io.Writer) error {
	cfg, err := config.Load(configPath)
	if err != nil {
		return err
	}
	log, lvl, err := NewLogger(logOut, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	startCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts, err := Preflight(startCtx, cfg) // the same stage as check-config
	if err != nil {
		return err
	}
	opts.Logger, opts.Level, opts.Version = log, &lvl, version
	// Third-party code logging through log/slog (sipgo) writes JSON lines too, warnings up.
	slogOut := logOut
	if slogOut == nil {
		slogOut = os.Stderr
	}
	slog.SetDefault(slog.New(slog.NewJSONHandler(slogOut, &slog.HandlerOptions{Level: slog.LevelWarn})))

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	d, err := New(startCtx, opts)
	if err != nil {
		return err
	}
	if err := d.Start(startCtx); err != nil {
		_ = d.Close(context.Background())
		return err
	}
	base := cfg // what runs; a reload's restart-only changes are compared with it
	sdn := notifier{log: log}
	sdn.ready("serving")
	wdCtx, wdStop := context.WithCancel(context.Background())
	wdDone := make(chan struct{})
	go func() {
		defer close(wdDone)
		sdn.watchdog(wdCtx, d.alive)
	}()
	defer func() { // pings go on while draining and closing (TimeoutStopSec bounds those)
		wdStop()
		<-wdDone
	}()
	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			sdn.reloading()
			nc, err := config.Load(configPath)
			if err != nil {
				log.Error("reload: configuration rejected; keeping the running one", zap.Error(err))
				sdn.ready("reload rejected: " + err.Error())
				continue
			}
			_, pending := d.Reload(context.Background(), base, cfg, nc)
			cfg = nc
			status := "serving (reloaded)"
			if len(pending) > 0 {
				status += "; restart pending: " + strings.Join(pending, ", ")
			}
			sdn.ready(status)
			continue
		case syscall.SIGTERM:
			sdn.stopping("draining")
			log.Info("SIGTERM: draining", zap.Duration("drain_timeout", opts.DrainTimeout))
			dctx, dcancel := context.WithCancel(context.Background())
			stop := make(chan struct{})
			go func() { // a second TERM/INT cuts the drain short
				select {
				case s := <-sigs:
					log.Info("second signal: ending calls now", zap.Stringer("signal", s))
					dcancel()
				case <-stop:
				}
			}()
			d.Drain(dctx, opts.DrainTimeout)
			close(stop)
			dcancel()
		case syscall.SIGINT:
			sdn.stopping("ending calls")
			log.Info("SIGINT: ending calls and stopping")
		}
		break
	}
	cctx, ccancel := context.WithTimeout(context.Background(), closeTimeout)
	defer ccancel()
	if err := d.Close(cctx); err != nil {
		return fmt.Errorf("daemon: close: %w", err)
	}
	return nil
}
