package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"github.com/ynagw/ynagw/admin"
	"github.com/ynagw/ynagw/config"
	"go.uber.org/zap"
)

// adminPublicURL is the base URL the browser reaches the admin server at: taken from the
// YNA redirect URI when it ends in admin.CallbackPath, else http://<listen address>.
func adminPublicURL(redirectURI, addr string) string {
	if strings.HasSuffix(redirectURI, admin.CallbackPath) {
		return strings.TrimSuffix(redirectURI, admin.CallbackPath)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// startAdmin starts the admin server (pages, JSON API, probes, /metrics).
func (d *Daemon) startAdmin(ctx context.Context) error {
	o := d.opts.Admin
	if o.Listen == "" {
		return nil
	}
	metricsOpen, err := o.metricsOpen()
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if o.Username == "" && o.Token == "" {
		// No credentials (allowed on loopback): the admin pages stay locked behind a
		// random token nobody knows; the probes and (metricsOpen) /metrics are served.
		o.Token = randomToken()
		d.log.Warn("admin pages locked: set admin.username/password or admin.token to use them; /metrics and probes are served")
	}
	if metricsOpen && !config.Loopback(o.Listen) {
		d.log.Warn("admin: /metrics is served without authentication on a listener that is not loopback only",
			zap.String("listen", o.Listen))
	}
	srv, err := admin.New(admin.Config{
		Addr: o.Listen, Username: o.Username, Password: o.Password, BearerToken: o.Token,
		PublicURL: adminPublicURL(d.opts.Bridge.RedirectURI, o.Listen),
		Logger:    d.log.Named("admin"), Level: d.opts.Level,
		Metrics: d.metrics.Handler(), MetricsOpen: metricsOpen, Pprof: o.Pprof,
	}, d.backend)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	d.admin = srv
	if a := srv.Addr(); a != nil {
		d.log.Info("admin listening", zap.String("addr", a.String()))
	}
	return nil
}

// metricsOpen reports whether /metrics is served without authentication: MetricsAuth,
// or when it is "" whether Listen binds loopback only. Required without credentials is
// an error (nobody could scrape).
func (o AdminOptions) metricsOpen() (bool, error) {
	mode := o.MetricsAuth
	if mode == "" {
		mode = config.DefaultMetricsAuth(o.Listen)
	}
	switch mode {
	case MetricsAuthNone:
		return true, nil
	case MetricsAuthRequired:
		if o.Username == "" && o.Token == "" {
			return false, fmt.Errorf("admin metrics_auth is required on %s but neither username/password nor token is set", o.Listen)
		}
		return false, nil
	}
	return false, fmt.Errorf("admin metrics_auth %q is not %s or %s", mode, MetricsAuthRequired, MetricsAuthNone)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
