package metrics

// Option configures New.
type Option func(*Metrics)

// LineLabels decides the value of the line label. A line's number (MSISDN) is personal
// data, and /metrics is often scraped by a system with wider access than the admin API,
// so by default the label is the line's configured name.
type LineLabels struct {
	// Names maps a line number (MSISDN, as the callers pass it) to its label, the line's
	// configured name. Lines not in Names are labelled Other.
	Names map[string]string
	// MSISDN labels every line with its number instead (the operator's explicit choice).
	MSISDN bool
}

// WithLineLabels sets how lines are labelled. Without it every line is labelled Other:
// a number never reaches a label unless LineLabels.MSISDN says so.
func WithLineLabels(l LineLabels) Option {
	return func(m *Metrics) {
		m.labelMSISDN = l.MSISDN
		m.names = make(map[string]string, len(l.Names))
		for n, v := range l.Names {
			m.names[n] = v
		}
	}
}

// lineValue is the label value of line before the MaxLines bound: its number when
// labelling by number, else its configured name, else Other.
func (m *Metrics) lineValue(line string) string {
	if m.labelMSISDN {
		return line
	}
	if v, ok := m.names[line]; ok && v != "" {
		return v
	}
	return Other
}

// line returns the bounded line label of line (registering it while below MaxLines).
func (m *Metrics) line(line string) string {
	v := m.lineValue(line)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lines[v] {
		return v
	}
	if v == "" || v == Other || len(m.lines) >= MaxLines {
		return Other
	}
	m.lines[v] = true
	return v
}
