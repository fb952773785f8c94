package collector

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

const ingestToken = "s3cret-t0ken"

// tokenCase is one column of the auth matrix: what a sender presents.
type tokenCase struct {
	name, token string // token "" sends no credentials
	ok          bool
}

var tokenCases = []tokenCase{
	{"none", "", false},
	{"wrong", "guess", false},
	{"right", ingestToken, true},
}

// sendTracesGRPC exports one span of service through the OTel SDK's OTLP
// gRPC exporter and returns the gRPC code of its answer.
func sendTracesGRPC(t *testing.T, addr, service, token string) codes.Code {
	t.Helper()
	opts := []otlptracegrpc.Option{
		otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
	}
	if token != "" {
		opts = append(opts, otlptracegrpc.WithHeaders(map[string]string{"authorization": "Bearer " + token}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	now := time.Now()
	span := tracetest.SpanStub{
		Name: "auth-check",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID(ingesttest.TraceID(7)),
			SpanID:  trace.SpanID(ingesttest.SpanID(1)), TraceFlags: trace.FlagsSampled,
		}),
		StartTime: now.Add(-time.Second), EndTime: now,
		Resource: resource.NewSchemaless(attribute.String("service.name", service)),
	}
	return status.Code(exp.ExportSpans(ctx, []sdktrace.ReadOnlySpan{span.Snapshot()}))
}

// postWithToken posts body and returns the HTTP status.
func postWithToken(t *testing.T, url, contentType, token string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func oneLog(service string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	rec := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	rec.Body().SetStr("auth check")
	rec.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	return ld
}

func oneSpanJSON(t *testing.T, service string) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName("auth-check")
	now := time.Now()
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Second)))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	span.SetTraceID(ingesttest.TraceID(8))
	span.SetSpanID(ingesttest.SpanID(2))
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkAuthMatrix sends through OTLP gRPC (traces, the SDK's exporter),
// OTLP HTTP (logs as protobuf, traces as JSON) and JSON-lines with no
// token, a wrong one and the right one: the first two are refused
// (UNAUTHENTICATED, 401) and only the right token's data is stored. Each
// request names its own service (prefix-transport-case) so the stored rows
// say which got in.
func checkAuthMatrix(t *testing.T, ep endpoints, db, prefix string) {
	conn := chtest.ConnTo(t, db)
	var spanServices, logServices []string
	for _, c := range tokenCases {
		svc := func(transport string) string { return prefix + "-" + transport + "-" + c.name }
		wantHTTP, wantGRPC := http.StatusUnauthorized, codes.Unauthenticated
		if c.ok {
			wantHTTP, wantGRPC = http.StatusOK, codes.OK
			spanServices = append(spanServices, svc("grpc"), svc("http"))
			logServices = append(logServices, svc("http"), svc("jsonl"))
		}
		if got := sendTracesGRPC(t, ep.grpc, svc("grpc"), c.token); got != wantGRPC {
			t.Errorf("%s token, OTLP gRPC: %v, want %v", c.name, got, wantGRPC)
		}
		if got := postWithToken(t, "http://"+ep.http+"/v1/traces", "application/json", c.token, oneSpanJSON(t, svc("http"))); got != wantHTTP {
			t.Errorf("%s token, OTLP HTTP traces (JSON): %d, want %d", c.name, got, wantHTTP)
		}
		if got := postWithToken(t, "http://"+ep.http+"/v1/logs", "application/x-protobuf", c.token, logsProto(t, oneLog(svc("http")))); got != wantHTTP {
			t.Errorf("%s token, OTLP HTTP logs (protobuf): %d, want %d", c.name, got, wantHTTP)
		}
		line := fmt.Sprintf(`{"service":%q,"msg":"auth check"}`, svc("jsonl"))
		if got := postWithToken(t, "http://"+ep.jsonl+"/v1/logs/jsonl", "application/x-ndjson", c.token, []byte(line)); got != wantHTTP {
			t.Errorf("%s token, JSON-lines: %d, want %d", c.name, got, wantHTTP)
		}
	}
	// Everything was answered before this point: once the accepted rows
	// are in, nothing else is on its way.
	in := func(services []string) string { return "('" + strings.Join(services, "','") + "')" }
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans WHERE ServiceName IN "+in(spanServices), uint64(len(spanServices)))
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".logs WHERE ServiceName IN "+in(logServices), uint64(len(logServices)))
	if n := ingesttest.Count(t, conn, "SELECT count() FROM "+db+".spans WHERE ServiceName NOT IN "+in(spanServices)); n != 0 {
		t.Errorf("%d spans stored from requests without the right token", n)
	}
	if n := ingesttest.Count(t, conn, "SELECT count() FROM "+db+".logs WHERE ServiceName NOT IN "+in(logServices)); n != 0 {
		t.Errorf("%d log records stored from requests without the right token", n)
	}
}

// gatewayOverrides move a shipped config's listeners to free loopback
// ports and turn off its fixed-port metrics.
func gatewayOverrides(ep endpoints, health string) []string {
	return []string{
		"yaml:receivers::otlp::protocols::grpc::endpoint: " + ep.grpc,
		"yaml:receivers::otlp::protocols::http::endpoint: " + ep.http,
		"yaml:receivers::jsonl::endpoint: " + ep.jsonl,
		"yaml:extensions::health_check::endpoint: " + health,
		"yaml:service::telemetry::metrics::level: none",
		"yaml:exporters::tracehouse::sending_queue::batch::flush_timeout: 100ms",
	}
}

// startGateway runs the shipped ingest-gateway.yaml, its token read from a
// file as a deployment's secret provides it.
func startGateway(t *testing.T, db string, ep endpoints) {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(ingestToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRACEHOUSE_CLICKHOUSE", chtest.DSN(t, db))
	t.Setenv("TRACEHOUSE_QUEUE_DIR", t.TempDir())
	t.Setenv("TRACEHOUSE_INGEST_TOKEN_FILE", tokenFile)
	text, err := Config(IngestGateway)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := StartPipeline(ctx, PipelineSettings{ConfigYAML: text, Overrides: gatewayOverrides(ep, freeAddr(t)), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPipeline(t, p) })
}

// The shipped gateway requires the token on all three receivers.
func TestIngestGatewayAuthMatrix(t *testing.T) {
	db := chtest.NewDatabase(t)
	ep := newEndpoints(t)
	startGateway(t, db, ep)
	checkAuthMatrix(t, ep, db, "gateway")
}

// The gateway does not start without its token file: a missing secret is
// a failed start, not a gateway that refuses every sender. (It waits out
// the file's retries: about 10 s.)
func TestIngestGatewayNeedsItsTokenFile(t *testing.T) {
	ep := newEndpoints(t)
	t.Setenv("TRACEHOUSE_CLICKHOUSE", chtest.DSN(t, "default"))
	t.Setenv("TRACEHOUSE_QUEUE_DIR", t.TempDir())
	t.Setenv("TRACEHOUSE_INGEST_TOKEN_FILE", filepath.Join(t.TempDir(), "missing"))
	text, _ := Config(IngestGateway)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := StartPipeline(ctx, PipelineSettings{ConfigYAML: text, Overrides: gatewayOverrides(ep, freeAddr(t)), Logger: testLogger(t)})
	if err == nil {
		stopPipeline(t, p)
		t.Fatal("the gateway started without its token file")
	}
	if !strings.Contains(err.Error(), "missing") {
		t.Errorf("start error %q does not name the token file", err)
	}
}

// all-in-one with an ingest token: the same matrix on its receivers, and
// its own extensions (health_check) still run.
func TestAllInOneIngestToken(t *testing.T) {
	db := chtest.NewDatabase(t)
	ep := newEndpoints(t)
	health := freeAddr(t)
	t.Setenv("TRACEHOUSE_CLICKHOUSE", chtest.DSN(t, db))
	auth, err := AllInOneIngestAuth(ingestToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := StartPipeline(ctx, PipelineSettings{Overrides: append(gatewayOverrides(ep, health), auth...), Logger: testLogger(t)})
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
	checkAuthMatrix(t, ep, db, "allinone")
}

// Tokens reach the extension as they are: "$" is not expanded as a
// variable, quotes and YAML syntax stay text; tokens no header can carry
// are refused with a reason.
func TestAllInOneIngestAuthTokens(t *testing.T) {
	ep := newEndpoints(t)
	token := `a$b${env:HOME}"c'#:[x]`
	auth, err := AllInOneIngestAuth(token)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRACEHOUSE_CLICKHOUSE", chtest.DSN(t, "default"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := StartPipeline(ctx, PipelineSettings{Overrides: append(gatewayOverrides(ep, freeAddr(t)), auth...), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPipeline(t, p) })
	line := []byte(`{"msg":"x"}`)
	url := "http://" + ep.jsonl + "/v1/logs/jsonl"
	if got := postWithToken(t, url, "application/x-ndjson", token, line); got != http.StatusOK {
		t.Errorf("the token as given: %d, want 200", got)
	}
	if got := postWithToken(t, url, "application/x-ndjson", "a$b", line); got != http.StatusUnauthorized {
		t.Errorf("a prefix of the token: %d, want 401", got)
	}

	for _, bad := range []string{"", "two words", "tab\there", "line\nbreak", "caf\u00e9"} {
		if _, err := AllInOneIngestAuth(bad); err == nil {
			t.Errorf("token %q accepted", bad)
		}
	}
}

// The shipped agent sends TRACEHOUSE_INGEST_TOKEN to the gateway: what an
// application gives the agent (without a token, on loopback) is stored.
func TestAgentSendsTheIngestToken(t *testing.T) {
	db := chtest.NewDatabase(t)
	gw := newEndpoints(t)
	startGateway(t, db, gw)

	agent := newEndpoints(t)
	t.Setenv("TRACEHOUSE_GATEWAY", gw.grpc)
	t.Setenv(IngestTokenEnv, ingestToken)
	text, err := Config(Agent)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	overrides := gatewayOverrides(agent, freeAddr(t))
	overrides = overrides[:len(overrides)-1] // the agent has no tracehouse exporter
	p, err := StartPipeline(ctx, PipelineSettings{ConfigYAML: text, Overrides: overrides, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPipeline(t, p) })

	lines := `{"service":"through-agent","msg":"one"}` + "\n" + `{"service":"through-agent","msg":"two"}`
	if got := postWithToken(t, "http://"+agent.jsonl+"/v1/logs/jsonl", "application/x-ndjson", "", []byte(lines)); got != http.StatusOK {
		t.Fatalf("JSON-lines to the agent: %d, want 200", got)
	}
	if got := sendTracesGRPC(t, agent.grpc, "through-agent", ""); got != codes.OK {
		t.Fatalf("OTLP gRPC to the agent: %v, want OK", got)
	}
	conn := chtest.ConnTo(t, db)
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".logs WHERE ServiceName = 'through-agent'", 2)
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans WHERE ServiceName = 'through-agent'", 1)
}
