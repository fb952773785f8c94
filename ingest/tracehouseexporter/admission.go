package tracehouseexporter

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/tracehouse/tracehouse/ingest/partialsuccessextension"
	"github.com/tracehouse/tracehouse/storage/writer"
)

// Admission: what a request holds that can never be stored (a span
// starting after 2262: writer.StorableTraces) is taken out before the
// request is queued, while the sender still waits for its answer. So the
// queue, exporterhelper's otelcol_exporter_sent_* and send_failed_*, and
// the sender's acknowledgement all concern what can be stored: a request
// of 9 spans with one such span queues 8, which count as sent once
// stored, and the ninth is counted here (rejected_items, stage
// admission) and logged once with the reason. Otherwise the writer would
// leave it out after queueing, and exporterhelper, which counts a batch
// as a whole, would report the batch sent or failed in full.
//
// The sender is answered OK when anything was accepted. otlpreceiver (up
// to v0.165 at least) builds its response itself and never fills
// partialSuccess, however the pipeline answers; the rejection is recorded
// on the request's context for ingest/partialsuccessextension, which,
// configured on the receiver (as in the shipped configs), puts it in the
// response's partialSuccess (rejected count and reason). A request with
// nothing storable is refused with a permanent error (HTTP 400 / gRPC
// INVALID_ARGUMENT, saying why): retrying it cannot help.

// frontTraces is what the pipeline calls: what can never be stored is taken
// out, then the memory and queue-full checks (backpressure.go) hand the
// rest to exporterhelper (queue, batching, retries).
type frontTraces struct {
	exporter.Traces
	e   *tracehouseExporter
	adm *admission
	gc  *groupCommit[ptrace.Traces] // nil: exporterhelper batches
}

func (f frontTraces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	td, rej := writer.StorableTraces(td)
	if rej.Count > 0 {
		if err := f.e.rejectAtAdmission(ctx, rej, td.SpanCount(), partialsuccessextension.RejectSpans); err != nil {
			return err
		}
	}
	n := td.SpanCount()
	return f.adm.consume(ctx, n, func() error {
		if f.gc != nil {
			return f.gc.consume(ctx, td, n)
		}
		return f.Traces.ConsumeTraces(ctx, td)
	})
}

// Shutdown queues the batch being built before exporterhelper shuts down.
func (f frontTraces) Shutdown(ctx context.Context) error {
	if f.gc != nil {
		f.gc.shutdown()
	}
	return f.Traces.Shutdown(ctx)
}

type frontLogs struct {
	exporter.Logs
	e   *tracehouseExporter
	adm *admission
	gc  *groupCommit[plog.Logs] // nil: exporterhelper batches
}

func (f frontLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	// A record without any time gets its observed time here, before it is
	// queued: the same row then goes to ClickHouse on every retry, so
	// its deduplication token recognises it (writer.StorableLogs).
	ld, rej := writer.StorableLogs(ld, time.Now())
	if rej.Count > 0 {
		if err := f.e.rejectAtAdmission(ctx, rej, ld.LogRecordCount(), partialsuccessextension.RejectLogRecords); err != nil {
			return err
		}
	}
	n := ld.LogRecordCount()
	return f.adm.consume(ctx, n, func() error {
		if f.gc != nil {
			return f.gc.consume(ctx, ld, n)
		}
		return f.Logs.ConsumeLogs(ctx, ld)
	})
}

// Shutdown queues the batch being built before exporterhelper shuts down.
func (f frontLogs) Shutdown(ctx context.Context) error {
	if f.gc != nil {
		f.gc.shutdown()
	}
	return f.Logs.Shutdown(ctx)
}

// rejectAtAdmission counts and logs items left out of a request before
// queueing, and records them for the sender's answer (tell). With nothing
// left to store it is the request's permanent error.
func (e *tracehouseExporter) rejectAtAdmission(ctx context.Context, rej writer.Rejection, kept int, tell func(context.Context, int, string)) error {
	e.metrics.admissionRejected(ctx, rej.Count)
	e.log.Warn("refused data that can never be stored; the rest of the request was accepted",
		zap.String("signal", string(e.signal)), zap.Int("rejected", rej.Count), zap.Int("accepted", kept),
		zap.String("reason", rej.Reason))
	if kept == 0 {
		return consumererror.NewPermanent(errors.New("tracehouse: every item of the request was refused: " + rej.Reason))
	}
	tell(ctx, rej.Count, rej.Reason)
	return nil
}
