package bridge

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestUnlinkedLineLogsOnce: a configured line without a token (never linked) says so
// once at info; its runner's retries log at debug only, never a warning (issue 11
// point 10: an unused second line logged "line not ready" at warn every retry, forever).
func TestUnlinkedLineLogsOnce(t *testing.T) {
	const unused = "15550009999"
	core, logs := observer.New(zapcore.DebugLevel)
	newEnvWith(t, func(c *Config) {
		c.Lines = append(c.Lines, LineConfig{MSISDN: unused, Ring: []string{"alice"}})
	}, nil, func(e *env, d *Deps) {
		d.Logger = zap.New(zapcore.NewTee(core, e.log.Core()))
	})
	ofLine := func() []observer.LoggedEntry {
		var out []observer.LoggedEntry
		for _, en := range logs.All() {
			if en.ContextMap()["line"] == unused && strings.HasPrefix(en.Message, "line ") {
				out = append(out, en)
			}
		}
		return out
	}
	// Wait for the first attempt and two retries (backoff 1 s, 2 s).
	deadline := time.Now().Add(15 * time.Second)
	for len(ofLine()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the unused line's runner tried %d times in 15 s: %v", len(ofLine()), ofLine())
		}
		time.Sleep(50 * time.Millisecond) // polling the observer with a deadline
	}
	var info, warn int
	for _, en := range ofLine() {
		switch en.Level {
		case zapcore.InfoLevel:
			info++
		case zapcore.WarnLevel, zapcore.ErrorLevel:
			warn++
			t.Errorf("%s %q %v", en.Level, en.Message, en.ContextMap())
		}
	}
	if info != 1 || warn != 0 {
		t.Fatalf("unused line: %d info, %d warn lines over %d attempts; want 1 info, 0 warn", info, warn, len(ofLine()))
	}
}
