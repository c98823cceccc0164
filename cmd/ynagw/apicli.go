package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ynagw/ynagw/admin"
	"github.com/ynagw/ynagw/config"
)

// The commands that talk to a running daemon's admin API, with the same credentials
// as any API client: admin.token (bearer) or admin.username/password (Basic) of
// -config, or -token / $YNAGW_ADMIN_TOKEN.
var apiCommands = map[string]bool{"calls": true, "registrations": true, "hangup": true, "cdrs": true, "lines": true}

// apiClient is one admin API endpoint with its credentials.
type apiClient struct {
	base       string // http://host:port
	token      string
	user, pass string
	hc         *http.Client
}

// runAPI runs one of apiCommands; help is its line of the usage text.
func runAPI(cmd, help string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ynagw "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfig, "configuration file: admin.listen and the admin credentials")
	addr := fs.String("addr", "", "admin listener HOST:PORT (default: admin.listen of -config)")
	token := fs.String("token", "", "admin bearer token (default: $YNAGW_ADMIN_TOKEN, else the credentials of -config)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	asJSON := fs.Bool("json", false, "print the API's JSON instead of a table")
	var limit, watch *int
	var asCSV *bool
	if cmd == "lines" {
		watch = fs.Int("watch", 0, "refresh every N seconds until interrupted (Ctrl-C); 0: print once")
	}
	if cmd == "cdrs" {
		limit = fs.Int("limit", 50, "the most recent N call records")
		asCSV = fs.Bool("csv", false, "print CSV (the export of GET /api/v1/cdrs?format=csv)")
	}
	argsHelp := ""
	if cmd == "hangup" {
		argsHelp = " ID"
	}
	fs.Usage = func() {
		_, _ = fmt.Fprintf(fs.Output(), "usage: ynagw %s [flags]%s\n\n%s\n\nflags:\n", cmd, argsHelp, help)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		return 2
	}
	var id string
	switch {
	case cmd == "hangup" && fs.NArg() == 1:
		id = fs.Arg(0)
	case cmd == "hangup":
		_, _ = fmt.Fprintln(stderr, "ynagw hangup: give one call id (the ID column of `ynagw calls`, or its SIP Call-ID or YNA call id)")
		return 2
	case fs.NArg() > 0:
		_, _ = fmt.Fprintf(stderr, "ynagw %s: unexpected arguments %v\n", cmd, fs.Args())
		return 2
	}
	c, err := newAPIClient(*cfgPath, *addr, *token)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "ynagw %s: %v\n", cmd, err)
		return 1
	}
	if cmd == "lines" && *watch > 0 {
		err = c.watchLines(stdout, time.Duration(*watch)*time.Second, *timeout, *asJSON)
		if err != nil {
			_, _ = fmt.Fprintf(stderr, "ynagw %s: %v\n", cmd, err)
			return 1
		}
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	switch cmd {
	case "lines":
		err = c.printLines(ctx, stdout, *asJSON)
	case "calls":
		err = c.printCalls(ctx, stdout, *asJSON)
	case "registrations":
		err = c.printRegistrations(ctx, stdout, *asJSON)
	case "hangup":
		err = c.hangup(ctx, stdout, id, *asJSON)
	case "cdrs":
		err = c.printCDRs(ctx, stdout, *limit, *asCSV, *asJSON)
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "ynagw %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// newAPIClient takes the address from addr or the configuration's admin.listen (a
// wildcard host reached on loopback), the credentials from token, $YNAGW_ADMIN_TOKEN or
// the configuration. The configuration is only read when needed.
func newAPIClient(cfgPath, addr, token string) (*apiClient, error) {
	if token == "" {
		token = os.Getenv("YNAGW_ADMIN_TOKEN")
	}
	c := &apiClient{token: token, hc: &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}}
	if addr == "" || token == "" {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			if addr == "" {
				return nil, fmt.Errorf("admin address: %w (or give -addr)", err)
			}
			return nil, fmt.Errorf("admin credentials: %w (or give -token)", err)
		}
		if addr == "" {
			addr = cfg.Admin.Listen
		}
		if token == "" {
			c.token, c.user, c.pass = cfg.Admin.Token, cfg.Admin.Username, cfg.Admin.Password
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("admin address %q: %w", addr, err)
	}
	if port == "" || port == "0" {
		return nil, errors.New("admin address " + addr + " has no fixed port: give -addr")
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	if c.token == "" && c.user == "" {
		return nil, errors.New("no admin credentials: set admin.token or admin.username/password in the configuration, or give -token")
	}
	c.base = "http://" + net.JoinHostPort(host, port)
	return c, nil
}

// do sends method path and returns the body of a 2xx answer (else an error with the
// API's error text).
func (c *apiClient) do(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	} else {
		req.SetBasicAuth(c.user, c.pass)
	}
	defer c.hc.CloseIdleConnections()
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		var e struct{ Error string }
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if res.StatusCode == http.StatusUnauthorized {
			msg = "the admin API refused the credentials (admin.token or admin.username/password of -config, or -token)"
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, res.Status, msg)
	}
	return body, nil
}

func (c *apiClient) get(ctx context.Context, path string, v any, raw io.Writer) error {
	b, err := c.do(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	if raw != nil {
		_, err = raw.Write(b)
		return err
	}
	return json.Unmarshal(b, v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func rawOut(w io.Writer, asJSON bool) io.Writer {
	if asJSON {
		return w
	}
	return nil
}

// printList GETs path into a []T and prints it: the raw JSON with asJSON, else empty when
// the list is empty, else a table of header and one row per item.
func printList[T any](ctx context.Context, c *apiClient, w io.Writer, path string, asJSON bool,
	empty string, header []string, row func(T) []string) error {
	var items []T
	if err := c.get(ctx, path, &items, rawOut(w, asJSON)); err != nil || asJSON {
		return err
	}
	if len(items) == 0 {
		_, err := fmt.Fprintln(w, empty)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, x := range items {
		_, _ = fmt.Fprintln(tw, strings.Join(row(x), "\t"))
	}
	return tw.Flush()
}

func (c *apiClient) printCalls(ctx context.Context, w io.Writer, asJSON bool) error {
	return printList(ctx, c, w, "/api/v1/calls", asJSON, "no calls in progress",
		[]string{"ID", "LINE", "DIRECTION", "USER", "REMOTE", "NAME", "STATE", "DURATION", "SIP CALL-ID", "YNA CALL ID"},
		func(x admin.CallView) []string {
			d := time.Duration(x.Duration * float64(time.Second)).Round(time.Second)
			return []string{x.ID, x.Line, x.Direction, orDash(x.User), orDash(x.Remote), orDash(x.RemoteName), x.State, d.String(),
				orDash(x.SIPCallID), orDash(x.YNACallID)}
		})
}

func (c *apiClient) printRegistrations(ctx context.Context, w io.Writer, asJSON bool) error {
	return printList(ctx, c, w, "/api/v1/registrations", asJSON, "no phones registered",
		[]string{"AOR", "CONTACT", "LINE", "EXPIRES", "USER AGENT"},
		func(r admin.PhoneView) []string {
			return []string{r.AOR, r.Contact, orDash(r.Line), r.Expires.Local().Format(time.DateTime), orDash(r.UserAgent)}
		})
}

func (c *apiClient) hangup(ctx context.Context, w io.Writer, id string, asJSON bool) error {
	b, err := c.do(ctx, http.MethodDelete, "/api/v1/calls/"+url.PathEscape(id))
	if err != nil {
		return err
	}
	if asJSON {
		_, err = w.Write(b)
		return err
	}
	_, err = fmt.Fprintf(w, "call %s hung up (BYE to the phone, DELETE /end to the network)\n", id)
	return err
}

func (c *apiClient) printCDRs(ctx context.Context, w io.Writer, limit int, asCSV, asJSON bool) error {
	q := fmt.Sprintf("/api/v1/cdrs?limit=%d", limit)
	if asCSV {
		b, err := c.do(ctx, http.MethodGet, q+"&format=csv")
		if err == nil {
			_, err = w.Write(b)
		}
		return err
	}
	return printList(ctx, c, w, q, asJSON, "no call records",
		[]string{"ID", "LINE", "DIRECTION", "FROM", "TO", "SETUP", "DURATION", "RESULT", "REASON", "SIP CALL-ID", "YNA CALL ID"},
		func(x admin.CDRView) []string {
			dur := "-"
			if !x.AnswerAt.IsZero() && !x.EndAt.IsZero() {
				dur = x.EndAt.Sub(x.AnswerAt).Round(time.Second).String()
			} else if x.EndAt.IsZero() {
				dur = "open"
			}
			return []string{x.ID, x.Line, x.Direction, orDash(x.From), orDash(x.To), x.SetupAt.Local().Format(time.DateTime),
				dur, orDash(x.Result), orDash(x.EndReason), orDash(x.SIPCallID), orDash(x.YNACallID)}
		})
}

// lineHealth is a line's health in words: linked, needs relink (why), never linked
// (configured, no tokens yet), unlinked (why).
func lineHealth(l admin.LineView) string {
	switch {
	case l.State == admin.LineLinked:
		return "linked"
	case l.State == admin.LineNeedsRelink:
		return "NEEDS RELINK: " + orDash(l.Reason)
	case l.State == admin.LineUnlinked && l.LinkedAt.IsZero():
		return "never linked (link it on the admin page)"
	case l.Reason != "":
		return l.State + ": " + l.Reason
	}
	return l.State
}

func (c *apiClient) printLines(ctx context.Context, w io.Writer, asJSON bool) error {
	return printList(ctx, c, w, "/api/v1/lines", asJSON, "no lines configured or linked",
		[]string{"LINE", "HEALTH", "CHANNEL", "PHONES", "CALLS", "TOKEN EXPIRES", "LINKED", "NODE"},
		func(l admin.LineView) []string {
			return []string{l.MSISDN, lineHealth(l), orDash(l.Channel), fmt.Sprint(l.Phones), fmt.Sprint(l.ActiveCalls),
				fmtLocal(l.TokenExpiresAt), fmtLocal(l.LinkedAt), orDash(l.Owner)}
		})
}

func fmtLocal(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

// watchLines prints the lines every interval (each request bounded by timeout) until
// SIGINT or SIGTERM; a failed refresh is printed and the next one tried.
func (c *apiClient) watchLines(w io.Writer, interval, timeout time.Duration, asJSON bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		_, _ = fmt.Fprintf(w, "--- %s (every %s; Ctrl-C to stop)\n", time.Now().Format(time.DateTime), interval)
		rctx, cancel := context.WithTimeout(ctx, timeout)
		err := c.printLines(rctx, w, asJSON)
		cancel()
		if err != nil && ctx.Err() == nil {
			_, _ = fmt.Fprintf(w, "error: %v\n", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tk.C:
		}
	}
}
