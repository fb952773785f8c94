package collector

import (
	"github.com/rs/zerolog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zerologCore sends the collector's zap logs to Tracehouse's zerolog
// logger, so the collector inside all-in-one logs like the rest of the
// process. The zerolog logger's level applies.
type zerologCore struct {
	log    zerolog.Logger
	fields []zapcore.Field
}

// zapToZerolog is the zap option that replaces the collector's log output.
func zapToZerolog(log zerolog.Logger) zap.Option {
	return zap.WrapCore(func(zapcore.Core) zapcore.Core { return &zerologCore{log: log} })
}

func zerologLevel(l zapcore.Level) zerolog.Level {
	switch l {
	case zapcore.DebugLevel:
		return zerolog.DebugLevel
	case zapcore.InfoLevel:
		return zerolog.InfoLevel
	case zapcore.WarnLevel:
		return zerolog.WarnLevel
	case zapcore.ErrorLevel:
		return zerolog.ErrorLevel
	case zapcore.DPanicLevel, zapcore.PanicLevel:
		return zerolog.PanicLevel
	default:
		return zerolog.FatalLevel
	}
}

func (c *zerologCore) Enabled(l zapcore.Level) bool {
	lvl := zerologLevel(l)
	return lvl >= c.log.GetLevel() && lvl >= zerolog.GlobalLevel()
}

func (c *zerologCore) With(fields []zapcore.Field) zapcore.Core {
	return &zerologCore{log: c.log, fields: append(append([]zapcore.Field(nil), c.fields...), fields...)}
}

func (c *zerologCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zerologCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	// WithLevel never exits or panics, whatever the level.
	ev := c.log.WithLevel(zerologLevel(e.Level))
	if e.LoggerName != "" {
		ev = ev.Str("logger", e.LoggerName)
	}
	ev.Fields(enc.Fields).Msg(e.Message)
	return nil
}

func (c *zerologCore) Sync() error { return nil }
