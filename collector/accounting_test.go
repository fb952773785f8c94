package collector

import (
	"bufio"
	"context"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// promSum adds the values of the samples of metric (a Prometheus name)
// whose labels contain every one of labels ("key=\"value\"").
func promSum(t *testing.T, addr, metric string, labels ...string) float64 {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var total float64
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, _ := strings.Cut(line, "{")
		if name != metric {
			continue
		}
		labelSet, value, _ := strings.Cut(rest, "} ")
		match := true
		for _, l := range labels {
			match = match && strings.Contains(labelSet, l)
		}
		if v, err := strconv.ParseFloat(strings.Fields(value)[0], 64); err == nil && match {
			total += v
		}
	}
	return total
}

func waitProm(t *testing.T, addr, metric string, want float64, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := promSum(t, addr, metric, labels...)
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			logMetrics(t, addr)
			t.Fatalf("%s%v = %v, want %v", metric, labels, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The shipped all-in-one pipeline, sent (as OTLP/JSON) a request of 9
// spans of which one starts after 2262, the last instant ClickHouse's
// DateTime64(9) holds: it stores 8, answers 200 with partialSuccess
// saying 1 was rejected and why, and its numbers say the same: the
// receiver accepted 9, the exporter sent 8 and failed none, Tracehouse
// rejected 1. The same over gRPC, and for a log record.
func TestPartialRejectionIsCountedAndAnswered(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	ep := newEndpoints(t)
	health, metrics := freeAddr(t), freeAddr(t)
	_, metricsPort, _ := strings.Cut(metrics, ":")
	t.Setenv("TRACEHOUSE_CLICKHOUSE", chtest.DSN(t, db))
	t.Setenv("TRACEHOUSE_QUEUE_DIR", t.TempDir()) // not the shipped ./data/queue in the checkout
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := StartPipeline(ctx, PipelineSettings{
		Logger: testLogger(t),
		Overrides: []string{
			"yaml:receivers::otlp::protocols::grpc::endpoint: " + ep.grpc,
			"yaml:receivers::otlp::protocols::http::endpoint: " + ep.http,
			"yaml:receivers::jsonl::endpoint: " + ep.jsonl,
			"yaml:extensions::health_check::endpoint: " + health,
			"yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: " + metricsPort + "}}}}]",
			"yaml:exporters::tracehouse::sending_queue::batch::flush_timeout: 50ms",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPipeline(t, p) })

	now := time.Now()
	beyond := pcommon.Timestamp(math.MaxInt64) + 1 // 2262-04-11T23:47:16.854775808Z
	nine := func(first uint64) ptrace.Traces {
		td := ingesttest.NumberedTraces(first, 9, []string{"gateway", "order"}, now)
		td.ResourceSpans().At(1).ScopeSpans().At(0).Spans().At(0).SetStartTimestamp(beyond)
		return td
	}

	// OTLP/JSON over HTTP.
	body, err := (&ptrace.JSONMarshaler{}).MarshalTraces(nine(0))
	if err != nil {
		t.Fatal(err)
	}
	code, _, answer := postOTLP(t, ep.http, "/v1/traces", "application/json", body)
	if code != http.StatusOK {
		t.Fatalf("POST /v1/traces: %d %s, want 200", code, answer)
	}
	res := ptraceotlp.NewExportResponse()
	if err := res.UnmarshalJSON(answer); err != nil {
		t.Fatalf("response %s: %v", answer, err)
	}
	if ps := res.PartialSuccess(); ps.RejectedSpans() != 1 || !strings.Contains(ps.ErrorMessage(), "2262") {
		t.Errorf("partialSuccess %s, want 1 span rejected, saying why", answer)
	}
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans", 8)

	// The same over gRPC (other spans: the same ones would be one batch
	// stored twice, which its token prevents).
	grpcRes, err := ptraceotlp.NewGRPCClient(grpcConn(t, ep.grpc)).Export(ctx, ptraceotlp.NewExportRequestFromTraces(nine(100)))
	if err != nil {
		t.Fatal(err)
	}
	if ps := grpcRes.PartialSuccess(); ps.RejectedSpans() != 1 || !strings.Contains(ps.ErrorMessage(), "2262") {
		t.Errorf("gRPC partialSuccess: %d rejected, %q; want 1 span rejected, saying why", ps.RejectedSpans(), ps.ErrorMessage())
	}
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans", 16)

	// A log record, over HTTP as protobuf.
	ld := ingesttest.NumberedLogs(0, 3, "order", now)
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(2).SetTimestamp(beyond)
	code, _, answer = postOTLP(t, ep.http, "/v1/logs", "application/x-protobuf", logsProto(t, ld))
	logRes := plogotlp.NewExportResponse()
	if err := logRes.UnmarshalProto(answer); err != nil || code != http.StatusOK {
		t.Fatalf("POST /v1/logs: %d %q %v", code, answer, err)
	}
	if ps := logRes.PartialSuccess(); ps.RejectedLogRecords() != 1 || !strings.Contains(ps.ErrorMessage(), "2262") {
		t.Errorf("logs partialSuccess: %d rejected, %q; want 1 record rejected, saying why", ps.RejectedLogRecords(), ps.ErrorMessage())
	}
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".logs", 2)

	// The numbers. exporterhelper's count after the insert returns.
	waitProm(t, metrics, "otelcol_exporter_sent_spans", 16, `exporter="tracehouse"`)
	waitProm(t, metrics, "otelcol_exporter_sent_log_records", 2, `exporter="tracehouse"`)
	for _, c := range []struct {
		metric string
		labels []string
		want   float64
	}{
		{"otelcol_receiver_accepted_spans", []string{`receiver="otlp"`}, 18},
		{"otelcol_receiver_refused_spans", []string{`receiver="otlp"`}, 0},
		{"otelcol_exporter_send_failed_spans", nil, 0},
		{"otelcol_exporter_send_failed_log_records", nil, 0},
		{"tracehouse_exporter_rejected_items", []string{`signal="traces"`, `stage="admission"`}, 2},
		{"tracehouse_exporter_rejected_items", []string{`signal="logs"`, `stage="admission"`}, 1},
		{"tracehouse_exporter_rows_written", []string{`table="spans"`}, 16},
		{"tracehouse_exporter_dropped_items", nil, 0},
	} {
		if got := promSum(t, metrics, c.metric, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.metric, c.labels, got, c.want)
		}
	}
	if t.Failed() {
		logMetrics(t, metrics)
	}
}

// logMetrics logs the pipeline's item counters, to explain a failure.
func logMetrics(t *testing.T, addr string) {
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return
	}
	defer res.Body.Close()
	all, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(all), "\n") {
		if !strings.HasPrefix(line, "#") && (strings.Contains(line, "spans") || strings.Contains(line, "log_records") || strings.Contains(line, "tracehouse_")) {
			t.Log(line)
		}
	}
}
