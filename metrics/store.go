package metrics

// storeOps are the op label values of ynagw_store_errors_total.
var storeOps = newSet("cdr", "line", "pending_end", "other")

// StoreError counts one failed write to the state store; op is cdr, line or pending_end
// (anything else counts as other).
func (m *Metrics) StoreError(op string) { m.storeErrors.WithLabelValues(storeOps.bound(op)).Inc() }
