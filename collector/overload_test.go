package collector

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// With ClickHouse hanging and the sending queue full, the OTLP receiver
// tells senders to back off: HTTP 429 with Retry-After, gRPC
// RESOURCE_EXHAUSTED with RetryInfo. (otlpreceiver on its own answers a
// full queue with 503/UNAVAILABLE and no delay; the tracehouse exporter
// turns exporterhelper.ErrQueueIsFull into the throttling status.) What
// was accepted is stored once ClickHouse answers again.
func TestOverloadAnswersResourceExhausted(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	proxy := ingesttest.StartFaultProxy(t, chtest.Server(t).Addr())
	ep := newEndpoints(t)
	startPipeline(t, testConfig(ep, proxy.DSN("default"), db, `
    timeout: 120s
    queue_full_retry_after: 2s
    retry_on_failure:
      enabled: false
    sending_queue:
      sizer: requests
      queue_size: 1
      num_consumers: 1
      batch:
        enabled: false`, ""))

	proxy.SetMode(ingesttest.Stall) // ClickHouse hangs from now on
	services := []string{"gateway", "order"}
	now := time.Now()
	accepted := 0
	throttled := false
	for i := 0; i < 10 && !throttled; i++ {
		td := ingesttest.NumberedTraces(uint64(i*4), 4, services, now)
		code, retryAfter, body := postOTLP(t, ep.http, "/v1/traces", "application/x-protobuf", tracesProto(t, td))
		switch code {
		case http.StatusOK:
			accepted++
			if accepted == 1 && !proxy.WaitStalled(1, 60*time.Second) {
				t.Fatal("the first batch never reached ClickHouse")
			}
		case http.StatusTooManyRequests:
			throttled = true
			if retryAfter != "2" {
				t.Errorf("Retry-After %q, want 2", retryAfter)
			}
			var st spb.Status
			if err := proto.Unmarshal(body, &st); err != nil || codes.Code(st.GetCode()) != codes.ResourceExhausted {
				t.Errorf("429 body: %v %v, want a RESOURCE_EXHAUSTED status", &st, err)
			}
		default:
			t.Fatalf("request %d: %d %s, want 200 or 429", i, code, body)
		}
	}
	if !throttled {
		t.Fatalf("%d requests accepted by a queue of 1 with ClickHouse hanging", accepted)
	}

	// gRPC senders get RESOURCE_EXHAUSTED and the delay.
	client := ptraceotlp.NewGRPCClient(grpcConn(t, ep.grpc))
	_, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(
		ingesttest.NumberedTraces(1000, 4, services, now)))
	st, _ := status.FromError(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("gRPC export to a full queue: %v, want RESOURCE_EXHAUSTED", err)
	}
	if delay := ingesttest.RetryDelay(st); delay != 2*time.Second {
		t.Errorf("gRPC RetryInfo delay %v, want 2s", delay)
	}

	proxy.SetMode(ingesttest.Pass)
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans", uint64(4*accepted))
}
