package config

// Values of admin.metrics_auth.
const (
	// MetricsAuthRequired: /metrics needs the admin credentials (Basic or bearer).
	MetricsAuthRequired = "required"
	// MetricsAuthNone: /metrics is served to anyone who reaches the admin listener.
	MetricsAuthNone = "none"
)

// DefaultMetricsAuth is the admin.metrics_auth of an admin listener on listen: none when
// it binds loopback only (only local processes can scrape), else required.
func DefaultMetricsAuth(listen string) string {
	if Loopback(listen) {
		return MetricsAuthNone
	}
	return MetricsAuthRequired
}
