// Package tracehouseexporter is the Tracehouse ClickHouse exporter: an
// OpenTelemetry Collector exporter (type "tracehouse") that writes traces and
// logs through storage/writer. Queueing, batching, retries and timeouts are
// exporterhelper's; the exporter itself takes out of each request what can
// never be stored before it is queued (admission.go), hands batches to the
// writer, and says which failures are worth retrying (exporter.go's
// outcome). Retries store nothing twice: the writer's INSERTs carry
// deduplication tokens, and the exporter batches in front of its queue
// (groupcommit.go), so a batch replayed from a persistent queue after a
// crash is the batch that was inserted; each batch is encoded for
// ClickHouse as it enters the queue, which holds (or stores) the encoded
// block rather than OTLP (request.go). It imports no ClickHouse driver:
// connections, SQL and error codes are storage's.
//
// The JSON-lines log receiver is in ingest/jsonlreceiver.
package tracehouseexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/schema"
	"github.com/tracehouse/tracehouse/storage/writer"
)

// TypeStr is the exporter's type in collector configs.
const TypeStr = "tracehouse"

var componentType = component.MustNewType(TypeStr)

const stability = component.StabilityLevelAlpha

// Defaults.
const (
	// DefaultTimeout bounds one INSERT (one batch).
	DefaultTimeout = 30 * time.Second
	// DefaultBatchMinSize and DefaultBatchMaxSize are spans or log records
	// per INSERT: ClickHouse wants few large inserts, since every INSERT
	// makes a part the server merges later. Larger batches spare the
	// server's CPU but cost the collector more per span (colder pdata, a
	// larger live heap); these sizes balance the two when both share a
	// machine (figures in bench/ingest/README.md). A gateway writing to a
	// ClickHouse server of its own can raise min_size to spare the server.
	DefaultBatchMinSize = 10_000
	DefaultBatchMaxSize = 50_000
	// DefaultBatchFlushTimeout sends a smaller batch after this long.
	DefaultBatchFlushTimeout = time.Second
	// DefaultQueueSize is the sending queue's capacity in spans or records.
	DefaultQueueSize = 200_000
	// DefaultNumConsumers is the number of concurrent INSERTs. The embedded
	// engine runs one statement at a time; a server can take more.
	DefaultNumConsumers = 2
	// DefaultQueueFullRetryAfter is what senders are told to wait when the
	// queue is full.
	DefaultQueueFullRetryAfter = 5 * time.Second
)

// NewFactory returns the factory of the tracehouse exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		componentType,
		createDefaultConfig,
		exporter.WithTraces(createTraces, stability),
		exporter.WithLogs(createLogs, stability),
	)
}

func createDefaultConfig() component.Config {
	queue := exporterhelper.NewDefaultQueueConfig()
	queue.Sizer = exporterhelper.RequestSizerTypeItems
	queue.QueueSize = DefaultQueueSize
	queue.NumConsumers = DefaultNumConsumers
	// Start from exporterhelper's defaults so settings added by newer
	// releases (e.g. batch partitioning) keep valid values.
	batch := exporterhelper.NewDefaultBatchConfig()
	batch.FlushTimeout = DefaultBatchFlushTimeout
	batch.Sizer = exporterhelper.RequestSizerTypeItems
	batch.MinSize = DefaultBatchMinSize
	batch.MaxSize = DefaultBatchMaxSize
	queue.Batch = configoptional.Some(batch)
	return &Config{
		TimeoutConfig: exporterhelper.TimeoutConfig{Timeout: DefaultTimeout},
		QueueConfig:   configoptional.Some(queue),
		RetryConfig:   configretry.NewDefaultBackOffConfig(),
		Endpoint:      storage.DefaultDSN,
		CreateSchema:  true,
		TTL: TTLConfig{
			Spans:   schema.DefaultSpansTTL,
			Logs:    schema.DefaultLogsTTL,
			Metrics: schema.DefaultMetricsTTL,
		},
		ServiceGraph: ServiceGraphConfig{
			CacheSize: writer.DefaultEdgeCacheSize,
			CacheTTL:  writer.DefaultEdgeCacheTTL,
		},
		QueueFullRetryAfter: DefaultQueueFullRetryAfter,
	}
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set, signalTraces)
	if err != nil {
		return nil, err
	}
	queue, grouped := queueOf(c)
	var exp exporter.Traces
	if grouped {
		exp, err = xexporterhelper.NewTracesRequest(ctx, set, e.convertTraces, e.pushQueued, helperOptions(c, e, queue, grouped)...)
	} else {
		exp, err = exporterhelper.NewTraces(ctx, set, cfg, e.pushTraces, helperOptions(c, e, queue, grouped)...)
	}
	if err != nil {
		return nil, err
	}
	adm, err := newAdmission(c, set, signalTraces)
	if err != nil {
		return nil, err
	}
	f := frontTraces{Traces: exp, e: e, adm: adm}
	if grouped {
		e.pipe = &pipe{}
		f.gc = groupCommitFor(*c.QueueConfig.Get(), newTracesBatch, moveTraces, exp.ConsumeTraces, e.pipe)
	}
	return f, nil
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set, signalLogs)
	if err != nil {
		return nil, err
	}
	queue, grouped := queueOf(c)
	var exp exporter.Logs
	if grouped {
		exp, err = xexporterhelper.NewLogsRequest(ctx, set, e.convertLogs, e.pushQueued, helperOptions(c, e, queue, grouped)...)
	} else {
		exp, err = exporterhelper.NewLogs(ctx, set, cfg, e.pushLogs, helperOptions(c, e, queue, grouped)...)
	}
	if err != nil {
		return nil, err
	}
	adm, err := newAdmission(c, set, signalLogs)
	if err != nil {
		return nil, err
	}
	f := frontLogs{Logs: exp, e: e, adm: adm}
	if grouped {
		e.pipe = &pipe{}
		f.gc = groupCommitFor(*c.QueueConfig.Get(), newLogsBatch, moveLogs, exp.ConsumeLogs, e.pipe)
	}
	return f, nil
}

// queueOf is the sending queue exporterhelper gets, and whether the
// exporter batches in front of it instead (groupcommit.go: a queue, in
// memory or persistent, with batches counted in items).
func queueOf(c *Config) (configoptional.Optional[exporterhelper.QueueBatchConfig], bool) {
	if !c.QueueConfig.HasValue() {
		return c.QueueConfig, false
	}
	q := *c.QueueConfig.Get()
	if groupCommitFor[ptrace.Traces](q, nil, nil, nil, nil) == nil {
		return c.QueueConfig, false
	}
	return configoptional.Some(withoutBatching(q)), true
}

// helperOptions are the exporterhelper settings every signal gets: timeout,
// retries, the sending queue and the exporter's start and shutdown. With
// the group commit in front (grouped), batches are built of the senders'
// own data, moved out of their requests: the exporter mutates what it is
// given; and the queue holds batches encoded as they enter it, in the
// exporter's own encoding (request.go).
func helperOptions(c *Config, e *tracehouseExporter, queue configoptional.Optional[exporterhelper.QueueBatchConfig], grouped bool) []exporterhelper.Option {
	withQueue := exporterhelper.WithQueue(queue)
	if grouped {
		withQueue = xexporterhelper.WithQueueBatch(queue, xexporterhelper.QueueBatchSettings{Encoding: queuedEncoding{sig: e.signal}})
	}
	return []exporterhelper.Option{
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: grouped}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.RetryConfig),
		withQueue,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
	}
}
