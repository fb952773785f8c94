// Package storetest holds the fixtures and checks the tests of the storage
// packages share: a fresh database with the schema, traces and logs with
// every OTLP field set, and a comparison that also checks what ptracetest
// does not (flags).
package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/schema"
)

var unordered = []ptracetest.CompareTracesOption{
	ptracetest.IgnoreResourceSpansOrder(), ptracetest.IgnoreScopeSpansOrder(), ptracetest.IgnoreSpansOrder(),
}

// UnorderedLogs compares logs whatever the order of resources, scopes and
// records (the reader groups them its own way).
var UnorderedLogs = []plogtest.CompareLogsOption{
	plogtest.IgnoreResourceLogsOrder(), plogtest.IgnoreScopeLogsOrder(), plogtest.IgnoreLogRecordsOrder(),
}

// NewStore creates a fresh database with the schema (no TTL, so the
// fixtures' fixed timestamps are kept however old they get) and returns its
// connection and name.
func NewStore(t testing.TB) (driver.Conn, string) {
	t.Helper()
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	if _, err := schema.Migrate(context.Background(), conn, schema.Options{Database: db}); err != nil {
		t.Fatal(err)
	}
	return conn, db
}

// Count runs a query that returns one count.
func Count(t testing.TB, conn driver.Conn, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// BaseTime is the fixtures' time: TS(0).
var BaseTime = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// TS is BaseTime plus offset.
func TS(offset time.Duration) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(BaseTime.Add(offset))
}

// TraceID is fixture trace b.
func TraceID(b byte) pcommon.TraceID {
	return pcommon.TraceID{0xaa, b, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, b}
}

// SpanID is fixture span b.
func SpanID(b byte) pcommon.SpanID { return pcommon.SpanID{0xbb, 1, 2, 3, 4, 5, 6, b} }

// PutEveryType puts one attribute of every OTLP value type into m.
func PutEveryType(m pcommon.Map, prefix string) {
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

// RichTraces is a trace across two services with every span field set.
func RichTraces(id pcommon.TraceID) ptrace.Traces {
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
	root.SetSpanID(SpanID(1))
	root.SetName("GET /orders")
	root.SetKind(ptrace.SpanKindServer)
	root.SetStartTimestamp(TS(0))
	root.SetEndTimestamp(TS(250 * time.Millisecond))
	root.TraceState().FromRaw("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
	root.SetFlags(0x301)
	root.Status().SetCode(ptrace.StatusCodeError)
	root.Status().SetMessage("upstream failed")
	PutEveryType(root.Attributes(), "")
	root.SetDroppedAttributesCount(5)
	ev := root.Events().AppendEmpty()
	ev.SetName("exception")
	ev.SetTimestamp(TS(200 * time.Millisecond))
	ev.Attributes().PutStr("exception.type", "io.EOF")
	ev.Attributes().PutInt("retry", 2)
	ev.Attributes().PutDouble("backoff", 1.5)
	ev.Attributes().PutBool("fatal", false)
	ev.Attributes().PutEmptyMap("ctx").PutStr("k", "v")
	ev.SetDroppedAttributesCount(1)
	ev2 := root.Events().AppendEmpty()
	ev2.SetName("no attributes")
	ev2.SetTimestamp(TS(210 * time.Millisecond))
	root.SetDroppedEventsCount(2)
	link := root.Links().AppendEmpty()
	link.SetTraceID(TraceID(0x77))
	link.SetSpanID(SpanID(0x77))
	link.TraceState().FromRaw("vendor=1")
	link.SetFlags(1)
	PutEveryType(link.Attributes(), "link.")
	link.SetDroppedAttributesCount(4)
	link2 := root.Links().AppendEmpty()
	link2.SetTraceID(TraceID(0x78))
	link2.SetSpanID(SpanID(0x78))
	root.SetDroppedLinksCount(6)

	client := ss.Spans().AppendEmpty()
	client.SetTraceID(id)
	client.SetSpanID(SpanID(2))
	client.SetParentSpanID(SpanID(1))
	client.SetName("POST order")
	client.SetKind(ptrace.SpanKindClient)
	client.SetStartTimestamp(TS(10 * time.Millisecond))
	client.SetEndTimestamp(TS(240 * time.Millisecond))
	client.Status().SetCode(ptrace.StatusCodeOk)

	// A second scope of the same resource, without a name.
	ss2 := gw.ScopeSpans().AppendEmpty()
	internal := ss2.Spans().AppendEmpty()
	internal.SetTraceID(id)
	internal.SetSpanID(SpanID(3))
	internal.SetParentSpanID(SpanID(1))
	internal.SetName("render")
	internal.SetKind(ptrace.SpanKindInternal)
	internal.SetStartTimestamp(TS(241 * time.Millisecond))
	internal.SetEndTimestamp(TS(249 * time.Millisecond))

	order := td.ResourceSpans().AppendEmpty()
	order.Resource().Attributes().PutStr("service.name", "order")
	os := order.ScopeSpans().AppendEmpty()
	os.Scope().SetName("tracehouse/order")
	server := os.Spans().AppendEmpty()
	server.SetTraceID(id)
	server.SetSpanID(SpanID(4))
	server.SetParentSpanID(SpanID(2))
	server.SetName("POST /orders")
	server.SetKind(ptrace.SpanKindServer)
	server.SetStartTimestamp(TS(20 * time.Millisecond))
	server.SetEndTimestamp(TS(230 * time.Millisecond))
	server.Status().SetCode(ptrace.StatusCodeError)
	for _, k := range []ptrace.SpanKind{ptrace.SpanKindProducer, ptrace.SpanKindConsumer} {
		s := os.Spans().AppendEmpty()
		s.SetTraceID(id)
		s.SetSpanID(SpanID(byte(10 + k)))
		s.SetParentSpanID(SpanID(4))
		s.SetName("queue " + k.String())
		s.SetKind(k)
		s.SetStartTimestamp(TS(30 * time.Millisecond))
		s.SetEndTimestamp(TS(31 * time.Millisecond))
	}
	return td
}

// flagsOf lists span and link flags by span id; ptracetest does not compare
// flags.
func flagsOf(td ptrace.Traces) map[pcommon.SpanID][]uint32 {
	out := map[pcommon.SpanID][]uint32{}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				f := []uint32{s.Flags()}
				for _, l := range s.Links().All() {
					f = append(f, l.Flags())
				}
				out[s.SpanID()] = f
			}
		}
	}
	return out
}

// RequireSameTraces fails t when got differs from want in any field,
// ignoring the order of resources, scopes and spans.
func RequireSameTraces(t testing.TB, want, got ptrace.Traces) {
	t.Helper()
	if err := ptracetest.CompareTraces(want, got, unordered...); err != nil {
		t.Fatalf("trace read back differs from the one written: %v", err)
	}
	wf, gf := flagsOf(want), flagsOf(got)
	for id, f := range wf {
		if !slices.Equal(f, gf[id]) {
			t.Errorf("span %s: flags (span, links...) %v, read back %v", id, f, gf[id])
		}
	}
}

// RichLogs has one record per body type, in two services.
func RichLogs(id pcommon.TraceID) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	rl.Resource().Attributes().PutStr("service.name", "payment")
	rl.Resource().Attributes().PutInt("replica", 2)
	rl.Resource().SetDroppedAttributesCount(1)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("zerolog")
	sl.Scope().SetVersion("1.35.1")
	sl.Scope().Attributes().PutBool("bridge", true)
	sl.SetSchemaUrl("https://opentelemetry.io/schemas/1.25.0")

	bodies := []func(pcommon.Value){
		func(v pcommon.Value) { v.SetStr("charged card ending 4242") },
		func(v pcommon.Value) { v.SetInt(-17) },
		func(v pcommon.Value) { v.SetDouble(0.1) },
		func(v pcommon.Value) { v.SetBool(true) },
		func(v pcommon.Value) {
			m := v.SetEmptyMap()
			PutEveryType(m, "body.")
		},
		func(v pcommon.Value) {
			s := v.SetEmptySlice()
			s.AppendEmpty().SetStr("a")
			s.AppendEmpty().SetEmptyMap().PutInt("b", 1)
		},
		func(v pcommon.Value) { v.SetEmptyBytes().FromRaw([]byte("\x00binary\xff")) },
		func(pcommon.Value) {}, // empty body
	}
	for i, body := range bodies {
		rec := sl.LogRecords().AppendEmpty()
		rec.SetTimestamp(TS(time.Duration(i) * time.Millisecond))
		rec.SetObservedTimestamp(TS(time.Duration(i)*time.Millisecond + time.Microsecond))
		rec.SetTraceID(id)
		rec.SetSpanID(SpanID(byte(i)))
		rec.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
		rec.SetSeverityNumber(plog.SeverityNumber(1 + i*3))
		rec.SetSeverityText(fmt.Sprintf("LEVEL%d", i))
		rec.SetEventName(fmt.Sprintf("event.%d", i))
		rec.Attributes().PutInt("index", int64(i))
		PutEveryType(rec.Attributes(), "attr.")
		rec.SetDroppedAttributesCount(uint32(i))
		body(rec.Body())
	}
	other := ld.ResourceLogs().AppendEmpty()
	other.Resource().Attributes().PutStr("service.name", "auth")
	rec := other.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	rec.SetTimestamp(TS(time.Second))
	rec.SetTraceID(id)
	rec.Body().SetStr("token issued")
	return ld
}
