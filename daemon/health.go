package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/metrics"
	"github.com/ynagw/ynagw/yna"
)

// HealthOptions are the flags of `ynagw health`.
type HealthOptions struct {
	// Addr is the admin listener (host:port); "" takes admin.listen from ConfigPath. A
	// wildcard host (0.0.0.0, ::, empty) is probed on loopback.
	Addr       string
	ConfigPath string
	// Live probes /healthz (the process answers) instead of /readyz (SIP listening, store
	// open, channels up, not draining).
	Live bool
}

// Health is `ynagw health`, the probe a container's HEALTHCHECK runs (distroless has no
// shell or curl): one GET of the admin /readyz (or /healthz); nil on 200, with the body
// (which may carry notes, e.g. a restart pending) written to w, else an error with the
// status and body.
func Health(ctx context.Context, o HealthOptions, w io.Writer) error {
	addr := o.Addr
	if addr == "" {
		cfg, err := config.Load(o.ConfigPath)
		if err != nil {
			return fmt.Errorf("admin address: %w (or give -addr)", err)
		}
		addr = cfg.Admin.Listen
	}
	u, err := probeURL(addr, o.Live)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", u, res.Status, strings.TrimSpace(string(body)))
	}
	_, _ = w.Write(body)
	return nil
}

// probeURL is http://addr/readyz (/healthz when live), a wildcard host replaced by loopback.
func probeURL(addr string, live bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("admin address %q: %w", addr, err)
	}
	if port == "" || port == "0" {
		return "", errors.New("admin address " + addr + " has no fixed port: give -addr")
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	path := "/readyz"
	if live {
		path = "/healthz"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

// lineHealthLog is the gateway's metrics sink plus one log line per change of a line's
// notification channel: lost (connected → anything else) at warn, up again at info, each
// with the line key (the line's number, as every daemon log line names lines).
type lineHealthLog struct {
	*metrics.Metrics
	log *zap.Logger

	mu sync.Mutex
	up map[string]bool // line → channel connected at the last report
}

func newLineHealthLog(m *metrics.Metrics, log *zap.Logger) *lineHealthLog {
	return &lineHealthLog{Metrics: m, log: log, up: map[string]bool{}}
}

// ChannelState implements bridge.Metrics.
func (h *lineHealthLog) ChannelState(line string, state yna.ChannelState) {
	h.Metrics.ChannelState(line, state)
	up := state == yna.ChannelConnected
	h.mu.Lock()
	was := h.up[line]
	h.up[line] = up
	h.mu.Unlock()
	switch {
	case up && !was:
		h.log.Info("line channel up", zap.String("line", line))
	case !up && was:
		h.log.Warn("line channel down", zap.String("line", line), zap.Stringer("state", state))
	}
}
