package metrics

// authReasons are the bounded values of ynagw_sip_auth_failures_total{reason}
// (the sip package's AuthFail* constants).
var authReasons = map[string]bool{
	"password": true, "unknown_user": true, "replay": true, "nonce": true, "blocked": true, "malformed": true,
}

// SIPAuthFailure counts one refused digest credential (sip.AuthObserver).
func (m *Metrics) SIPAuthFailure(reason string) {
	if !authReasons[reason] {
		reason = "other"
	}
	m.authFailures.WithLabelValues(reason).Inc()
}

// SIPAuthBlocked sets the number of blocked (source, username) pairs.
func (m *Metrics) SIPAuthBlocked(n int) { m.authBlocked.Set(float64(n)) }
