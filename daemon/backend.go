package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/ynagw/ynagw/admin"
	"github.com/ynagw/ynagw/bridge"
	"github.com/ynagw/ynagw/store"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// Backend implements admin.Backend on top of the store, the gateway, the SIP registrar
// and the YNA client.
type Backend struct{ d *Daemon }

var _ admin.Backend = (*Backend)(nil)

// Lines implements admin.Backend: the store's lines and the configured ones not linked
// yet, with the gateway's channel state.
func (b *Backend) Lines(ctx context.Context) []admin.LineView {
	d := b.d
	running := map[string]bool{}
	for _, n := range d.gw.Lines() {
		running[n] = true
	}
	active := map[string]int{}
	for _, c := range d.gw.Calls() {
		active[c.Line]++
	}
	views := map[string]*admin.LineView{}
	ls, err := d.store.Lines(ctx)
	if err != nil {
		d.log.Warn("admin: list lines", zap.Error(err))
	}
	for _, l := range ls {
		views[l.MSISDN] = &admin.LineView{MSISDN: l.MSISDN, State: l.State, Reason: l.Reason,
			TokenExpiresAt: l.ExpiresAt, LinkedAt: l.LinkedAt}
	}
	for _, lc := range d.lines() {
		if views[lc.MSISDN] == nil {
			views[lc.MSISDN] = &admin.LineView{MSISDN: lc.MSISDN, State: admin.LineUnlinked, Reason: "not linked yet"}
		}
		n := 0
		for _, u := range lc.Ring {
			n += len(d.sip.Contacts(u))
		}
		views[lc.MSISDN].Phones = n
	}
	var owners map[string]store.Lease
	if d.leases != nil {
		owners = d.leases.Owners()
	}
	out := make([]admin.LineView, 0, len(views))
	for _, v := range views {
		v.Owner = owners[v.MSISDN].Holder
		// A line without tokens has no channel, whatever its runner reports while it waits.
		if st, ok := d.gw.ChannelState(v.MSISDN); ok && running[v.MSISDN] && v.State != admin.LineUnlinked {
			v.Channel = st.String()
		}
		v.ActiveCalls = active[v.MSISDN]
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MSISDN < out[j].MSISDN })
	return out
}

// Phones implements admin.Backend: the registered bindings of every configured user.
func (b *Backend) Phones(context.Context) []admin.PhoneView {
	d := b.d
	lineOf := map[string]string{}
	for _, lc := range d.lines() {
		for _, u := range lc.Ring {
			if lineOf[u] == "" {
				lineOf[u] = lc.MSISDN
			}
		}
	}
	var out []admin.PhoneView
	for _, u := range d.users() {
		for _, c := range d.sip.Contacts(u.Username) {
			out = append(out, admin.PhoneView{AOR: c.AOR, Contact: c.URI, UserAgent: c.UserAgent, Line: lineOf[u.Username], Expires: c.Expires})
		}
	}
	return out
}

// Calls implements admin.Backend: the gateway's calls in progress (bridge.CallInfo
// snapshots; ID is the CDR id).
func (b *Backend) Calls(context.Context) []admin.CallView {
	cs := b.d.gw.Calls()
	now := time.Now()
	out := make([]admin.CallView, 0, len(cs))
	for _, c := range cs {
		out = append(out, admin.CallView{ID: c.ID, SIPCallID: c.SIPCallID, YNACallID: c.YNACallID, Direction: c.Direction,
			Line: c.Line, Remote: c.Peer, RemoteName: c.PeerName, User: c.SIPUser, State: c.State, Since: c.Since, SetupAt: c.SetupAt,
			Duration: now.Sub(c.SetupAt).Round(time.Second).Seconds()})
	}
	return out
}

var _ admin.CallHanger = (*Backend)(nil)

// Hangup implements admin.CallHanger through bridge.Gateway.Hangup (the call's normal
// end path: BYE, DELETE /end, CDR); it returns once BYE and DELETE /end are done.
func (b *Backend) Hangup(ctx context.Context, id string) error {
	if err := b.d.gw.Hangup(ctx, id); err != nil {
		if errors.Is(err, bridge.ErrNoSuchCall) {
			return admin.ErrNoSuchCall
		}
		return err
	}
	return nil
}

var _ admin.CDRLister = (*Backend)(nil)

// CDRs implements admin.CDRLister: the store's most recent CDRs.
func (b *Backend) CDRs(ctx context.Context, limit int) ([]admin.CDRView, error) {
	cs, err := b.d.store.CDRs(ctx, store.CDRFilter{Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]admin.CDRView, 0, len(cs))
	for _, c := range cs {
		out = append(out, admin.CDRView{ID: c.ID, Direction: c.Direction, Line: c.Line, From: c.From, To: c.To,
			SIPCallID: c.SIPCallID, YNACallID: c.YNACallID, SetupAt: c.SetupAt, AnswerAt: c.AnswerAt, EndAt: c.EndAt,
			Result: c.Result, EndReason: c.EndReason, SIPCode: c.SIPCode})
	}
	return out, nil
}

// LinkURL implements admin.Backend.
func (b *Backend) LinkURL(redirectURI, state string) string {
	return b.d.yna.LinkURL(redirectURI, state)
}

// CompleteLink implements admin.Backend: code → tokens → account status (the line) →
// store → gateway.
func (b *Backend) CompleteLink(ctx context.Context, code, redirectURI string) (string, error) {
	d := b.d
	tr, err := d.yna.ExchangeCode(ctx, code, redirectURI)
	if err != nil {
		return "", fmt.Errorf("exchange code: %w", err)
	}
	st, err := d.yna.AccountStatus(ctx, tr.AccessToken)
	if err != nil {
		return "", fmt.Errorf("account status: %w", err)
	}
	lines := st.RegisteredLines()
	if len(lines) == 0 {
		return "", errors.New("the linked account has no line")
	}
	msisdn, err := yna.NormalizeLine(lines[0])
	if err != nil {
		return "", err
	}
	l := store.Line{MSISDN: msisdn, AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken,
		ExpiresAt: time.Now().Add(tr.Lifetime()), State: store.LineLinked}
	if err := d.tokens.put(ctx, l); err != nil {
		return "", fmt.Errorf("store line: %w", err)
	}
	if err := d.gw.AddLine(ctx, msisdn, tr.AccessToken); err != nil {
		return "", fmt.Errorf("start line: %w", err)
	}
	d.log.Info("line linked", zap.String("line", msisdn), zap.Time("token_expires_at", l.ExpiresAt))
	return msisdn, nil
}

// Unlink implements admin.Backend.
func (b *Backend) Unlink(ctx context.Context, msisdn string) error {
	d := b.d
	n, err := yna.NormalizeLine(msisdn)
	if err != nil {
		return err
	}
	l, ok := d.tokens.get(n)
	if ok && l.AccessToken != "" {
		if err := d.yna.Unlink(ctx, l.AccessToken, d.opts.Bridge.RedirectURI); err != nil {
			d.log.Warn("unlink at YNA failed; forgetting the line anyway", zap.String("line", n), zap.Error(err))
		}
	}
	d.gw.RemoveLine(n)
	d.metrics.RemoveLine(n)
	if err := d.store.DeleteLine(ctx, n); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	d.log.Info("line unlinked", zap.String("line", n))
	return nil
}

// EmergencyAddressURL implements admin.Backend.
func (b *Backend) EmergencyAddressURL(_ context.Context, msisdn, successURL, failureURL string) (string, error) {
	n, err := yna.NormalizeLine(msisdn)
	if err != nil {
		return "", err
	}
	l, ok := b.d.tokens.get(n)
	if !ok || l.AccessToken == "" {
		return "", fmt.Errorf("line %s is not linked", n)
	}
	u := b.d.yna.EmergencyAddressURL(successURL, failureURL)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	// §5.6: the bearer travels as the Authorization query parameter (the browser POSTs to the page).
	return u + sep + "Authorization=" + url.QueryEscape("Bearer "+l.AccessToken), nil
}

// Ready implements admin.Backend: not draining, SIP listening, the store answering and
// every call record written (cdrSink.health), and linesReady.
func (b *Backend) Ready(ctx context.Context) error {
	d := b.d
	if d.Draining() {
		return errors.New("draining")
	}
	if !d.sip.Addr("udp").IsValid() && !d.sip.Addr("tcp").IsValid() && !d.sip.Addr("tls").IsValid() {
		return errors.New("SIP not listening")
	}
	if err := d.cdr.health(); err != nil {
		return err // calls go on; their records wait in memory
	}
	return b.linesReady(ctx)
}

// errNoLineLinked is linesReady's answer when no line is in state linked (never linked,
// unlinked, or only lines needing a relink): the daemon runs but can take no call.
var errNoLineLinked = errors.New("no line linked: link a line on the admin page")

// linesReady is nil when a linked line's notification channel is connected;
// errNoLineLinked when no line is linked, else why not.
func (b *Backend) linesReady(ctx context.Context) error {
	d := b.d
	ls, err := d.store.Lines(ctx)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	linked := 0
	for _, l := range ls {
		if l.State != store.LineLinked {
			continue
		}
		linked++
		if st, ok := d.gw.ChannelState(l.MSISDN); ok && st == yna.ChannelConnected {
			return nil
		}
	}
	if linked == 0 {
		return errNoLineLinked
	}
	if d.clustered() {
		// Another node holds the lines' channels; this one places outbound calls and
		// rings phones for the owner, and takes lines over when a node stops.
		return nil
	}
	return errors.New("no line's notification channel is connected")
}

var _ admin.SIPBlocker = (*Backend)(nil)

// SIPBlocks lists the (source, username) pairs the SIP server blocks now.
func (b *Backend) SIPBlocks(context.Context) []admin.BlockView {
	var out []admin.BlockView
	for _, x := range b.d.sip.AuthBlocks() {
		out = append(out, admin.BlockView{Source: x.Source.String(), User: x.User, Until: x.Until,
			Strikes: x.Strikes, Failures: x.Failures})
	}
	return out
}

// SIPUnblock lifts the blocks of source (of user, or all users for "*").
func (b *Backend) SIPUnblock(_ context.Context, source netip.Addr, user string) int {
	return b.d.sip.Unblock(source, user)
}
