package daemon

import (
	"context"
	"errors"

	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Reload applies what a SIGHUP may change without dropping calls (config.Reloadable):
// line routing (ring lists, ring trunk, outbound permissions, prefixes), the log level
// and the SIP users (sip.Server.SetUsers), comparing the last loaded configuration old
// with cfg. Every other change is left as it runs and is pending a restart: those are
// found by comparing cfg with base, the configuration the daemon started with, so a
// change stays pending on every later reload (and in /readyz and the sd_notify status)
// until it is reverted or the daemon restarted. It returns what it applied and the
// fields pending a restart; the comparison and the conversions are config's
// (Config.Reloadable, Config.Bridge, Config.SIPUsers).
func (d *Daemon) Reload(ctx context.Context, base, old, cfg *config.Config) (applied, pending []string) {
	users, routing, _ := old.Reloadable(cfg)
	_, _, err := base.Reloadable(cfg)
	if routing {
		for _, lc := range cfg.Bridge().Lines {
			if _, known := d.lineConfigured(lc.MSISDN); !known {
				continue // a new line needs a restart (Reloadable reports it)
			}
			if err := d.gw.AddLineConfig(ctx, lc, ""); err != nil {
				d.log.Warn("reload: line routing", zap.String("line", lc.MSISDN), zap.Error(err))
			}
		}
		d.setBridgeLines(cfg.Bridge().Lines)
		applied = append(applied, "routing")
	}
	if users {
		// Registrations of kept users stay; a new password applies from the next REGISTER.
		if uerr := d.sip.SetUsers(cfg.SIPUsers()); uerr != nil {
			d.log.Error("reload: new users refused by the SIP server; keeping the running ones", zap.Error(uerr))
		} else {
			d.setSIPUsers(cfg)
			applied = append(applied, "users")
		}
	}
	if d.opts.Level != nil && old.Log.Level != cfg.Log.Level {
		if l, perr := zapcore.ParseLevel(cfg.Log.Level); perr == nil {
			d.opts.Level.SetLevel(l)
			applied = append(applied, "log.level")
		}
	}
	if err != nil {
		for _, fe := range config.FieldErrors(err) {
			pending = append(pending, fe.Path)
		}
		if len(pending) == 0 && !errors.Is(err, context.Canceled) {
			pending = []string{err.Error()}
		}
	}
	d.mu.Lock()
	d.restartPending = pending
	d.mu.Unlock()
	d.log.Info("configuration reloaded", zap.Strings("applied", applied), zap.Strings("restart_pending", pending))
	if len(pending) > 0 {
		d.log.Warn("configuration changes that need a restart are not applied (pending until a restart)",
			zap.Strings("fields", pending))
	}
	return applied, pending
}

// RestartPending lists the configuration fields changed on disk (as of the last reload)
// that only a restart applies.
func (d *Daemon) RestartPending() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.restartPending...)
}

func (d *Daemon) lineConfigured(msisdn string) (bridge.LineConfig, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.opts.Bridge.Lines {
		if l.MSISDN == msisdn {
			return l, true
		}
	}
	return bridge.LineConfig{}, false
}

func (d *Daemon) setBridgeLines(ls []bridge.LineConfig) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.opts.Bridge.Lines = ls
}

func (d *Daemon) setSIPUsers(cfg *config.Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.opts.SIP.Users = cfg.SIPUsers()
}

// lines returns the configured lines' routing (current after reloads).
func (d *Daemon) lines() []bridge.LineConfig {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]bridge.LineConfig(nil), d.opts.Bridge.Lines...)
}

// users returns the configured SIP users (current after reloads).
func (d *Daemon) users() []sip.User {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]sip.User(nil), d.opts.SIP.Users...)
}
