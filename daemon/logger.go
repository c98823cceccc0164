package daemon

import (
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger builds the daemon logger writing to w (nil: stderr): format "json" (default)
// or "console", level one of debug, info, warn, error. The returned AtomicLevel changes
// the level at run time (the admin server's log level route).
func NewLogger(w io.Writer, level, format string) (*zap.Logger, zap.AtomicLevel, error) {
	lvl := zap.NewAtomicLevel()
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return nil, lvl, fmt.Errorf("daemon: log level %q: %w", level, err)
		}
	}
	if w == nil {
		w = os.Stderr
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "", "json":
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, lvl, fmt.Errorf("daemon: log format %q (json or console)", format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core, zap.AddCaller()), lvl, nil
}
