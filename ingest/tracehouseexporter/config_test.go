package tracehouseexporter

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
)

func TestConfigStruct(t *testing.T) {
	if err := componenttest.CheckConfigStruct(createDefaultConfig()); err != nil {
		t.Fatal(err)
	}
	if err := createDefaultConfig().(*Config).Validate(); err != nil {
		t.Fatalf("default config is invalid: %v", err)
	}
}

// loadConfig is the section tracehouse/name of testdata/config.yaml over
// the defaults, and what validation says about it.
func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	return cfg, ingesttest.LoadConfig(t, component.MustNewIDWithName(TypeStr, name), cfg)
}

func TestLoadConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := loadConfig(t, "")
		if err != nil {
			t.Fatal(err)
		}
		def := createDefaultConfig().(*Config)
		if cfg.Endpoint != def.Endpoint || !cfg.CreateSchema || cfg.TTL != def.TTL || cfg.ServiceGraph != def.ServiceGraph {
			t.Errorf("empty section: %+v, want the defaults %+v", cfg, def)
		}
		q := cfg.QueueConfig.Get()
		if q == nil || q.Sizer != exporterhelper.RequestSizerTypeItems || q.Batch.Get() == nil ||
			q.Batch.Get().MinSize != DefaultBatchMinSize || q.Batch.Get().MaxSize != DefaultBatchMaxSize {
			t.Errorf("default sending_queue %+v, want items-sized batches of %d..%d", q, DefaultBatchMinSize, DefaultBatchMaxSize)
		}
	})
	t.Run("custom", func(t *testing.T) {
		cfg, err := loadConfig(t, "custom")
		if err != nil {
			t.Fatal(err)
		}
		want := createDefaultConfig().(*Config)
		want.Endpoint = "clickhouse://writer:secret@ch.internal:9000/telemetry"
		want.Database = "traces"
		want.Cluster = "prod"
		want.CreateSchema = false
		want.TimeoutConfig.Timeout = 10 * time.Second
		want.TTL = TTLConfig{Spans: 72 * time.Hour, Logs: 24 * time.Hour, Metrics: 720 * time.Hour}
		want.ServiceGraph = ServiceGraphConfig{CacheSize: 1000, CacheTTL: 30 * time.Second}
		want.QueueFullRetryAfter = 2 * time.Second
		want.RetryConfig.InitialInterval = time.Second
		want.RetryConfig.MaxInterval = 10 * time.Second
		want.RetryConfig.MaxElapsedTime = time.Minute
		q := *want.QueueConfig.Get()
		q.NumConsumers = 4
		q.QueueSize = 100_000
		b := *q.Batch.Get()
		b.FlushTimeout, b.MinSize, b.MaxSize = 500*time.Millisecond, 5000, 20_000
		q.Batch = configoptional.Some(b)
		want.QueueConfig = configoptional.Some(q)

		if cfg.Endpoint != want.Endpoint || cfg.Database != want.Database || cfg.Cluster != want.Cluster ||
			cfg.CreateSchema != want.CreateSchema || cfg.TimeoutConfig != want.TimeoutConfig || cfg.TTL != want.TTL ||
			cfg.ServiceGraph != want.ServiceGraph || cfg.QueueFullRetryAfter != want.QueueFullRetryAfter ||
			cfg.RetryConfig != want.RetryConfig {
			t.Errorf("config\n got %+v\nwant %+v", cfg, want)
		}
		gq, wq := cfg.QueueConfig.Get(), want.QueueConfig.Get()
		if gq.NumConsumers != wq.NumConsumers || gq.QueueSize != wq.QueueSize || gq.Sizer != wq.Sizer ||
			!reflect.DeepEqual(gq.Batch.Get(), wq.Batch.Get()) {
			t.Errorf("sending_queue\n got %+v batch %+v\nwant %+v batch %+v", gq, gq.Batch.Get(), wq, wq.Batch.Get())
		}
		if got := cfg.schemaOptions("telemetry").Database; got != "traces" {
			t.Errorf("database %q, want the configured one over the DSN's", got)
		}
		if strings.Contains(fmt.Sprint(cfg), "secret") {
			t.Errorf("the config prints the DSN's password: %v", cfg)
		}
	})
	t.Run("service graph off", func(t *testing.T) {
		cfg, err := loadConfig(t, "no_service_graph")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ServiceGraph.CacheSize != 0 {
			t.Errorf("cache_size %d, want 0", cfg.ServiceGraph.CacheSize)
		}
	})
	for name, wantErr := range map[string]string{
		"bad_endpoint":      "endpoint",
		"bad_database":      "not a plain identifier",
		"negative_ttl":      "negative",
		"fractional_ttl":    "whole number of seconds",
		"bad_service_graph": "cache_ttl",
		// The group commit in front of a persistent queue counts items.
		"persistent_bytes_batch": "sizer must be items",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("Validate: %v, want an error about %q", err, wantErr)
			}
		})
	}
}
