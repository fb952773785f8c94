package telemetry

import (
	"context"
	"sync/atomic"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Exported counts what the collector acknowledged: spans and log records
// whose export call returned no error. A test compares these with what
// Tracehouse stored to prove nothing was lost in between.
type Exported struct {
	spans, logs atomic.Int64
}

// Spans is the number of spans the collector accepted.
func (e *Exported) Spans() int64 { return e.spans.Load() }

// Logs is the number of log records the collector accepted.
func (e *Exported) Logs() int64 { return e.logs.Load() }

type countingSpanExporter struct {
	sdktrace.SpanExporter
	n *atomic.Int64
}

func (c countingSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := c.SpanExporter.ExportSpans(ctx, spans)
	if err == nil {
		c.n.Add(int64(len(spans)))
	}
	return err
}

type countingLogExporter struct {
	sdklog.Exporter
	n *atomic.Int64
}

func (c countingLogExporter) Export(ctx context.Context, records []sdklog.Record) error {
	err := c.Exporter.Export(ctx, records)
	if err == nil {
		c.n.Add(int64(len(records)))
	}
	return err
}
