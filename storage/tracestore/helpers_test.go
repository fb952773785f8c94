package tracestore

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/schema"
)

func TestMain(m *testing.M) { chtest.Main(m) }

// newStore creates a fresh database with the schema (no TTL, so fixed test
// timestamps from 2020 are kept) and returns its connection and name.
func newStore(t testing.TB) (driver.Conn, string) {
	t.Helper()
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	if _, err := schema.Migrate(context.Background(), conn, schema.Options{Database: db}); err != nil {
		t.Fatal(err)
	}
	return conn, db
}

func count(t testing.TB, conn driver.Conn, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

var baseTime = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func ts(offset time.Duration) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(baseTime.Add(offset))
}

func traceID(b byte) pcommon.TraceID {
	return pcommon.TraceID{0xaa, b, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, b}
}

func spanID(b byte) pcommon.SpanID { return pcommon.SpanID{0xbb, 1, 2, 3, 4, 5, 6, b} }

// putEveryType puts one attribute of every OTLP value type into m.
func putEveryType(m pcommon.Map, prefix string) {
	m.PutStr(prefix+"str", "value with ünïcode and \"quotes\"\n")
	m.PutStr(prefix+"empty.str", "")
	m.PutInt(prefix+"int", -9007199254740993)
	m.PutDouble(prefix+"double", 3.141592653589793)
	m.PutDouble(prefix+"double.int", 2)
	m.PutBool(prefix+"bool.true", true)
	m.PutBool(prefix+"bool.false", false)
	m.PutEmpty(prefix + "empty")
	m.PutEmptyBytes(prefix + "bytes").FromRaw([]byte{0, 1, 2, 0xff})
	s := m.PutEmptySlice(prefix + "slice")
	s.AppendEmpty().SetInt(1)
	s.AppendEmpty().SetStr("two")
	s.AppendEmpty().SetDouble(3.5)
	s.AppendEmpty().SetEmptySlice()
	nested := s.AppendEmpty().SetEmptyMap()
	nested.PutBool("deep", true)
	nested.PutEmptyMap("deeper").PutStr("k", "v")
	kv := m.PutEmptyMap(prefix + "map")
	kv.PutStr("a", "b")
	kv.PutInt("n", 42)
	kv.PutEmptyMap("empty")
}

// richTraces is a trace across two services with every span field set.
func richTraces(id pcommon.TraceID) ptrace.Traces {
	td := ptrace.NewTraces()

	gw := td.ResourceSpans().AppendEmpty()
	gw.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	gw.Resource().Attributes().PutStr("service.name", "gateway")
	gw.Resource().Attributes().PutInt("process.pid", 4242)
	gw.Resource().Attributes().PutBool("debug", true)
	gw.Resource().Attributes().PutDouble("sample.ratio", 0.25)
	gw.Resource().Attributes().PutEmptySlice("host.ips").AppendEmpty().SetStr("10.0.0.1")
	gw.Resource().SetDroppedAttributesCount(3)
	ss := gw.ScopeSpans().AppendEmpty()
	ss.SetSchemaUrl("https://opentelemetry.io/schemas/1.25.0")
	ss.Scope().SetName("net/http")
	ss.Scope().SetVersion("v1.2.3")
	ss.Scope().Attributes().PutStr("scope.attr", "x")
	ss.Scope().Attributes().PutInt("scope.int", 7)
	ss.Scope().SetDroppedAttributesCount(1)

	root := ss.Spans().AppendEmpty()
	root.SetTraceID(id)
	root.SetSpanID(spanID(1))
	root.SetName("GET /orders")
	root.SetKind(ptrace.SpanKindServer)
	root.SetStartTimestamp(ts(0))
	root.SetEndTimestamp(ts(250 * time.Millisecond))
	root.TraceState().FromRaw("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
	root.SetFlags(0x301)
	root.Status().SetCode(ptrace.StatusCodeError)
	root.Status().SetMessage("upstream failed")
	putEveryType(root.Attributes(), "")
	root.SetDroppedAttributesCount(5)
	ev := root.Events().AppendEmpty()
	ev.SetName("exception")
	ev.SetTimestamp(ts(200 * time.Millisecond))
	ev.Attributes().PutStr("exception.type", "io.EOF")
	ev.Attributes().PutInt("retry", 2)
	ev.Attributes().PutDouble("backoff", 1.5)
	ev.Attributes().PutBool("fatal", false)
	ev.Attributes().PutEmptyMap("ctx").PutStr("k", "v")
	ev.SetDroppedAttributesCount(1)
	ev2 := root.Events().AppendEmpty()
	ev2.SetName("no attributes")
	ev2.SetTimestamp(ts(210 * time.Millisecond))
	root.SetDroppedEventsCount(2)
	link := root.Links().AppendEmpty()
	link.SetTraceID(traceID(0x77))
	link.SetSpanID(spanID(0x77))
	link.TraceState().FromRaw("vendor=1")
	link.SetFlags(1)
	putEveryType(link.Attributes(), "link.")
	link.SetDroppedAttributesCount(4)
	link2 := root.Links().AppendEmpty()
	link2.SetTraceID(traceID(0x78))
	link2.SetSpanID(spanID(0x78))
	root.SetDroppedLinksCount(6)

	client := ss.Spans().AppendEmpty()
	client.SetTraceID(id)
	client.SetSpanID(spanID(2))
	client.SetParentSpanID(spanID(1))
	client.SetName("POST order")
	client.SetKind(ptrace.SpanKindClient)
	client.SetStartTimestamp(ts(10 * time.Millisecond))
	client.SetEndTimestamp(ts(240 * time.Millisecond))
	client.Status().SetCode(ptrace.StatusCodeOk)

	// A second scope of the same resource, without a name.
	ss2 := gw.ScopeSpans().AppendEmpty()
	internal := ss2.Spans().AppendEmpty()
	internal.SetTraceID(id)
	internal.SetSpanID(spanID(3))
	internal.SetParentSpanID(spanID(1))
	internal.SetName("render")
	internal.SetKind(ptrace.SpanKindInternal)
	internal.SetStartTimestamp(ts(241 * time.Millisecond))
	internal.SetEndTimestamp(ts(249 * time.Millisecond))

	order := td.ResourceSpans().AppendEmpty()
	order.Resource().Attributes().PutStr("service.name", "order")
	os := order.ScopeSpans().AppendEmpty()
	os.Scope().SetName("tracehouse/order")
	server := os.Spans().AppendEmpty()
	server.SetTraceID(id)
	server.SetSpanID(spanID(4))
	server.SetParentSpanID(spanID(2))
	server.SetName("POST /orders")
	server.SetKind(ptrace.SpanKindServer)
	server.SetStartTimestamp(ts(20 * time.Millisecond))
	server.SetEndTimestamp(ts(230 * time.Millisecond))
	server.Status().SetCode(ptrace.StatusCodeError)
	for _, k := range []ptrace.SpanKind{ptrace.SpanKindProducer, ptrace.SpanKindConsumer} {
		s := os.Spans().AppendEmpty()
		s.SetTraceID(id)
		s.SetSpanID(spanID(byte(10 + k)))
		s.SetParentSpanID(spanID(4))
		s.SetName("queue " + k.String())
		s.SetKind(k)
		s.SetStartTimestamp(ts(30 * time.Millisecond))
		s.SetEndTimestamp(ts(31 * time.Millisecond))
	}
	return td
}
