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
// and the SIP users (sip.Server.SetUsers). Every other change is logged as needing a
// restart and left as it runs; the comparison and the conversions are config's
// (Config.Reloadable, Config.Bridge, Config.SIPUsers).
func (d *Daemon) Reload(ctx context.Context, old, cfg *config.Config) {
	users, routing, err := old.Reloadable(cfg)
	var applied []string
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
	d.log.Info("configuration reloaded", zap.Strings("applied", applied))
	if err != nil {
		var paths []string
		for _, fe := range config.FieldErrors(err) {
			paths = append(paths, fe.Path)
		}
		if len(paths) == 0 && !errors.Is(err, context.Canceled) {
			paths = []string{err.Error()}
		}
		d.log.Warn("configuration changes that need a restart were not applied", zap.Strings("fields", paths))
	}
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
