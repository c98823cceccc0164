package daemon

import (
	"context"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// notifier speaks the sd_notify protocol to the service manager (systemd Type=notify,
// NOTIFY_SOCKET): READY=1 once started, RELOADING=1/READY=1 around a SIGHUP, STOPPING=1
// on SIGTERM/SIGINT, and WATCHDOG=1 pings at half of WATCHDOG_USEC while the store
// answers. Without NOTIFY_SOCKET every call is a no-op.
type notifier struct{ log *zap.Logger }

// notify sends states (joined by newlines, e.g. READY=1 and STATUS=...).
func (n notifier) notify(states ...string) {
	msg := strings.TrimSuffix(strings.Join(states, "\n"), "\n")
	if _, err := sd.SdNotify(false, msg); err != nil {
		n.log.Warn("sd_notify failed", zap.String("state", msg), zap.Error(err))
	}
}

func (n notifier) ready(status string) { n.notify(sd.SdNotifyReady, "STATUS="+status) }

func (n notifier) reloading() {
	n.notify(sd.SdNotifyReloading, sd.SdNotifyMonotonicUsec()) // the timestamp systemd ≥ 253 wants
}

func (n notifier) stopping(status string) { n.notify(sd.SdNotifyStopping, "STATUS="+status) }

// watchdog pings WATCHDOG=1 every half interval while alive answers within it, until
// ctx ends; it returns at once when the service manager asked for no watchdog. A
// failing check skips the ping (the manager then restarts the service) and is logged.
func (n notifier) watchdog(ctx context.Context, alive func(context.Context) error) {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("sd_notify watchdog: bad WATCHDOG_USEC/WATCHDOG_PID", zap.Error(err))
		return
	}
	if interval <= 0 {
		return
	}
	every := interval / 2
	n.log.Info("systemd watchdog on", zap.Duration("interval", interval))
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, every)
		err := alive(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			n.log.Error("watchdog: liveness check failed; not pinging", zap.Error(err))
		} else {
			n.notify(sd.SdNotifyWatchdog)
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

// alive is the watchdog's liveness check: the store answers (nil once Close began: the
// store is being closed and the service manager's stop timeout applies).
func (d *Daemon) alive(ctx context.Context) error {
	closing := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.closed
	}
	if closing() {
		return nil
	}
	if _, err := d.store.Lines(ctx); err != nil && !closing() {
		return err
	}
	return nil
}
