// Package otlpsink runs a real OTLP gRPC receiver (the Collector's own
// otlpreceiver) in a test and keeps what it receives in memory, so tests
// assert on exactly what a collector would get from the services.
package otlpsink

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/tracehouse/tracehouse/internal/freeport"
)

// Collector is a running receiver and the data it has received.
type Collector struct {
	// Endpoint is host:port of the gRPC receiver, for --otlp-endpoint.
	Endpoint string
	Traces   *consumertest.TracesSink
	Logs     *consumertest.LogsSink
}

// Start starts a receiver on a free loopback port; it stops when the test
// ends.
func Start(t testing.TB) *Collector {
	t.Helper()
	c := &Collector{
		Endpoint: freeLoopbackAddr(t),
		Traces:   new(consumertest.TracesSink),
		Logs:     new(consumertest.LogsSink),
	}
	factory := otlpreceiver.NewFactory()
	cfg := factory.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = c.Endpoint
	cfg.Protocols.HTTP = configoptional.None[otlpreceiver.HTTPConfig]()

	ctx := context.Background()
	set := receivertest.NewNopSettings(factory.Type())
	// Both signals share one receiver (and one gRPC server): the factory
	// keys receivers by config.
	traces, err := factory.CreateTraces(ctx, set, cfg, c.Traces)
	if err != nil {
		t.Fatalf("create OTLP trace receiver: %v", err)
	}
	logs, err := factory.CreateLogs(ctx, set, cfg, c.Logs)
	if err != nil {
		t.Fatalf("create OTLP log receiver: %v", err)
	}
	host := componenttest.NewNopHost()
	if err := traces.Start(ctx, host); err != nil {
		t.Fatalf("start OTLP receiver on %s: %v", c.Endpoint, err)
	}
	if err := logs.Start(ctx, host); err != nil {
		t.Fatalf("start OTLP receiver on %s: %v", c.Endpoint, err)
	}
	t.Cleanup(func() {
		_ = logs.Shutdown(context.Background())
		_ = traces.Shutdown(context.Background())
	})
	return c
}

// freeLoopbackAddr is a free port: the receiver does not report the port
// it bound when given ":0".
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return addr
}

// Span is a received span with the resource it came with.
type Span struct {
	ptrace.Span
	Service  string
	Resource pcommon.Map
}

// Spans is every span received so far.
func (c *Collector) Spans() []Span {
	var out []Span
	for _, td := range c.Traces.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			service := serviceName(rs.Resource())
			for _, ss := range rs.ScopeSpans().All() {
				for _, span := range ss.Spans().All() {
					out = append(out, Span{Span: span, Service: service, Resource: rs.Resource().Attributes()})
				}
			}
		}
	}
	return out
}

// LogRecord is a received log record with the resource it came with.
type LogRecord struct {
	plog.LogRecord
	Service  string
	Resource pcommon.Map
}

// LogRecords is every log record received so far.
func (c *Collector) LogRecords() []LogRecord {
	var out []LogRecord
	for _, ld := range c.Logs.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			service := serviceName(rl.Resource())
			for _, sl := range rl.ScopeLogs().All() {
				for _, rec := range sl.LogRecords().All() {
					out = append(out, LogRecord{LogRecord: rec, Service: service, Resource: rl.Resource().Attributes()})
				}
			}
		}
	}
	return out
}

func serviceName(res pcommon.Resource) string {
	if v, ok := res.Attributes().Get("service.name"); ok {
		return v.Str()
	}
	return ""
}
