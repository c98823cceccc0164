package daemon

import (
	"context"
	"reflect"

	"github.com/ynagw/ynagw/config"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Reload applies what a SIGHUP may change without dropping calls: line routing (ring
// lists, outbound permissions, prefixes) and the log level. SIP users and trunks need a
// sip.Server hook that does not exist yet: their change is logged as needing a restart,
// like every other changed section.
func (d *Daemon) Reload(ctx context.Context, old, cfg *config.Config) {
	applied := []string{}
	for _, lc := range lineConfigs(cfg) {
		if err := d.gw.AddLineConfig(ctx, lc, ""); err != nil {
			d.log.Warn("reload: line routing", zap.String("line", lc.MSISDN), zap.Error(err))
			continue
		}
	}
	if !reflect.DeepEqual(old.Lines, cfg.Lines) {
		applied = append(applied, "lines")
	}
	if d.opts.Level != nil && old.Log.Level != cfg.Log.Level {
		if l, err := zapcore.ParseLevel(cfg.Log.Level); err == nil {
			d.opts.Level.SetLevel(l)
			applied = append(applied, "log.level")
		}
	}
	var restart []string
	if !reflect.DeepEqual(old.Users, cfg.Users) {
		restart = append(restart, "users") // TODO(sip): Server.SetUsers
	}
	if !reflect.DeepEqual(old.Trunks, cfg.Trunks) {
		restart = append(restart, "trunks")
	}
	sections := []struct {
		name     string
		old, new any
	}{
		{"sip", old.Sip, cfg.Sip}, {"rtp", old.RTP, cfg.RTP}, {"webrtc", old.Webrtc, cfg.Webrtc},
		{"yna", old.Yna, cfg.Yna}, {"dialplan", old.DialPlan, cfg.DialPlan}, {"timers", old.Timers, cfg.Timers},
		{"store", old.Store, cfg.Store}, {"admin", old.Admin, cfg.Admin}, {"log.format", old.Log.Format, cfg.Log.Format},
	}
	for _, s := range sections {
		if !reflect.DeepEqual(s.old, s.new) {
			restart = append(restart, s.name)
		}
	}
	d.log.Info("configuration reloaded", zap.Strings("applied", applied))
	if len(restart) > 0 {
		d.log.Warn("configuration changes that need a restart were not applied", zap.Strings("sections", restart))
	}
}
