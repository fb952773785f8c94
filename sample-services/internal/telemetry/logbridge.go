package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"
)

// Field names the trace hook stamps on every event logged with a span in
// context. They are also what a person greps for in the stderr copy.
const (
	TraceIDField = "trace_id"
	SpanIDField  = "span_id"
)

// logBridge turns each zerolog event into an OTel log record.
//
// It works on the encoded JSON line rather than as a zerolog hook because a
// hook runs before the event is complete and cannot read its fields; the
// line is the only place where every field is visible. The cost is one JSON
// decode per event, which is nothing next to the network hop that carries it.
type logBridge struct {
	logger otellog.Logger
}

var _ zerolog.LevelWriter = logBridge{}

func newLogBridge(logger otellog.Logger) logBridge { return logBridge{logger: logger} }

func (b logBridge) Write(p []byte) (int, error) { return b.WriteLevel(zerolog.NoLevel, p) }

// WriteLevel never fails: losing the OTLP copy of a line must not make
// zerolog report an error for the stderr copy written next to it.
func (b logBridge) WriteLevel(level zerolog.Level, p []byte) (int, error) {
	ctx, record := decodeEvent(level, p)
	b.logger.Emit(ctx, record)
	return len(p), nil
}

// decodeEvent maps a zerolog JSON line onto a log record, and the
// trace_id/span_id fields onto a context the SDK reads them back from, which
// is how the record ends up with real trace and span ids.
func decodeEvent(level zerolog.Level, line []byte) (context.Context, otellog.Record) {
	var record otellog.Record
	record.SetObservedTimestamp(time.Now())
	record.SetSeverity(severity(level))
	record.SetSeverityText(severityText(level))

	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		// Not an object (a foreign writer, a truncated line): keep it as an
		// opaque body rather than dropping it.
		record.SetBody(attribute.StringValue(strings.TrimSpace(string(line))))
		return context.Background(), record
	}

	var traceID, spanID string
	attrs := make([]attribute.KeyValue, 0, len(fields))
	for key, raw := range fields {
		switch key {
		case zerolog.MessageFieldName:
			if s, ok := raw.(string); ok {
				record.SetBody(attribute.StringValue(s))
				continue
			}
		case zerolog.LevelFieldName:
			continue // carried by severity
		case zerolog.TimestampFieldName:
			if s, ok := raw.(string); ok {
				if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
					record.SetTimestamp(ts)
					continue
				}
			}
		case TraceIDField:
			traceID, _ = raw.(string)
			continue
		case SpanIDField:
			spanID, _ = raw.(string)
			continue
		}
		if v, ok := attrValue(raw); ok {
			attrs = append(attrs, attribute.KeyValue{Key: attribute.Key(key), Value: v})
		}
	}
	// Map iteration order is random; a stable order keeps records of the
	// same event comparable.
	slices.SortFunc(attrs, func(a, b attribute.KeyValue) int { return strings.Compare(string(a.Key), string(b.Key)) })
	record.AddAttributes(attrs...)
	if record.Timestamp().IsZero() {
		record.SetTimestamp(record.ObservedTimestamp())
	}
	return spanContext(traceID, spanID), record
}

func spanContext(traceIDHex, spanIDHex string) context.Context {
	traceID, err := trace.TraceIDFromHex(traceIDHex)
	if err != nil {
		return context.Background()
	}
	spanID, err := trace.SpanIDFromHex(spanIDHex)
	if err != nil {
		return context.Background()
	}
	// The services sample every trace they start or continue, so the
	// sampled flag is what the span had; the line does not carry flags.
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    traceID,
		SpanID:     spanID,
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

func attrValue(raw any) (attribute.Value, bool) {
	switch v := raw.(type) {
	case string:
		return attribute.StringValue(v), true
	case bool:
		return attribute.BoolValue(v), true
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return attribute.Int64Value(i), true
		}
		if f, err := v.Float64(); err == nil {
			return attribute.Float64Value(f), true
		}
		return attribute.StringValue(v.String()), true
	case []any:
		values := make([]attribute.Value, 0, len(v))
		for _, item := range v {
			if iv, ok := attrValue(item); ok {
				values = append(values, iv)
			}
		}
		return attribute.SliceValue(values...), true
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		kvs := make([]attribute.KeyValue, 0, len(v))
		for _, k := range keys {
			if iv, ok := attrValue(v[k]); ok {
				kvs = append(kvs, attribute.KeyValue{Key: attribute.Key(k), Value: iv})
			}
		}
		return attribute.MapValue(kvs...), true
	default: // JSON null
		return attribute.Value{}, false
	}
}

func severity(level zerolog.Level) otellog.Severity {
	switch level {
	case zerolog.TraceLevel:
		return otellog.SeverityTrace
	case zerolog.DebugLevel:
		return otellog.SeverityDebug
	case zerolog.InfoLevel:
		return otellog.SeverityInfo
	case zerolog.WarnLevel:
		return otellog.SeverityWarn
	case zerolog.ErrorLevel:
		return otellog.SeverityError
	case zerolog.FatalLevel:
		return otellog.SeverityFatal
	case zerolog.PanicLevel:
		return otellog.SeverityFatal4
	default:
		return otellog.SeverityUndefined
	}
}

func severityText(level zerolog.Level) string {
	if level == zerolog.NoLevel {
		return ""
	}
	return strings.ToUpper(level.String())
}

// traceHook stamps the ids of the span active in the event's context, so
// both the stderr line and the OTLP record can be joined to the trace.
type traceHook struct{}

func (traceHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	sc := trace.SpanContextFromContext(e.GetCtx())
	if !sc.IsValid() {
		return
	}
	e.Str(TraceIDField, sc.TraceID().String()).Str(SpanIDField, sc.SpanID().String())
}

// timestampHook writes the event time with nanoseconds. zerolog's own
// Timestamp() follows the package-global TimeFieldFormat (seconds by
// default), and changing a global would change it for every logger in the
// process.
type timestampHook struct{}

func (timestampHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().UTC().Format(time.RFC3339Nano))
}
