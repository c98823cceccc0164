// Package metrics owns every Prometheus metric of ynagw. It keeps its own registry (never
// the global one), implements bridge.Metrics / bridge.CallMetrics for the call path and
// offers plain methods for the SIP server, the notification channels and the token
// refresher. Every label takes values from a fixed set (or the configured lines, capped at
// MaxLines), so the series count stays bounded whatever the network sends. Callers name
// lines by number; the line label is the line's configured name (LineLabels), never its
// number unless the operator asks for it.
package metrics
