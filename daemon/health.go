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
	"time"

	"go.uber.org/zap"

	"github.com/ynagw/ynagw/admin"
	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/metrics"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
)

// HealthOptions are the flags of `ynagw health`.
type HealthOptions struct {
	// Addr is the admin listener (host:port); "" takes admin.listen from ConfigPath. A
	// wildcard host (0.0.0.0, ::, empty) is probed on loopback.
	Addr       string
	ConfigPath string
	// Ready probes /readyz (not draining, SIP listening, store writable, a line linked
	// with its channel up) instead of /healthz (the process answers).
	Ready bool
}

// Health is `ynagw health`, the probe a container's HEALTHCHECK runs (distroless has no
// shell or curl): one GET of the admin /healthz (liveness), or /readyz with Ready; nil
// on 200, with the body (which may carry notes, e.g. a restart pending) written to w,
// else an error with the status and body. Liveness is the default so that a first start
// (no line linked yet, /readyz 503) is not marked unhealthy, which would make
// orchestrators restart it or route no traffic to its admin page, where the line is linked.
func Health(ctx context.Context, o HealthOptions, w io.Writer) error {
	addr := o.Addr
	if addr == "" {
		cfg, err := config.Load(o.ConfigPath)
		if err != nil {
			return fmt.Errorf("admin address: %w (or give -addr)", err)
		}
		addr = cfg.Admin.Listen
	}
	u, err := probeURL(addr, o.Ready)
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

// probeURL is http://addr/healthz (/readyz when ready), a wildcard host replaced by loopback.
func probeURL(addr string, ready bool) (string, error) {
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
	path := "/healthz"
	if ready {
		path = "/readyz"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

// lineHealthLog is the gateway's metrics sink plus one info line per change of a line's
// notification channel: down (connected → anything else), up again, each with the line
// key (the line's number, as every daemon log line names lines). The warn of a loss is the
// channel's own, with the reason: one warn per loss in total.
type lineHealthLog struct {
	*metrics.Metrics
	log *zap.Logger

	mu    sync.Mutex
	up    map[string]bool      // line → channel connected at the last report
	since map[string]time.Time // line → when its channel was lost (or first not up)
}

func newLineHealthLog(m *metrics.Metrics, log *zap.Logger) *lineHealthLog {
	return &lineHealthLog{Metrics: m, log: log, up: map[string]bool{}, since: map[string]time.Time{}}
}

// downSince is when line's channel went down (zero while up or never reported).
func (h *lineHealthLog) downSince(line string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.up[line] {
		return time.Time{}
	}
	return h.since[line]
}

// ChannelState implements bridge.Metrics.
func (h *lineHealthLog) ChannelState(line string, state yna.ChannelState) {
	h.Metrics.ChannelState(line, state)
	up := state == yna.ChannelConnected
	h.mu.Lock()
	was, seen := h.up[line]
	h.up[line] = up
	if !up && (was || !seen) {
		h.since[line] = time.Now()
	}
	h.mu.Unlock()
	switch {
	case up && !was:
		h.log.Info("line channel up", zap.String("line", line))
	case !up && was:
		// Info: the cause has its own warn (yna's "notification channel lost, recovering" with
		// the reason, "line needs relink", "notification channel failed"); a stop is no fault.
		h.log.Info("line channel down", zap.String("line", line), zap.Stringer("state", state))
	}
}

var _ admin.ReadyDetailer = (*Backend)(nil)

// ReadyDetail implements admin.ReadyDetailer: the restart-pending note, the lines that
// need a relink, and every line's health named by its metrics label (configured name).
// Without full (a caller without admin credentials) nothing names a line's number: the
// relink note is a count, lines carry no MSISDN and no reason.
func (b *Backend) ReadyDetail(ctx context.Context, full bool) ([]string, []admin.ReadyLine) {
	d := b.d
	var notes []string
	if p := d.RestartPending(); len(p) > 0 {
		notes = []string{"restart pending: " + strings.Join(p, ", ")}
	}
	switch relink := d.tokens.relinkNotes(); {
	case full:
		notes = append(notes, relink...)
	case len(relink) == 1:
		notes = append(notes, "1 line needs a relink")
	case len(relink) > 1:
		notes = append(notes, fmt.Sprintf("%d lines need a relink", len(relink)))
	}
	stored := map[string]bool{}
	if ls, err := d.store.Lines(ctx); err == nil {
		for _, l := range ls {
			stored[l.MSISDN] = true
		}
	}
	names := d.opts.Metrics.lineLabels(d.lines()).Names
	var owners map[string]store.Lease // clustered mode
	if d.leases != nil {
		owners = d.leases.Owners()
	}
	var lines []admin.ReadyLine
	for _, v := range b.Lines(ctx) {
		rl := admin.ReadyLine{Name: names[v.MSISDN], State: v.State, Channel: v.Channel, Owner: owners[v.MSISDN].Holder}
		if full {
			rl.MSISDN, rl.Reason = v.MSISDN, v.Reason
		}
		if rl.Name == "" {
			rl.Name = metrics.Other
		}
		if !stored[v.MSISDN] {
			rl.State, rl.Reason = admin.ReadyLineNeverLinked, ""
		}
		elsewhere := d.leases != nil && !d.leases.Owns(v.MSISDN) // its channel runs on another node
		if rl.State != admin.ReadyLineNeverLinked && v.Channel != yna.ChannelConnected.String() && d.health != nil && !elsewhere {
			rl.ChannelDownSince = d.health.downSince(v.MSISDN)
		}
		lines = append(lines, rl)
	}
	return notes, lines
}
