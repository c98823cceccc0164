package admin

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// newObserved returns a core gated by level and a function listing the logged messages.
func newObserved(level *zap.AtomicLevel) (zapcore.Core, func() []string) {
	core, logs := observer.New(level)
	return core, func() []string {
		var out []string
		for _, e := range logs.All() {
			out = append(out, e.Message)
		}
		return out
	}
}
