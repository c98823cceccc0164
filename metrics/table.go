package metrics

import (
	"fmt"
	"strings"
)

// Info describes one metric of the package (the documentation table).
type Info struct {
	Name   string
	Type   string   // counter, gauge, histogram
	Labels []string // label names, each with a bounded value set
	Help   string
}

// Metric names.
const (
	NameCallsActive       = "ynagw_calls_active"
	NameCallsTotal        = "ynagw_calls_total"
	NameCallSetup         = "ynagw_call_setup_seconds"
	NameForkBranches      = "ynagw_fork_branches_total"
	NameYNARequests       = "ynagw_yna_requests_total"
	NameYNARequestSeconds = "ynagw_yna_request_seconds"
	NameChannelUp         = "ynagw_channel_up"
	NameChannelReconnects = "ynagw_channel_reconnects_total"
	NameSIPRequests       = "ynagw_sip_requests_total"
	NameSIPResponses      = "ynagw_sip_responses_total"
	NameRegistrations     = "ynagw_registrations_active"
	NameRTPPackets        = "ynagw_rtp_packets_total"
	NameRTPLost           = "ynagw_rtp_lost_packets_total"
	NameOneWayCalls       = "ynagw_oneway_calls_total"
	NameMediaTimeouts     = "ynagw_media_timeouts_total"
	NameTokenExpiry       = "ynagw_token_expiry_timestamp_seconds"
	NameLineNeedsRelink   = "ynagw_line_needs_relink"
	NameUp                = "ynagw_up"
	NameSIPAuthFailures   = "ynagw_sip_auth_failures_total"
	NameSIPAuthBlocked    = "ynagw_sip_auth_blocked"
	NameBuildInfo         = "ynagw_build_info"
	NameStoreErrors       = "ynagw_store_errors_total"
	NameLineOwned         = "ynagw_line_owned"
	NameLeaseErrors       = "ynagw_lease_errors_total"
)

var table = []Info{
	{NameCallsActive, "gauge", []string{"direction"}, "Calls in progress (direction: inbound = YNA to SIP, outbound = SIP to YNA)."},
	{NameCallsTotal, "counter", []string{"direction", "result"}, "Finished calls by direction and result (answered, busy, declined, no_answer, unavailable, not_found, cancelled, forbidden, emergency, no_route, bad_number, codec, network_error, media_error, error, other)."},
	{NameCallSetup, "histogram", []string{"direction"}, "Seconds from INVITE (outbound) or YNA invitation (inbound) to answer, answered calls only."},
	{NameForkBranches, "counter", []string{"result"}, "Finished SIP fork branches of inbound calls by result (answered, cancelled, rejected, timeout, late_2xx, other)."},
	{NameYNARequests, "counter", []string{"op", "code"}, "YNA REST exchanges by operation and HTTP status (well-known statuses as the code, other statuses as their class like 4xx, error = no response)."},
	{NameYNARequestSeconds, "histogram", []string{"op"}, "Duration of YNA REST exchanges in seconds by operation."},
	{NameChannelUp, "gauge", []string{"line"}, "1 while the YNA notification channel of the line is connected, else 0."},
	{NameChannelReconnects, "counter", []string{"line"}, "Times the YNA notification channel of the line was lost and recovery started."},
	{NameSIPRequests, "counter", []string{"method"}, "SIP requests received by method (INVITE, ACK, BYE, CANCEL, REGISTER, OPTIONS, INFO, UPDATE, PRACK, SUBSCRIBE, NOTIFY, REFER, MESSAGE, PUBLISH, other)."},
	{NameSIPResponses, "counter", []string{"code_class"}, "SIP final and provisional responses by status class (1xx to 6xx, other)."},
	{NameRegistrations, "gauge", nil, "Registered SIP contacts (desk phones)."},
	{NameRTPPackets, "counter", []string{"leg", "dir"}, "RTP packets of finished calls by leg (sip = desk phone/PBX side, net = WebRTC side) and direction (in = received, out = sent)."},
	{NameRTPLost, "counter", []string{"leg"}, "RTP packets lost (sequence gaps) on received media of finished calls by leg."},
	{NameOneWayCalls, "counter", nil, "Answered calls where media flowed only one way (one leg received packets, the other none)."},
	{NameMediaTimeouts, "counter", nil, "Calls ended because no RTP arrived from the SIP side within the media timeout."},
	{NameTokenExpiry, "gauge", []string{"line"}, "Unix time the YNA access token of the line expires."},
	{NameLineNeedsRelink, "gauge", []string{"line"}, "1 while the line needs a relink (its YNA tokens could not be renewed; link it again on the admin page), else 0."},
	{NameSIPAuthFailures, "counter", []string{"reason"}, "Refused SIP digest credentials by reason (password, unknown_user, replay, nonce, blocked, malformed). A rise in password/unknown_user is a guessing attack; replay is a copied header."},
	{NameSIPAuthBlocked, "gauge", nil, "(Source address, username) pairs blocked now after repeated digest failures (list and lift them with GET/DELETE /api/v1/sip/blocks)."},
	{NameUp, "gauge", nil, "1 while the gateway runs (0 while it drains on shutdown)."},
	{NameStoreErrors, "counter", []string{"op"}, "Failed writes to the state store by operation (cdr, line, pending_end, other); failed call records are queued and retried."},
	{NameLineOwned, "gauge", []string{"line"}, "Clustered mode: 1 while this node holds the line's lease (and so its notification channel and inbound calls), else 0."},
	{NameLeaseErrors, "counter", nil, "Clustered mode: failed lease or heartbeat requests to PostgreSQL; a node that cannot renew closes its lines' channels before the lease ends."},
	{NameBuildInfo, "gauge", []string{"version", "goversion"}, "Always 1; the labels carry the ynagw version and the Go version it was built with."},
}

// List returns the documentation table of every ynagw_ metric (a copy).
func List() []Info {
	out := make([]Info, len(table))
	for i, in := range table {
		in.Labels = append([]string(nil), in.Labels...)
		out[i] = in
	}
	return out
}

// Names returns the names of every ynagw_ metric.
func Names() []string {
	out := make([]string, len(table))
	for i, in := range table {
		out[i] = in.Name
	}
	return out
}

// MarkdownTable renders List as a Markdown table (the README section).
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n")
	for _, in := range table {
		labels := "–"
		if len(in.Labels) > 0 {
			labels = "`" + strings.Join(in.Labels, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", in.Name, in.Type, labels, in.Help)
	}
	return b.String()
}

func help(name string) string {
	for _, in := range table {
		if in.Name == name {
			return in.Help
		}
	}
	panic("metrics: no table entry for " + name) // programming error, caught by every test
}
