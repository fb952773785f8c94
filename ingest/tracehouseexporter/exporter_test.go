package tracehouseexporter

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

func TestMain(m *testing.M) { chtest.Main(m) }

var services = []string{"gateway", "order"}

// testConfig writes to database db at dsn, with a short batch flush.
func testConfig(dsn, db string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = configopaque.String(dsn)
	cfg.Database = db
	cfg.QueueConfig.Get().Batch.Get().FlushTimeout = 50 * time.Millisecond
	cfg.RetryConfig.InitialInterval = 50 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 200 * time.Millisecond
	return cfg
}

// synchronous makes ConsumeX return the write's own error: no queue, no
// retries.
func synchronous(cfg *Config) *Config {
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.RetryConfig.Enabled = false
	return cfg
}

func settings(tel *componenttest.Telemetry) exporter.Settings {
	set := exportertest.NewNopSettings(componentType)
	if tel != nil {
		set.TelemetrySettings = tel.NewTelemetrySettings()
	}
	return set
}

func startTraces(t *testing.T, cfg *Config, tel *componenttest.Telemetry) exporter.Traces {
	t.Helper()
	exp, err := NewFactory().CreateTraces(context.Background(), settings(tel), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ingesttest.Start(t, exp)
	return exp
}

func startLogs(t *testing.T, cfg *Config, tel *componenttest.Telemetry) exporter.Logs {
	t.Helper()
	exp, err := NewFactory().CreateLogs(context.Background(), settings(tel), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ingesttest.Start(t, exp)
	return exp
}

// sumMetric adds the points of an Int64 sum (or the counts of a histogram)
// whose attributes include match.
func sumMetric(t *testing.T, tel *componenttest.Telemetry, name string, match ...attribute.KeyValue) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var total int64
	has := func(set attribute.Set) bool {
		for _, kv := range match {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	switch data := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range data.DataPoints {
			if has(p.Attributes) {
				total += p.Value
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range data.DataPoints {
			if has(p.Attributes) {
				total += int64(p.Count)
			}
		}
	default:
		t.Fatalf("metric %s has unexpected type %T", name, m.Data)
	}
	return total
}

func TestLifecycleWithoutStart(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig()
	traces, err := f.CreateTraces(context.Background(), exportertest.NewNopSettings(componentType), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := traces.Shutdown(context.Background()); err != nil {
		t.Errorf("traces Shutdown without Start: %v", err)
	}
	logs, err := f.CreateLogs(context.Background(), exportertest.NewNopSettings(componentType), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := logs.Shutdown(context.Background()); err != nil {
		t.Errorf("logs Shutdown without Start: %v", err)
	}
}

func TestExportTracesAndLogs(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	cfg := testConfig(chtest.DSN(t, "default"), db)
	traces := startTraces(t, cfg, tel)
	logs := startLogs(t, cfg, tel)
	ctx := context.Background()

	now := time.Now()
	for i := range 5 {
		if err := traces.ConsumeTraces(ctx, ingesttest.NumberedTraces(uint64(i*20), 20, services, now)); err != nil {
			t.Fatal(err)
		}
		if err := logs.ConsumeLogs(ctx, ingesttest.NumberedLogs(uint64(i*10), 10, "order", now)); err != nil {
			t.Fatal(err)
		}
	}
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans", 100)
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".logs", 50)
	// 25 traces of 4 spans alternating gateway/order: 3 cross-service calls
	// each.
	ingesttest.WaitCount(t, conn, "SELECT sum(Calls) FROM "+db+".service_edges_1m", 75)

	want := ingesttest.NumberedTraces(40, ingesttest.SpansPerTrace, services, now)
	got, err := readerOf(t, conn, db).GetTrace(ctx, ingesttest.TraceID(40))
	if err != nil {
		t.Fatal(err)
	}
	if got.SpanCount() != want.SpanCount() {
		t.Errorf("trace read back with %d spans, want %d", got.SpanCount(), want.SpanCount())
	}

	// Metrics are recorded after the insert returns; give the last one a moment.
	deadline := time.Now().Add(10 * time.Second)
	for sumMetric(t, tel, metricRowsWritten, attribute.String("table", "logs")) < 50 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range []struct {
		name  string
		match []attribute.KeyValue
		want  int64
	}{
		{metricRowsWritten, []attribute.KeyValue{attribute.String("table", "spans")}, 100},
		{metricRowsWritten, []attribute.KeyValue{attribute.String("table", "logs")}, 50},
		{metricRowsWritten, []attribute.KeyValue{attribute.String("table", "service_edge_events")}, 75},
	} {
		if got := sumMetric(t, tel, c.name, c.match...); got != c.want {
			t.Errorf("%s%v = %d, want %d", c.name, c.match, got, c.want)
		}
	}
	okBatches := sumMetric(t, tel, metricBatches, attribute.String("signal", "traces"), attribute.String("outcome", "ok"))
	if okBatches < 1 || okBatches > 5 {
		t.Errorf("%d successful trace batches for 5 requests, want 1..5 (the queue batches them)", okBatches)
	}
	if n := sumMetric(t, tel, metricInsertDuration, attribute.String("signal", "traces")); n != okBatches {
		t.Errorf("insert_duration has %d observations, want one per batch (%d)", n, okBatches)
	}
	if n := sumMetric(t, tel, metricBytes, attribute.String("signal", "traces")); n <= 0 {
		t.Errorf("bytes = %d, want > 0", n)
	}
	if n := sumMetric(t, tel, metricFailures); n != 0 {
		t.Errorf("%d failures, want 0", n)
	}
}

// While ClickHouse is down the exporter starts anyway and exports fail
// with retryable errors; once it is back the schema is created and data
// flows.
func TestClickHouseDownIsRetryable(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	proxy := ingesttest.StartFaultProxy(t, chtest.Server(t).Addr())
	proxy.SetMode(ingesttest.Refuse)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	traces := startTraces(t, synchronous(testConfig(proxy.DSN("default"), db)), tel)

	ctx := context.Background()
	err := traces.ConsumeTraces(ctx, ingesttest.NumberedTraces(0, 4, services, time.Now()))
	if err == nil || consumererror.IsPermanent(err) {
		t.Fatalf("ConsumeTraces with ClickHouse down: %v, want a retryable error", err)
	}
	if n := sumMetric(t, tel, metricFailures, attribute.String("kind", "retryable")); n < 1 {
		t.Errorf("retryable failures = %d, want >= 1", n)
	}

	proxy.SetMode(ingesttest.Pass)
	if err := traces.ConsumeTraces(ctx, ingesttest.NumberedTraces(0, 4, services, time.Now())); err != nil {
		t.Fatalf("ConsumeTraces after ClickHouse came back: %v", err)
	}
	if n := ingesttest.Count(t, conn, "SELECT count() FROM "+db+".spans"); n != 4 {
		t.Errorf("%d spans stored, want 4", n)
	}
}

// With the sending queue full (ClickHouse hangs), the exporter answers
// RESOURCE_EXHAUSTED with a retry delay rather than a bare "queue is full";
// everything it accepted is stored once ClickHouse answers again.
func TestQueueFullIsResourceExhausted(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	proxy := ingesttest.StartFaultProxy(t, chtest.Server(t).Addr())
	cfg := testConfig(proxy.DSN("default"), db)
	cfg.RetryConfig.Enabled = false
	cfg.QueueFullRetryAfter = 3 * time.Second
	q := cfg.QueueConfig.Get()
	q.Sizer = exporterhelper.RequestSizerTypeRequests
	q.QueueSize = 1
	q.NumConsumers = 1
	q.Batch = configoptional.None[exporterhelper.BatchConfig]()
	traces := startTraces(t, cfg, nil) // the schema is created through the proxy

	proxy.SetMode(ingesttest.Stall)
	ctx := context.Background()
	accepted := 0
	var full error
	for i := 0; i < 5 && full == nil; i++ {
		err := traces.ConsumeTraces(ctx, ingesttest.NumberedTraces(uint64(i*4), 4, services, time.Now()))
		switch {
		case err == nil:
			accepted++
			if accepted == 1 && !proxy.WaitStalled(1, 30*time.Second) {
				t.Fatal("the first batch never reached ClickHouse")
			}
		default:
			full = err
		}
	}
	if full == nil {
		t.Fatalf("5 batches accepted by a queue of 1 with ClickHouse stalled")
	}
	if !errors.Is(full, exporterhelper.ErrQueueIsFull) {
		t.Errorf("error %v does not match ErrQueueIsFull", full)
	}
	st, ok := status.FromError(full)
	if !ok || st.Code() != codes.ResourceExhausted {
		t.Fatalf("queue full: %v, want gRPC status RESOURCE_EXHAUSTED", full)
	}
	if delay := ingesttest.RetryDelay(st); delay != 3*time.Second {
		t.Errorf("RetryInfo delay %v, want the configured 3s", delay)
	}

	proxy.SetMode(ingesttest.Pass)
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans", uint64(4*accepted))
}
