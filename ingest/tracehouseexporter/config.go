package tracehouseexporter

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// Config is the tracehouse exporter's configuration. Queueing, batching,
// retries and timeouts are exporterhelper's (sending_queue,
// retry_on_failure, timeout).
type Config struct {
	TimeoutConfig exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig   configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`

	// Endpoint is the ClickHouse DSN: http(s):// for the HTTP interface
	// (the embedded engine), clickhouse:// for the native protocol.
	Endpoint configopaque.String `mapstructure:"endpoint"`
	// Database holds the Tracehouse tables. Empty: the DSN's database, or
	// "default".
	Database string `mapstructure:"database"`
	// Cluster, when set, creates the cluster variant of the schema (ON
	// CLUSTER, Replicated and Distributed tables).
	Cluster string `mapstructure:"cluster"`
	// CreateSchema applies the schema migrations (and the TTLs below) when
	// the exporter starts. Turn it off when the schema is managed with
	// `tracehouse migrate`.
	CreateSchema bool `mapstructure:"create_schema"`
	// TTL is the retention the schema is created with, and lengthened to.
	// The exporter never shortens the TTL of an existing table, since that
	// deletes stored data: `tracehouse migrate --spans-ttl …` does, and the
	// exporter logs each TTL it kept.
	TTL TTLConfig `mapstructure:"ttl"`
	// ServiceGraph tunes how parent/child service pairs are found across
	// batches.
	ServiceGraph ServiceGraphConfig `mapstructure:"service_graph"`
	// QueueFullRetryAfter is the delay senders are asked to wait (gRPC
	// RetryInfo, HTTP Retry-After) when the sending queue is full.
	QueueFullRetryAfter time.Duration `mapstructure:"queue_full_retry_after"`
	// ProcessMemoryLimitMiB refuses new data (RESOURCE_EXHAUSTED / 429 with
	// queue_full_retry_after, as a full queue does) while the process's
	// resident memory is at or above it: Go heap, an in-process ClickHouse
	// engine and everything else, where memory_limiter counts the Go heap
	// only. 0 turns the check off.
	ProcessMemoryLimitMiB int `mapstructure:"process_memory_limit_mib"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// TTLConfig is how long data is kept; 0 keeps it forever.
type TTLConfig struct {
	Spans   time.Duration `mapstructure:"spans"`
	Logs    time.Duration `mapstructure:"logs"`
	Metrics time.Duration `mapstructure:"metrics"`
}

// ServiceGraphConfig bounds the span memory used to find service-graph
// edges whose parent and child arrive in different batches. Edges are found
// only between spans this process writes: every span of a trace must reach
// the same collector (see deploy/README.md, "Service map").
type ServiceGraphConfig struct {
	// CacheSize is how many spans are remembered; 0 turns edges off.
	CacheSize int `mapstructure:"cache_size"`
	// CacheTTL is how long a span is remembered.
	CacheTTL time.Duration `mapstructure:"cache_ttl"`
}

var (
	_ component.Config  = (*Config)(nil)
	_ confmap.Validator = (*Config)(nil)
)

// Validate reports settings that can never work.
func (c *Config) Validate() error {
	var errs []error
	opts, err := storage.ParseDSN(string(c.Endpoint))
	if err != nil {
		errs = append(errs, fmt.Errorf("endpoint: %w", err))
	}
	if c.Endpoint == "" {
		errs = append(errs, fmt.Errorf("endpoint is required (e.g. %s)", storage.DefaultDSN))
	}
	if err == nil {
		if err := c.schemaOptions(opts.Auth.Database).Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ServiceGraph.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("service_graph::cache_size %d is negative (0 turns edges off)", c.ServiceGraph.CacheSize))
	}
	if c.ServiceGraph.CacheSize > 0 && c.ServiceGraph.CacheTTL <= 0 {
		errs = append(errs, fmt.Errorf("service_graph::cache_ttl must be positive, got %v", c.ServiceGraph.CacheTTL))
	}
	if c.ProcessMemoryLimitMiB < 0 {
		errs = append(errs, fmt.Errorf("process_memory_limit_mib %d is negative (0 turns the check off)", c.ProcessMemoryLimitMiB))
	}
	if c.QueueConfig.HasValue() {
		q := c.QueueConfig.Get()
		if q.StorageID != nil && q.Batch.HasValue() && q.Batch.Get().Sizer != exporterhelper.RequestSizerTypeItems {
			// groupcommit.go batches in front of a persistent queue and
			// counts items.
			errs = append(errs, fmt.Errorf("sending_queue::batch::sizer must be items with a persistent queue (storage), got %v", q.Batch.Get().Sizer))
		}
	}
	if c.QueueFullRetryAfter < 0 {
		errs = append(errs, fmt.Errorf("queue_full_retry_after %v is negative", c.QueueFullRetryAfter))
	}
	return errors.Join(errs...)
}

// database is where the tables live: Database, else the DSN's, else
// "default".
func (c *Config) database(dsnDatabase string) string {
	switch {
	case c.Database != "":
		return c.Database
	case dsnDatabase != "":
		return dsnDatabase
	default:
		return schema.DefaultDatabase
	}
}

func (c *Config) schemaOptions(dsnDatabase string) schema.Options {
	return schema.Options{
		Database:   c.database(dsnDatabase),
		Cluster:    c.Cluster,
		SpansTTL:   c.TTL.Spans,
		LogsTTL:    c.TTL.Logs,
		MetricsTTL: c.TTL.Metrics,
	}
}
