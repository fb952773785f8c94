package collector

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tracehouse/tracehouse/internal/freeport"
)

// freeAddr is a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// endpoints are where a test collector listens.
type endpoints struct{ grpc, http, jsonl string }

func newEndpoints(t *testing.T) endpoints {
	return endpoints{grpc: freeAddr(t), http: freeAddr(t), jsonl: freeAddr(t)}
}

// testConfig is a collector config: OTLP and JSON-lines in, the tracehouse
// exporter (with exporterYAML appended, indented 4 spaces) out. extensions
// is a YAML block of extensions, indented 2 spaces, all of them enabled.
func testConfig(ep endpoints, dsn, db, exporterYAML, extensions string, extensionNames ...string) string {
	ext := "{}"
	if extensions != "" {
		ext = "\n" + extensions
	}
	return fmt.Sprintf(`
extensions: %s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
  jsonl:
    endpoint: %s
exporters:
  tracehouse:
    endpoint: %s
    database: %s
%s
service:
  extensions: [%s]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [tracehouse]
    logs:
      receivers: [otlp, jsonl]
      exporters: [tracehouse]
  telemetry:
    metrics:
      level: none
`, ext, ep.grpc, ep.http, ep.jsonl, dsn, db, exporterYAML, strings.Join(extensionNames, ", "))
}

// testLogger shows the collector's warnings and errors in the test output.
// TRACEHOUSE_TEST_LOG=debug shows everything.
func testLogger(t *testing.T) zerolog.Logger {
	level := zerolog.WarnLevel
	if l, err := zerolog.ParseLevel(os.Getenv("TRACEHOUSE_TEST_LOG")); err == nil && l != zerolog.NoLevel {
		level = l
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, NoColor: true}).Level(level).
		With().Str("test", t.Name()).Timestamp().Logger()
}

func startPipeline(t *testing.T, yaml string) *Pipeline {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := StartPipeline(ctx, PipelineSettings{ConfigYAML: yaml, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPipeline(t, p) })
	return p
}

func stopPipeline(t *testing.T, p *Pipeline) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Errorf("collector shutdown: %v", err)
	}
}

// postOTLP sends body to an OTLP/HTTP path and returns the status, the
// Retry-After header and the body.
func postOTLP(t *testing.T, addr, path, contentType string, body []byte) (int, string, []byte) {
	t.Helper()
	res, err := httpClient.Post("http://"+addr+path, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Retry-After"), out
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func tracesProto(t *testing.T, td ptrace.Traces) []byte {
	t.Helper()
	b, err := ptraceBody(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ptraceBody is the OTLP/protobuf request body of td.
func ptraceBody(td ptrace.Traces) ([]byte, error) {
	return ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
}

// postOnce posts an OTLP/protobuf traces body; err is set when no answer
// came (connection refused or reset: the collector is restarting).
func postOnce(addr string, body []byte) (int, error) {
	res, err := httpClient.Post("http://"+addr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

func logsProto(t *testing.T, ld plog.Logs) []byte {
	t.Helper()
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func grpcConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
