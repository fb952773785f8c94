package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/reader"
)

// The shipped all-in-one configuration starts as it is, with only the
// addresses and the DSN overridden the way the all-in-one process can.
func TestAllInOneConfigRuns(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	ep := newEndpoints(t)
	health := freeAddr(t)
	t.Setenv("TRACEHOUSE_CLICKHOUSE", chtest.DSN(t, db))
	t.Setenv("TRACEHOUSE_QUEUE_DIR", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := StartPipeline(ctx, PipelineSettings{
		Logger: testLogger(t),
		Overrides: []string{
			"yaml:receivers::otlp::protocols::grpc::endpoint: " + ep.grpc,
			"yaml:receivers::otlp::protocols::http::endpoint: " + ep.http,
			"yaml:receivers::jsonl::endpoint: " + ep.jsonl,
			"yaml:extensions::health_check::endpoint: " + health,
			"yaml:service::telemetry::metrics::level: none",
			"yaml:exporters::tracehouse::sending_queue::batch::flush_timeout: 50ms",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPipeline(t, p) })

	res, err := http.Get("http://" + health + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("health_check: %d, want 200", res.StatusCode)
	}

	// JSON-lines logs through the pipeline into ClickHouse. (Times are
	// recent: records older than the logs TTL are dropped by ClickHouse at
	// its next merge.)
	at := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Minute)
	lines := strings.Join([]string{
		`{"level":"error","service":"legacy-billing","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","error":"card declined","amount":12.5,"time":"` + at.Format(time.RFC3339Nano) + `","message":"charge failed"}`,
		`{"level":"info","service":"legacy-billing","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","msg":"retrying","attempt":2,"time":"` + at.Add(time.Millisecond).Format(time.RFC3339Nano) + `"}`,
		`not json`,
	}, "\n")
	res, err = http.Post("http://"+ep.jsonl+"/v1/logs/jsonl", "application/x-ndjson", bytes.NewReader([]byte(lines)))
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Accepted, Rejected int
		Errors             []struct{ Line int }
	}
	json.NewDecoder(res.Body).Decode(&answer)
	res.Body.Close()
	if res.StatusCode != http.StatusMultiStatus || answer.Accepted != 2 || answer.Rejected != 1 || len(answer.Errors) != 1 || answer.Errors[0].Line != 3 {
		t.Fatalf("JSON lines: %d %+v, want 207 with 2 accepted and line 3 rejected", res.StatusCode, answer)
	}
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".logs", 2)

	var id pcommon.TraceID
	copy(id[:], []byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36})
	got, err := readerOf(t, conn, db).GetLogs(context.Background(), reader.LogFilter{TraceID: id})
	if err != nil {
		t.Fatal(err)
	}
	if got.LogRecordCount() != 2 {
		t.Fatalf("%d records of the trace, want 2", got.LogRecordCount())
	}
	rl := got.ResourceLogs().At(0)
	if svc, _ := rl.Resource().Attributes().Get("service.name"); svc.Str() != "legacy-billing" {
		t.Errorf("service.name %q, want legacy-billing", svc.Str())
	}
	first := rl.ScopeLogs().At(0).LogRecords().At(0)
	exc, _ := first.Attributes().Get("exception.message")
	amount, _ := first.Attributes().Get("amount")
	if first.Body().Str() != "charge failed" || first.SeverityNumber() != plog.SeverityNumberError ||
		exc.Str() != "card declined" || amount.Double() != 12.5 || first.SpanID().String() != "00f067aa0ba902b7" ||
		!first.Timestamp().AsTime().Equal(at) {
		t.Errorf("stored record: body %q severity %v attributes %v span %s time %v",
			first.Body().AsString(), first.SeverityNumber(), first.Attributes().AsRaw(), first.SpanID(), first.Timestamp().AsTime())
	}
}
