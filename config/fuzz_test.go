package config

import (
	"os"
	"testing"
)

// FuzzParse: arbitrary input never panics; what parses also validates again.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	if ex, err := os.ReadFile("../configs/ynagw.yaml"); err == nil {
		f.Add(ex)
	}
	f.Add([]byte("sip: [1, 2]\nlines: {a: b}\n"))
	f.Add([]byte("&a [*a]"))
	env := func(k string) (string, bool) { return "x", true }
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, env)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted but Validate rejects: %v", err)
		}
		_, _, _ = c.Reloadable(c)
		_ = c.SIP()
		_ = c.Bridge()
	})
}
