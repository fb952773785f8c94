package tracehouseexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/schema"
	"github.com/tracehouse/tracehouse/storage/writer"
)

type signal string

const (
	signalTraces signal = "traces"
	signalLogs   signal = "logs"
)

// startupReadyTimeout bounds the connection check and migrations at start.
// When ClickHouse is not reachable by then the collector still starts;
// exports retry until it is (queued data waits meanwhile).
const startupReadyTimeout = 15 * time.Second

type tracehouseExporter struct {
	cfg        *Config
	signal     signal
	log        *zap.Logger
	metrics    *exporterMetrics
	endpoint   string // the DSN
	schemaOpts schema.Options
	writerOpts writer.Options
	// encodeOpts: a batch entering a queue in memory is held plain, one
	// entering a persistent queue compressed (request.go).
	encodeOpts writer.EncodeOptions
	target     string // where rows go, for messages: "host:port/database"

	// pipe, with a group commit in front of the queue (groupcommit.go),
	// learns when a push starts on a queued batch; nil: none.
	pipe *pipe

	mu     sync.Mutex // serialises connecting and migrating
	conn   storage.Conn
	writer atomic.Pointer[writer.Writer]
}

func newExporter(cfg *Config, set exporter.Settings, sig signal) (*tracehouseExporter, error) {
	dsn, err := storage.ParseDSN(string(cfg.Endpoint))
	if err != nil {
		return nil, err
	}
	metrics, err := newExporterMetrics(set.TelemetrySettings, sig)
	if err != nil {
		return nil, err
	}
	schemaOpts := cfg.schemaOptions(dsn.Auth.Database)
	target := strings.Join(dsn.Addr, ",") + "/" + schemaOpts.Database
	// The exporter never shortens a TTL (its ttl settings always have a
	// value, so it cannot tell a choice from a default): a longer one set
	// with `tracehouse migrate` stays, and is reported.
	schemaOpts.KeptTTL = func(d schema.TTLDiff) {
		set.Logger.Warn(d.Explain("tracehouse migrate"), zap.String("target", target))
	}
	edgeCache := cfg.ServiceGraph.CacheSize
	if edgeCache == 0 {
		edgeCache = -1 // off
	}
	return &tracehouseExporter{
		cfg:        cfg,
		signal:     sig,
		log:        set.Logger,
		metrics:    metrics,
		endpoint:   string(cfg.Endpoint),
		schemaOpts: schemaOpts,
		writerOpts: writer.Options{
			Database:      schemaOpts.Database,
			EdgeCacheSize: edgeCache,
			EdgeCacheTTL:  cfg.ServiceGraph.CacheTTL,
		},
		encodeOpts: writer.EncodeOptions{Plain: !cfg.QueueConfig.HasValue() || cfg.QueueConfig.Get().StorageID == nil},
		target:     target,
	}, nil
}

func (e *tracehouseExporter) start(ctx context.Context, _ component.Host) error {
	conn, native, err := storage.OpenConn(e.endpoint)
	if err != nil {
		return fmt.Errorf("tracehouse exporter: %w", err)
	}
	e.mu.Lock()
	e.conn = conn
	// Over HTTP the writer sends Native blocks it keeps between batches;
	// the native protocol needs the driver's batches.
	e.writerOpts.NativeProtocol = native
	e.mu.Unlock()
	readyCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startupReadyTimeout)
	defer cancel()
	if _, err := e.ready(readyCtx); err != nil {
		e.log.Warn("ClickHouse is not ready yet; exports will retry until it is", zap.String("target", e.target), zap.Error(err))
	}
	return nil
}

// shutdown is safe without start.
func (e *tracehouseExporter) shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == nil {
		return nil
	}
	err := e.conn.Close()
	e.conn = nil
	return err
}

// ready returns the writer once ClickHouse answered and the schema is in
// place; until then every call tries again.
func (e *tracehouseExporter) ready(ctx context.Context) (*writer.Writer, error) {
	if w := e.writer.Load(); w != nil {
		return w, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if w := e.writer.Load(); w != nil {
		return w, nil
	}
	if e.conn == nil {
		return nil, errors.New("tracehouse exporter is not started")
	}
	if err := e.conn.Ping(ctx); err != nil {
		return nil, fmt.Errorf("ClickHouse at %s does not answer: %w", e.target, err)
	}
	if e.cfg.CreateSchema {
		applied, err := schema.Migrate(ctx, e.conn, e.schemaOpts)
		if err != nil {
			return nil, fmt.Errorf("create the Tracehouse schema in %s: %w", e.target, err)
		}
		if len(applied) > 0 {
			e.log.Info("Tracehouse schema updated", zap.String("target", e.target), zap.Strings("applied", applied))
		}
	}
	w := writer.NewWriter(e.conn, e.writerOpts)
	e.writer.Store(w)
	e.log.Info("writing to ClickHouse", zap.String("target", e.target), zap.String("signal", string(e.signal)))
	return w, nil
}

func (e *tracehouseExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	return e.push(ctx, td.SpanCount(), func() int { return (&ptrace.ProtoMarshaler{}).TracesSize(td) },
		func(w *writer.Writer) (writer.WriteStats, error) { return w.WriteTracesStats(ctx, td) })
}

func (e *tracehouseExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	return e.push(ctx, ld.LogRecordCount(), func() int { return (&plog.ProtoMarshaler{}).LogsSize(ld) },
		func(w *writer.Writer) (writer.WriteStats, error) { return w.WriteLogsStats(ctx, ld) })
}

// push runs one write of items items (size: their bytes, for the metrics,
// computed only if asked) once ClickHouse is ready, timing it for the
// group commit's pipe and the metrics, and classifies its result.
func (e *tracehouseExporter) push(ctx context.Context, items int, size func() int, write func(*writer.Writer) (writer.WriteStats, error)) error {
	e.pipe.started()
	w, err := e.ready(ctx)
	if err != nil {
		e.metrics.failure(ctx, failureRetryable)
		return err
	}
	began := time.Now()
	st, err := write(w)
	e.pipe.inserted(time.Since(began))
	e.metrics.insert(ctx, st, err, time.Since(began), size)
	return e.outcome(err, items, st)
}

// outcome logs (once per batch) and classifies a write's result for
// exporterhelper, which counts a batch as sent when push returns nil and as
// failed (every item) otherwise, retrying it unless the error is
// consumererror.Permanent:
//   - rejected or dropped items (the writer stored the rest): nil, since
//     retrying cannot store them; they are counted in rejected_items and
//     dropped_items. exporterhelper counts them as sent: it cannot count
//     part of a batch. (Items that can be seen to be unstorable before
//     queueing never reach it: admission.go.)
//   - edges not stored but kept by the writer: the error, so the batch is
//     retried; the writer then sends only the edges. (Should exporterhelper
//     give up retrying, it counts the batch failed though its spans are
//     stored.)
//   - edges refused for good: nil (the spans are stored), counted.
//   - an error that cannot succeed on retry: consumererror.Permanent,
//     so exporterhelper drops the batch instead of retrying it for ever.
//   - anything else: the error, retried (and logged) by exporterhelper.
func (e *tracehouseExporter) outcome(err error, items int, st writer.WriteStats) error {
	if st.Sanitized > 0 || st.Truncated > 0 || st.Clamped > 0 {
		e.log.Debug("stored with changes", zap.String("signal", string(e.signal)),
			zap.Int("invalid_utf8_strings", st.Sanitized), zap.Int("truncated_values", st.Truncated), zap.Int("clamped_fields", st.Clamped))
	}
	if err == nil {
		if ce := e.log.Check(zap.DebugLevel, "stored"); ce != nil {
			ce.Write(zap.String("signal", string(e.signal)), zap.Int("rows", st.Rows), zap.Int("edges", st.Edges))
		}
		return nil
	}
	var edges *writer.EdgesError
	var rejected *writer.RejectedError
	switch {
	case errors.As(err, &rejected):
		fields := []zap.Field{zap.String("signal", string(e.signal)), zap.Int("stored", st.Rows)}
		if rejected.Count > 0 {
			fields = append(fields, zap.Int("rejected", rejected.Count), zap.String("reason", rejected.Reason))
		}
		if rejected.Dropped > 0 {
			fields = append(fields, zap.Int("dropped", rejected.Dropped), zap.String("drop_reason", rejected.DropReason))
		}
		e.log.Error("ClickHouse refused part of a batch; the rest was stored", fields...)
		return nil
	case errors.As(err, &edges) && edges.Kept:
		return err // retried; the writer sends only the edges
	case errors.As(err, &edges):
		e.log.Error("spans stored but ClickHouse refused their service-graph edges", zap.Int("spans", st.Rows),
			zap.Int("edges", edges.Edges), zap.Error(edges.Err))
		return nil
	case storage.IsPermanent(err):
		e.log.Error("dropped a batch ClickHouse can never accept", zap.String("signal", string(e.signal)),
			zap.Int("items", items), zap.String("target", e.target), zap.Error(err))
		return consumererror.NewPermanent(err)
	default:
		return err // exporterhelper retries (and logs) it
	}
}
