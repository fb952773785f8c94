package tracehouseexporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	pdatarequest "go.opentelemetry.io/collector/pdata/xpdata/request"
	"go.uber.org/zap"

	"github.com/tracehouse/tracehouse/storage/writer"
)

// In front of a queue (the group commit: groupcommit.go) a batch is
// converted for ClickHouse as it enters the queue, not when it
// leaves it: the queue's file stores the batch's Native block, LZ4
// compressed, with its token and edge facts (writer.Encoded), instead of
// the batch as OTLP. Measured with the ingest bench (bench/ingest/README.md),
// this is what a durable collector spent most of its CPU on: the queue's
// database rewrote several times each batch's bytes on every write
// (bbolt copies a leaf's values when it changes), and each batch was
// decoded from OTLP again when it left the queue. The block is about a
// sixth of the OTLP bytes, and nothing is decoded on the way out: the
// block is what the INSERT sends.
//
// A batch is queued as OTLP instead (exporterhelper's own encoding, so
// either kind reads back after a restart, and a queue written by an older
// version too) when it cannot be encoded yet: before the exporter first
// reached ClickHouse (encoding needs the table's column types), over the
// native protocol (clickhouse-go's batches send the rows, not a block),
// or when a value cannot be encoded (the writer then isolates it when
// the batch is written).
//
// A queue in memory holds the same requests, and nothing is stored or
// decoded: what encoding at entry saves there is memory (a Native block
// instead of pdata; held plain, as the INSERT sends it, since compressing
// it would only be undone: writer.EncodeOptions) and the conversion of a
// batch a retry would repeat.

// queuedBatch is one batch in the queue: encoded, or as pdata.
type queuedBatch struct {
	enc *writer.Encoded
	td  ptrace.Traces // when enc is nil, for traces
	ld  plog.Logs     // when enc is nil, for logs
	sig signal
}

var _ xexporterhelper.Request = (*queuedBatch)(nil)

func (r *queuedBatch) ItemsCount() int {
	switch {
	case r.enc != nil:
		return r.enc.Items()
	case r.sig == signalTraces:
		return r.td.SpanCount()
	default:
		return r.ld.LogRecordCount()
	}
}

// BytesSize is the batch as held in memory (encoded, or as OTLP).
func (r *queuedBatch) BytesSize() int {
	switch {
	case r.enc != nil:
		return r.enc.Size()
	case r.sig == signalTraces:
		return (&ptrace.ProtoMarshaler{}).TracesSize(r.td)
	default:
		return (&plog.ProtoMarshaler{}).LogsSize(r.ld)
	}
}

// MergeSplit is never called: the group commit batches in front of the
// queue, and exporterhelper's batching is off (queueOf). It refuses to
// merge rather than merge in a way a replay would not repeat.
func (r *queuedBatch) MergeSplit(_ context.Context, _ int, _ exporterhelper.RequestSizerType, r2 xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	if r2 != nil {
		return nil, errors.New("tracehouse exporter: queued batches are not merged (the group commit batches in front of the queue)")
	}
	return []xexporterhelper.Request{r}, nil
}

// convertTraces is the converter of the queued exporter: it runs as the
// group commit hands a batch to the queue.
func (e *tracehouseExporter) convertTraces(ctx context.Context, td ptrace.Traces) (xexporterhelper.Request, error) {
	if w := e.writer.Load(); w != nil {
		enc, err := w.EncodeTraces(ctx, td, e.encodeOpts)
		if err == nil {
			return &queuedBatch{enc: enc, sig: signalTraces}, nil
		}
		e.notEncoded(err)
	}
	return &queuedBatch{td: td, sig: signalTraces}, nil
}

func (e *tracehouseExporter) convertLogs(ctx context.Context, ld plog.Logs) (xexporterhelper.Request, error) {
	if w := e.writer.Load(); w != nil {
		enc, err := w.EncodeLogs(ctx, ld, e.encodeOpts)
		if err == nil {
			return &queuedBatch{enc: enc, sig: signalLogs}, nil
		}
		e.notEncoded(err)
	}
	return &queuedBatch{ld: ld, sig: signalLogs}, nil
}

func (e *tracehouseExporter) notEncoded(err error) {
	if !errors.Is(err, writer.ErrNativeProtocol) {
		e.log.Debug("a batch is queued as OTLP: it could not be encoded", zap.String("signal", string(e.signal)), zap.Error(err))
	}
}

// pushQueued writes one batch the queue hands over.
func (e *tracehouseExporter) pushQueued(ctx context.Context, req xexporterhelper.Request) error {
	r, ok := req.(*queuedBatch)
	switch {
	case !ok:
		return fmt.Errorf("tracehouse exporter: cannot write a %T", req)
	case r.enc == nil && r.sig == signalTraces:
		return e.pushTraces(ctx, r.td)
	case r.enc == nil:
		return e.pushLogs(ctx, r.ld)
	}
	return e.push(ctx, r.enc.Items(), r.enc.Size,
		func(w *writer.Writer) (writer.WriteStats, error) { return w.WriteEncoded(ctx, r.enc) })
}

// queuedEncoding is how the persistent queue stores batches: an encoded
// batch behind encodedMark, anything else as exporterhelper stores pdata
// (which is how a queue written before batches were encoded reads back).
type queuedEncoding struct{ sig signal }

// encodedMark starts an encoded batch. exporterhelper's encoding starts
// with a protobuf tag; 0xff is not one a message of its starts with.
var encodedMark = []byte("\xffTHe")

func (q queuedEncoding) Marshal(ctx context.Context, req xexporterhelper.Request) ([]byte, error) {
	r, ok := req.(*queuedBatch)
	switch {
	case !ok:
		return nil, fmt.Errorf("tracehouse exporter: cannot queue a %T", req)
	case r.enc != nil:
		return r.enc.AppendBinary(append(make([]byte, 0, len(encodedMark)+r.enc.Size()+64), encodedMark...))
	case r.sig == signalTraces:
		return pdatarequest.MarshalTraces(ctx, r.td)
	default:
		return pdatarequest.MarshalLogs(ctx, r.ld)
	}
}

func (q queuedEncoding) Unmarshal(data []byte) (context.Context, xexporterhelper.Request, error) {
	if rest, ok := bytes.CutPrefix(data, encodedMark); ok {
		enc, err := writer.UnmarshalEncoded(rest)
		if err != nil {
			return context.Background(), nil, fmt.Errorf("tracehouse exporter: a queued batch cannot be read: %w", err)
		}
		return context.Background(), &queuedBatch{enc: enc, sig: q.sig}, nil
	}
	if q.sig == signalTraces {
		ctx, td, err := pdatarequest.UnmarshalTraces(data)
		if errors.Is(err, pdatarequest.ErrInvalidFormat) {
			ctx = context.Background()
			td, err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(data)
		}
		return ctx, &queuedBatch{td: td, sig: q.sig}, err
	}
	ctx, ld, err := pdatarequest.UnmarshalLogs(data)
	if errors.Is(err, pdatarequest.ErrInvalidFormat) {
		ctx = context.Background()
		ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(data)
	}
	return ctx, &queuedBatch{ld: ld, sig: q.sig}, err
}
