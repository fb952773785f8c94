package tracehouseexporter

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/schema"
	"github.com/tracehouse/tracehouse/storage/writer"
)

const meterScope = "github.com/tracehouse/tracehouse/ingest/tracehouseexporter"

// Metric names. exporterhelper adds its own (otelcol_exporter_sent_spans,
// queue size, …); these say what reached which table and how inserts go.
const (
	metricRowsWritten    = "tracehouse.exporter.rows_written"
	metricBatches        = "tracehouse.exporter.batches"
	metricBytes          = "tracehouse.exporter.bytes"
	metricFailures       = "tracehouse.exporter.failures"
	metricRejected       = "tracehouse.exporter.rejected_items"
	metricDropped        = "tracehouse.exporter.dropped_items"
	metricChanged        = "tracehouse.exporter.changed_values"
	metricInsertDuration = "tracehouse.exporter.insert_duration"
	metricRefused        = "tracehouse.exporter.refused_items"
)

type failureKind string

const (
	failureRetryable failureKind = "retryable"
	failurePermanent failureKind = "permanent"
)

type exporterMetrics struct {
	signal    attribute.KeyValue
	rows      metric.Int64Counter
	batches   metric.Int64Counter
	bytes     metric.Int64Counter
	failures  metric.Int64Counter
	rejected  metric.Int64Counter
	dropped   metric.Int64Counter
	changed   metric.Int64Counter
	durations metric.Float64Histogram

	spansTable, logsTable, edgesTable metric.MeasurementOption
	ok                                metric.MeasurementOption
	retryable, permanent              metric.MeasurementOption
	admitted, inserted                metric.MeasurementOption // rejected_items stages
}

func newExporterMetrics(set component.TelemetrySettings, sig signal) (*exporterMetrics, error) {
	meter := set.MeterProvider.Meter(meterScope)
	m := &exporterMetrics{signal: attribute.String("signal", string(sig))}
	var errs error
	// counter creates one counter; errors are collected so a broken meter
	// provider reports every instrument it refused at once.
	counter := func(name, unit, description string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(description))
		errs = errors.Join(errs, err)
		return c
	}
	m.rows = counter(metricRowsWritten, "{row}",
		"Rows written to ClickHouse, by table.")
	m.batches = counter(metricBatches, "{batch}",
		"INSERT batches attempted, by signal and outcome (ok, retryable, permanent).")
	m.bytes = counter(metricBytes, "By",
		"Bytes of the INSERTs sent to ClickHouse (over the native protocol, where the driver does not say: the OTLP protobuf size of the data written).")
	m.failures = counter(metricFailures, "{batch}",
		"Failed exports, by signal and kind (retryable: retried by the queue, a batch whose edges failed too; permanent: dropped; edges_lost: rows stored, service-graph edges refused for good).")
	m.rejected = counter(metricRejected, "{item}",
		"Spans or log records that can never be stored, left out while their neighbours were stored, by signal and stage "+
			"(admission: refused before queueing, e.g. a time after 2262; insert: ClickHouse refused the item itself).")
	m.dropped = counter(metricDropped, "{item}",
		"Spans or log records left out without being proven bad: a batch ClickHouse kept refusing after splitting it as far as allowed.")
	m.changed = counter(metricChanged, "{value}",
		"Values stored changed: invalid_utf8 (replaced by U+FFFD), truncated (nested too deep, kept as text), clamped (out of range).")
	var err error
	m.durations, err = meter.Float64Histogram(metricInsertDuration, metric.WithUnit("s"),
		metric.WithDescription("Time to write one batch (all its INSERTs)."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	errs = errors.Join(errs, err)
	if errs != nil {
		return nil, errs
	}
	table := func(name string) metric.MeasurementOption {
		return metric.WithAttributes(attribute.String("table", name))
	}
	m.spansTable, m.logsTable, m.edgesTable = table(schema.SpansTable), table(schema.LogsTable), table(schema.ServiceEdgeEventsTable)
	outcome := func(o string) metric.MeasurementOption {
		return metric.WithAttributes(m.signal, attribute.String("outcome", o))
	}
	m.ok = outcome("ok")
	m.retryable = metric.WithAttributes(m.signal, attribute.String("kind", string(failureRetryable)))
	m.permanent = metric.WithAttributes(m.signal, attribute.String("kind", string(failurePermanent)))
	m.admitted = metric.WithAttributes(m.signal, attribute.String("stage", "admission"))
	m.inserted = metric.WithAttributes(m.signal, attribute.String("stage", "insert"))
	return m, nil
}

// admissionRejected counts items left out before queueing (admission.go).
func (m *exporterMetrics) admissionRejected(ctx context.Context, n int) {
	m.rejected.Add(ctx, int64(n), m.admitted)
}

func (m *exporterMetrics) failure(ctx context.Context, kind failureKind) {
	if kind == failurePermanent {
		m.failures.Add(ctx, 1, m.permanent)
		m.batches.Add(ctx, 1, metric.WithAttributes(m.signal, attribute.String("outcome", string(failurePermanent))))
		return
	}
	m.failures.Add(ctx, 1, m.retryable)
	m.batches.Add(ctx, 1, metric.WithAttributes(m.signal, attribute.String("outcome", string(failureRetryable))))
}

// insert records one write. otlpSize is called only on success, and only
// when the writer could not say how many bytes it sent.
func (m *exporterMetrics) insert(ctx context.Context, st writer.WriteStats, err error, took time.Duration, otlpSize func() int) {
	m.durations.Record(ctx, took.Seconds(), metric.WithAttributes(m.signal))
	if st.Rows > 0 {
		if m.signal.Value.AsString() == string(signalLogs) {
			m.rows.Add(ctx, int64(st.Rows), m.logsTable)
		} else {
			m.rows.Add(ctx, int64(st.Rows), m.spansTable)
		}
		sent := st.Bytes
		if sent == 0 {
			sent = otlpSize()
		}
		m.bytes.Add(ctx, int64(sent), metric.WithAttributes(m.signal))
	}
	if st.Edges > 0 {
		m.rows.Add(ctx, int64(st.Edges), m.edgesTable)
	}
	if st.Rejected > 0 {
		m.rejected.Add(ctx, int64(st.Rejected), m.inserted)
	}
	if st.Dropped > 0 {
		m.dropped.Add(ctx, int64(st.Dropped), metric.WithAttributes(m.signal))
	}
	for kind, n := range map[string]int{"invalid_utf8": st.Sanitized, "truncated": st.Truncated, "clamped": st.Clamped} {
		if n > 0 {
			m.changed.Add(ctx, int64(n), metric.WithAttributes(m.signal, attribute.String("kind", kind)))
		}
	}
	var edges *writer.EdgesError
	switch {
	case err == nil, errors.As(err, new(*writer.RejectedError)):
		// Stored what could be stored (rejected and dropped are above).
		m.batches.Add(ctx, 1, m.ok)
	case errors.As(err, &edges) && edges.Kept:
		m.failure(ctx, failureRetryable) // retried: the writer sends the edges
	case errors.As(err, &edges):
		// The rows are stored; only the edges they completed are lost.
		m.batches.Add(ctx, 1, m.ok)
		m.failures.Add(ctx, 1, metric.WithAttributes(m.signal, attribute.String("kind", "edges_lost")))
	case storage.IsPermanent(err):
		m.failure(ctx, failurePermanent)
	default:
		m.failure(ctx, failureRetryable)
	}
}
