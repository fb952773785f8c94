package securitytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// What seed stores in every all-in-one, through the ingest ports and with
// the ingest token, so that "every table keeps its rows" means something:
// traces of a frontend calling a backend (spans, trace_index, red_1m,
// service edges), log records over OTLP and JSON-lines (logs).
const (
	seedTraces    = 2
	spansPerTrace = 100
	seedOTLPLogs  = 40
	seedJSONLogs  = 40
	// The secured all-in-one also gets bigLogs records of bigLogSize bytes
	// (service "big"): an NDJSON page of them is far larger than what the
	// kernel buffers for a client that stopped reading.
	bigLogs    = 400
	bigLogSize = 32 << 10
)

type seedCounts struct {
	traceIDs []string // hex
	spans    int64
	logs     int64
	at       time.Time // every seeded item is at or after it
}

func seed(t *testing.T, a *allInOne) seedCounts {
	t.Helper()
	ctx := context.Background()
	at := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	s := seedCounts{at: at}

	conn, err := grpc.NewClient(a.otlpGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if a.ingestToken != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+a.ingestToken)
	}
	for i := 0; i < seedTraces; i++ {
		td, id := frontendTrace(at.Add(time.Duration(i)*time.Second), spansPerTrace)
		if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
			t.Fatalf("seed traces over OTLP gRPC: %v", err)
		}
		s.traceIDs = append(s.traceIDs, id)
		s.spans += spansPerTrace
	}

	body, err := plogotlp.NewExportRequestFromLogs(logRecords("seed-otlp", at, seedOTLPLogs, "order placed")).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	if code, _, answer := post(t, "http://"+a.otlpHTTP+"/v1/logs", body, a.ingestHeaders("Content-Type", "application/x-protobuf")...); code != http.StatusOK {
		t.Fatalf("seed logs over OTLP HTTP: %d %s", code, answer)
	}
	s.logs += seedOTLPLogs

	a.postJSONLines(t, "seed-jsonl", at, seedJSONLogs, "payment captured")
	s.logs += seedJSONLogs
	if a.queryToken != "" { // the secured one: the DoS cases read these
		for i := 0; i < bigLogs; i += 50 {
			a.postJSONLines(t, "big", at.Add(time.Duration(i)*time.Millisecond), 50, strings.Repeat("lorem ipsum ", bigLogSize/12))
		}
		s.logs += bigLogs
	}

	// A saved view, so that saved_views has rows to lose too.
	view := []byte(`{"name":"checkout failures, last hour","route":"/search?service=frontend&error=true"}`)
	header := []string{"Content-Type", "application/json"}
	if a.queryToken != "" {
		header = append(header, "Authorization", "Bearer "+a.queryToken)
	}
	if code, _, answer := post(t, "http://"+a.query+"/api/v1/views", view, header...); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("seed a saved view: %d %s", code, answer)
	}

	waitFor(t, "seeded rows stored", func() (bool, string) {
		spans, logs := a.count(t, "SELECT count() FROM default.spans"), a.count(t, "SELECT count() FROM default.logs")
		return spans == s.spans && logs == s.logs, fmt.Sprintf("%d of %d spans, %d of %d logs", spans, s.spans, logs, s.logs)
	})
	return s
}

// ingestHeaders adds the ingest token's Authorization header, when there
// is one, to header.
func (a *allInOne) ingestHeaders(header ...string) []string {
	if a.ingestToken != "" {
		header = append(header, "Authorization", "Bearer "+a.ingestToken)
	}
	return header
}

// postJSONLines sends n records of service through the JSON-lines port.
func (a *allInOne) postJSONLines(t *testing.T, service string, at time.Time, n int, msg string) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		line, _ := json.Marshal(map[string]any{
			"time": at.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano), "level": "info",
			"service": service, "msg": fmt.Sprintf("%d %s", i, msg),
		})
		b.Write(line)
		b.WriteByte('\n')
	}
	code, _, answer := post(t, "http://"+a.jsonl+"/v1/logs/jsonl", []byte(b.String()), a.ingestHeaders("Content-Type", "application/x-ndjson")...)
	if code != http.StatusOK {
		t.Fatalf("JSON-lines %s: %d %s", service, code, answer)
	}
}

// frontendTrace is a trace of n spans (n is 1, or 5 and more): a frontend
// root calling a backend (a client span naming its peer), which does the
// rest of the work, and publishing an event a worker consumes. It returns
// the trace and its hex id.
func frontendTrace(at time.Time, n int) (ptrace.Traces, string) {
	var traceID pcommon.TraceID
	rand.Read(traceID[:])
	td := ptrace.NewTraces()
	span := func(spans ptrace.SpanSlice, name string, kind ptrace.SpanKind, parent pcommon.SpanID, start time.Time, d time.Duration) ptrace.Span {
		sp := spans.AppendEmpty()
		sp.SetTraceID(traceID)
		var id pcommon.SpanID
		rand.Read(id[:])
		sp.SetSpanID(id)
		sp.SetParentSpanID(parent)
		sp.SetName(name)
		sp.SetKind(kind)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(d)))
		return sp
	}
	resource := func(service string) ptrace.SpanSlice {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		return rs.ScopeSpans().AppendEmpty().Spans()
	}
	frontend := resource("frontend")
	total := time.Duration(n+5) * time.Millisecond
	root := span(frontend, "GET /checkout", ptrace.SpanKindServer, pcommon.SpanID{}, at, total)
	if n == 1 {
		return td, hex.EncodeToString(traceID[:])
	}
	call := span(frontend, "POST /charge", ptrace.SpanKindClient, root.SpanID(), at, total-time.Millisecond)
	call.Attributes().PutStr("peer.service", "backend")
	// An order event through a broker, so that the broker tables
	// (publishes_1m, broker_edges_1m) have rows to lose too.
	publish := span(frontend, "publish orders", ptrace.SpanKindProducer, root.SpanID(), at, time.Millisecond)
	publish.Attributes().PutStr("messaging.system", "nats")
	publish.Attributes().PutStr("messaging.destination.name", "orders")
	deliver := span(resource("worker"), "process orders", ptrace.SpanKindConsumer, publish.SpanID(), at.Add(2*time.Millisecond), time.Millisecond)
	deliver.Attributes().PutStr("messaging.system", "nats")
	deliver.Attributes().PutStr("messaging.destination.name", "orders")
	backend := resource("backend")
	for j := 0; j < n-4; j++ {
		sp := span(backend, "charge", ptrace.SpanKindServer, call.SpanID(), at.Add(time.Duration(j)*time.Millisecond), 5*time.Millisecond)
		if j%10 == 0 {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return td, hex.EncodeToString(traceID[:])
}

// logRecords are n records of service from at, one a millisecond.
func logRecords(service string, at time.Time, n int, msg string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := 0; i < n; i++ {
		r := recs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Duration(i) * time.Millisecond)))
		r.SetSeverityNumber(plog.SeverityNumberInfo)
		r.SetSeverityText("INFO")
		r.Body().SetStr(fmt.Sprintf("%d %s", i, msg))
	}
	return ld
}
