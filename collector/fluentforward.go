package collector

import (
	"context"
	"sync"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/fluentforwardreceiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/xreceiver"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// fluentForwardFactory is the contrib fluent_forward receiver, unchanged,
// except that bad frames are counted and reported. The receiver drops a
// connection whose frame it cannot decode (a frame cut off, bytes that are
// not msgpack) and says so only in a debug log line; its own
// fluent_parse_failures metric misses both cases. A sender with a broken
// encoder would lose data without a trace, so Tracehouse counts those
// lines (tracehouse.fluent.bad_frames) and logs a warning at most once per
// reportInterval. The receiver's log messages are matched as written in
// v0.165.1; TestFluentForwardBadInput fails if they change.
func fluentForwardFactory() receiver.Factory {
	f := fluentforwardreceiver.NewFactory()
	create := func(ctx context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
		bad, err := set.MeterProvider.Meter("github.com/tracehouse/tracehouse/collector").Int64Counter(
			"tracehouse.fluent.bad_frames", metric.WithUnit("{connection}"),
			metric.WithDescription("Fluent forward connections dropped because a frame could not be decoded (cut off, or not msgpack)."))
		if err != nil {
			return nil, err
		}
		report := &badFrames{logger: set.Logger, counter: bad}
		set.Logger = set.Logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return &badFrameCore{Core: c, report: report}
		}))
		return f.CreateLogs(ctx, set, cfg, next)
	}
	return xreceiver.NewFactory(f.Type(), f.CreateDefaultConfig,
		xreceiver.WithLogs(create, f.LogsStability()),
		xreceiver.WithDeprecatedTypeAlias(component.MustNewType("fluentforward")))
}

// reportInterval bounds how often bad input is logged.
const reportInterval = 10 * time.Second

type badFrames struct {
	logger  *zap.Logger
	counter metric.Int64Counter

	mu    sync.Mutex
	last  time.Time
	since int64
}

func (b *badFrames) add(remote, reason string) {
	b.counter.Add(context.Background(), 1)
	b.mu.Lock()
	b.since++
	if time.Since(b.last) < reportInterval {
		b.mu.Unlock()
		return
	}
	n := b.since
	b.since, b.last = 0, time.Now()
	b.mu.Unlock()
	b.logger.Warn("Fluent forward connections dropped on a frame that could not be decoded; check the sender's encoder",
		zap.Int64("connections", n), zap.String("example_remote", remote), zap.String("example_error", reason))
}

// badFrameCore sees the receiver's debug lines about dropped connections
// whatever the log level, and reports those caused by bad frames.
type badFrameCore struct {
	zapcore.Core
	report *badFrames
	fields []zapcore.Field
}

const (
	fluentClosing    = "Closing connection"                   // EOF: a clean close, or a frame cut off
	fluentUnexpected = "Unexpected error handling connection" // anything else
)

func (c *badFrameCore) With(fields []zapcore.Field) zapcore.Core {
	return &badFrameCore{Core: c.Core.With(fields), report: c.report, fields: append(append([]zapcore.Field(nil), c.fields...), fields...)}
}

// Enabled lets debug entries reach Check, which keeps only the two above.
func (c *badFrameCore) Enabled(l zapcore.Level) bool {
	return l == zapcore.DebugLevel || c.Core.Enabled(l)
}

func (c *badFrameCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Level == zapcore.DebugLevel && (e.Message == fluentClosing || e.Message == fluentUnexpected) {
		ce = ce.AddCore(e, c)
	}
	return c.Core.Check(e, ce)
}

func (c *badFrameCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if e.Message != fluentClosing && e.Message != fluentUnexpected {
		return c.Core.Write(e, fields)
	}
	var remote, reason string
	for _, f := range append(append([]zapcore.Field(nil), c.fields...), fields...) {
		switch {
		case f.Key == "remoteAddr":
			remote = f.String
		case f.Type == zapcore.ErrorType:
			if err, ok := f.Interface.(error); ok {
				reason = err.Error()
			}
		}
	}
	// A clean close is a bare EOF before the next frame; a frame cut
	// off ends in EOF too, but inside a message ("… EOF at Record").
	if e.Message == fluentUnexpected || (reason != "" && reason != "EOF") {
		c.report.add(remote, reason)
	}
	return nil
}
