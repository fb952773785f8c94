package collector

import (
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// The shipped all-in-one configuration bounds its queue on disk by bytes:
// with ClickHouse hanging, senders are answered 200 until the budget is
// full, then 429 with Retry-After; nothing they were told was accepted is
// dropped, and it is all stored once ClickHouse answers again.
func TestQueueDiskBudget(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	proxy := ingesttest.StartFaultProxy(t, chtest.Server(t).Addr())
	ep := newEndpoints(t)
	queue := filepath.Join(t.TempDir(), "queue")
	const budget = 64 << 10 // bytes: a few requests of 50 spans
	p, err := StartPipeline(t.Context(), PipelineSettings{
		Logger: testLogger(t),
		Overrides: []string{
			"yaml:exporters::tracehouse::endpoint: " + proxy.DSN(db),
			"yaml:receivers::otlp::protocols::grpc::endpoint: " + ep.grpc,
			"yaml:receivers::otlp::protocols::http::endpoint: " + ep.http,
			"yaml:receivers::jsonl::endpoint: " + ep.jsonl,
			"yaml:extensions::health_check::endpoint: " + freeAddr(t),
			"yaml:service::telemetry::metrics::level: none",
			"yaml:extensions::file_storage/queue::directory: " + queue,
			"yaml:extensions::file_storage/queue::compaction::directory: " + queue,
			"yaml:exporters::tracehouse::sending_queue::queue_size: " + strconv.Itoa(budget),
			"yaml:exporters::tracehouse::sending_queue::batch::flush_timeout: 50ms",
			"yaml:exporters::tracehouse::sending_queue::batch::min_size: 50",
			"yaml:exporters::tracehouse::queue_full_retry_after: 3s",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPipeline(t, p) })

	// Create the schema and store one batch while ClickHouse answers, so
	// the exporter knows its tables before the stall.
	now := time.Now()
	if code, _, body := postOTLP(t, ep.http, "/v1/traces", "application/x-protobuf", tracesProto(t, ingesttest.NumberedTraces(1, 50, []string{"gateway"}, now))); code != http.StatusOK {
		t.Fatalf("first request: %d %s", code, body)
	}
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans", 50)

	proxy.SetMode(ingesttest.Stall)
	accepted := 1
	for i := 1; ; i++ {
		if i > 200 {
			t.Fatalf("%d requests of 50 spans accepted into a queue of %d bytes with ClickHouse hanging", accepted, budget)
		}
		td := ingesttest.NumberedTraces(uint64(1+i*50), 50, []string{"gateway"}, now)
		code, retryAfter, body := postOTLP(t, ep.http, "/v1/traces", "application/x-protobuf", tracesProto(t, td))
		if code == http.StatusOK {
			accepted++
			continue
		}
		if code != http.StatusTooManyRequests || retryAfter != "3" {
			t.Fatalf("request %d over the budget: %d, Retry-After %q, %s; want 429 with Retry-After 3", i, code, retryAfter, body)
		}
		break
	}
	if accepted < 3 {
		t.Fatalf("only %d requests accepted before the queue was full: the budget should hold a few", accepted)
	}
	proxy.SetMode(ingesttest.Pass)
	ingesttest.WaitCount(t, conn, "SELECT uniqExact(SpanId) FROM "+db+".spans", uint64(50*accepted))
	t.Logf("%d requests of 50 spans accepted into a %d-byte queue before 429; all stored", accepted, budget)
}
