package metrics

// LineOwned sets whether this node holds line's lease (clustered mode).
func (m *Metrics) LineOwned(line string, owned bool) {
	m.lineOwned.WithLabelValues(m.line(line)).Set(b2f(owned))
}

// LeaseError counts one failed lease or heartbeat request.
func (m *Metrics) LeaseError() { m.leaseErrors.Inc() }
