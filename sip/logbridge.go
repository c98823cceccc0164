package sip

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// sipgo logs through log/slog: the loggers passed to its UA, server, client,
// transaction and transport layers, and a package-level default
// (sip.DefaultLogger, slog.Default unless sip.SetDefaultLogger was called) that
// its connections use ("TCP ref went negative" and the reference counting
// lines). zapSlogHandler sends both to the Server's zap logger, named "sipgo",
// so every sipgo line has the daemon's format and level.

// zapSlogHandler is a slog.Handler writing to a zap.Logger.
type zapSlogHandler struct {
	log    func() *zap.Logger // nil result: discard
	fields []zap.Field        // from WithAttrs
	prefix string             // open groups, "a.b."
}

func newZapSlogHandler(log *zap.Logger) *zapSlogHandler {
	return &zapSlogHandler{log: func() *zap.Logger { return log }}
}

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	case l >= slog.LevelInfo:
		return zapcore.InfoLevel
	}
	return zapcore.DebugLevel
}

// Enabled reports whether the zap logger logs at l.
func (h *zapSlogHandler) Enabled(_ context.Context, l slog.Level) bool {
	log := h.log()
	return log != nil && log.Core().Enabled(zapLevel(l))
}

// Handle writes r as one zap entry.
func (h *zapSlogHandler) Handle(_ context.Context, r slog.Record) error {
	log := h.log()
	if log == nil {
		return nil
	}
	ce := log.Check(zapLevel(r.Level), r.Message)
	if ce == nil {
		return nil
	}
	fields := append(make([]zap.Field, 0, len(h.fields)+r.NumAttrs()), h.fields...)
	r.Attrs(func(a slog.Attr) bool {
		fields = appendAttr(fields, h.prefix, a)
		return true
	})
	ce.Write(fields...)
	return nil
}

// WithAttrs returns a handler adding as to every entry.
func (h *zapSlogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.fields = append([]zap.Field(nil), h.fields...)
	for _, a := range as {
		n.fields = appendAttr(n.fields, h.prefix, a)
	}
	return &n
}

// WithGroup returns a handler that prefixes the keys of later attributes.
func (h *zapSlogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

// appendAttr converts a (groups flattened into dotted keys). sipgo's "caller"
// attribute names its component; it becomes "sipgo_component" so that it does
// not collide with zap's caller field.
func appendAttr(fs []zap.Field, prefix string, a slog.Attr) []zap.Field {
	v := a.Value.Resolve()
	key := prefix + a.Key
	if key == "caller" {
		key = "sipgo_component"
	}
	switch v.Kind() {
	case slog.KindGroup:
		p := prefix
		if a.Key != "" {
			p = key + "."
		}
		for _, g := range v.Group() {
			fs = appendAttr(fs, p, g)
		}
		return fs
	case slog.KindString:
		return append(fs, zap.String(key, v.String()))
	case slog.KindInt64:
		return append(fs, zap.Int64(key, v.Int64()))
	case slog.KindUint64:
		return append(fs, zap.Uint64(key, v.Uint64()))
	case slog.KindFloat64:
		return append(fs, zap.Float64(key, v.Float64()))
	case slog.KindBool:
		return append(fs, zap.Bool(key, v.Bool()))
	case slog.KindDuration:
		return append(fs, zap.Duration(key, v.Duration()))
	case slog.KindTime:
		return append(fs, zap.Time(key, v.Time()))
	}
	if a.Key == "" {
		return fs
	}
	if err, ok := v.Any().(error); ok {
		return append(fs, zap.NamedError(key, err))
	}
	return append(fs, zap.Any(key, v.Any()))
}

// sipgoDefault routes sip.DefaultLogger to the zap logger of the most recently
// started Server that is still running (one in the daemon; tests start many).
// sip.SetDefaultLogger is not synchronised, so it is called once, in init,
// before any sipgo goroutine exists.
var sipgoDefault struct {
	mu      sync.Mutex
	stack   []*zap.Logger
	current atomic.Pointer[zap.Logger]
}

func init() {
	h := &zapSlogHandler{log: func() *zap.Logger { return sipgoDefault.current.Load() }}
	sip.SetDefaultLogger(slog.New(h))
}

// useSipgoDefault makes log the target of sipgo's default logger until the
// returned function is called.
func useSipgoDefault(log *zap.Logger) (release func()) {
	d := &sipgoDefault
	d.mu.Lock()
	d.stack = append(d.stack, log)
	d.current.Store(log)
	d.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			for i := len(d.stack) - 1; i >= 0; i-- {
				if d.stack[i] == log {
					d.stack = append(d.stack[:i], d.stack[i+1:]...)
					break
				}
			}
			if n := len(d.stack); n > 0 {
				d.current.Store(d.stack[n-1])
			} else {
				d.current.Store(nil)
			}
		})
	}
}
