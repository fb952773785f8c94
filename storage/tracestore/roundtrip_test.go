package tracestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/testdata"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/schema"
)

var unordered = []ptracetest.CompareTracesOption{
	ptracetest.IgnoreResourceSpansOrder(), ptracetest.IgnoreScopeSpansOrder(), ptracetest.IgnoreSpansOrder(),
}

var unorderedLogs = []plogtest.CompareLogsOption{
	plogtest.IgnoreResourceLogsOrder(), plogtest.IgnoreScopeLogsOrder(), plogtest.IgnoreLogRecordsOrder(),
}

func TestColumnsFollowSchema(t *testing.T) {
	names := func(cols []namedColumn) []string {
		out := make([]string, len(cols))
		for i, c := range cols {
			out[i] = c.name
		}
		return out
	}
	if got, want := names(newSpanColumns(8).columns()), schema.SpansColumns(); !slices.Equal(got, want) {
		t.Errorf("span columns\n got %v\nwant %v", got, want)
	}
	if got, want := names(newLogColumns(8).columns()), schema.LogsColumns(); !slices.Equal(got, want) {
		t.Errorf("log columns\n got %v\nwant %v", got, want)
	}
	if got, want := names(edgeColumns(nil)), schema.ServiceEdgeEventsColumns(); !slices.Equal(got, want) {
		t.Errorf("edge columns\n got %v\nwant %v", got, want)
	}
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

func requireSameTraces(t *testing.T, want, got ptrace.Traces) {
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

func TestTraceRoundTrip(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	r := NewReader(conn, db)

	id := traceID(1)
	want := richTraces(id)
	st, err := w.WriteTracesStats(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != want.SpanCount() || st.Sanitized != 0 || st.Clamped != 0 || st.Truncated != 0 {
		t.Errorf("stats %+v, want %d rows and nothing changed", st, want.SpanCount())
	}
	if st.Bytes < 100*st.Rows { // a rich span is hundreds of bytes of Native data
		t.Errorf("stats %+v: %d bytes sent for %d spans", st, st.Bytes, st.Rows)
	}
	got, err := r.GetTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	requireSameTraces(t, want, got)

	if _, err := r.GetTrace(ctx, traceID(2)); !errors.Is(err, ErrTraceNotFound) {
		t.Errorf("GetTrace of an unknown trace: %v, want ErrTraceNotFound", err)
	}
}

func TestTraceRoundTripCollectorTestdata(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	r := NewReader(conn, db)

	want := testdata.GenerateTraces(2)
	// The second generated span has no ids; give it the first one's trace.
	spans := want.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	spans.At(1).SetTraceID(spans.At(0).TraceID())
	spans.At(1).SetSpanID(spanID(9))
	if err := w.WriteTraces(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := r.GetTrace(ctx, spans.At(0).TraceID())
	if err != nil {
		t.Fatal(err)
	}
	requireSameTraces(t, want, got)
}

// richLogs has one record per body type, in two services.
func richLogs(id pcommon.TraceID) plog.Logs {
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
			putEveryType(m, "body.")
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
		rec.SetTimestamp(ts(time.Duration(i) * time.Millisecond))
		rec.SetObservedTimestamp(ts(time.Duration(i)*time.Millisecond + time.Microsecond))
		rec.SetTraceID(id)
		rec.SetSpanID(spanID(byte(i)))
		rec.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
		rec.SetSeverityNumber(plog.SeverityNumber(1 + i*3))
		rec.SetSeverityText(fmt.Sprintf("LEVEL%d", i))
		rec.SetEventName(fmt.Sprintf("event.%d", i))
		rec.Attributes().PutInt("index", int64(i))
		putEveryType(rec.Attributes(), "attr.")
		rec.SetDroppedAttributesCount(uint32(i))
		body(rec.Body())
	}
	other := ld.ResourceLogs().AppendEmpty()
	other.Resource().Attributes().PutStr("service.name", "auth")
	rec := other.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	rec.SetTimestamp(ts(time.Second))
	rec.SetTraceID(id)
	rec.Body().SetStr("token issued")
	return ld
}

func TestLogsRoundTrip(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	r := NewReader(conn, db)

	id := traceID(3)
	want := richLogs(id)
	if err := w.WriteLogs(ctx, want); err != nil {
		t.Fatal(err)
	}
	// Records of a trace without spans: no trace_index row, so no time range.
	got, err := r.GetLogs(ctx, LogFilter{TraceID: id})
	if err != nil {
		t.Fatal(err)
	}
	if err := plogtest.CompareLogs(want, got, unorderedLogs...); err != nil {
		t.Fatalf("logs read back differ: %v", err)
	}
	wantFlags := want.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Flags()
	for _, rl := range got.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, rec := range sl.LogRecords().All() {
				if rec.Body().Str() == "token issued" {
					continue
				}
				if rec.Flags() != wantFlags {
					t.Errorf("record %q: flags %v, want %v", rec.EventName(), rec.Flags(), wantFlags)
				}
			}
		}
	}

	// With spans of the trace stored, the trace's range bounds the search.
	if err := w.WriteTraces(ctx, richTraces(id)); err != nil {
		t.Fatal(err)
	}
	got, err = r.GetLogs(ctx, LogFilter{TraceID: id, ServiceName: "auth"})
	if err != nil {
		t.Fatal(err)
	}
	if got.LogRecordCount() != 1 {
		t.Errorf("logs of service auth in trace: %d records, want 1", got.LogRecordCount())
	}
	got, err = r.GetLogs(ctx, LogFilter{Start: baseTime, End: baseTime.Add(3 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if got.LogRecordCount() != 3 {
		t.Errorf("logs in [0ms, 3ms): %d records, want 3", got.LogRecordCount())
	}
}

func TestLogsRoundTripCollectorTestdata(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	r := NewReader(conn, db)

	want := testdata.GenerateLogs(4)
	if err := w.WriteLogs(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := r.GetLogs(ctx, LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := plogtest.CompareLogs(want, got, unorderedLogs...); err != nil {
		t.Fatalf("logs read back differ: %v", err)
	}
}

// A record without Timestamp is stored at its ObservedTimestamp, so that
// time-range searches find it.
func TestLogWithoutTimestampUsesObserved(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	ld := plog.NewLogs()
	rec := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	rec.SetObservedTimestamp(ts(0))
	rec.Body().SetStr("no timestamp")
	if err := w.WriteLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	got, err := NewReader(conn, db).GetLogs(ctx, LogFilter{Start: baseTime, End: baseTime.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if got.LogRecordCount() != 1 {
		t.Fatalf("%d records in the observed time's range, want 1", got.LogRecordCount())
	}
	if g := got.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Timestamp(); g != ts(0) {
		t.Errorf("Timestamp read back %v, want the observed time %v", g, ts(0))
	}
}

// TestRoundTripLaterBatches: a writer's first batch declares the types
// DESCRIBE TABLE gave; later ones declare attribute string values as plain
// String (see Writer.wireType) and the server converts them. Every batch
// must store every field.
// TestRoundTripLaterBatches writes several batches with one writer, over
// both ways of sending: the writer's own reused Native blocks (HTTP) and
// clickhouse-go's batch API (what the native protocol uses; it works over
// HTTP too). A reused block that kept rows of the batch before would show
// as extra rows.
func TestRoundTripLaterBatches(t *testing.T) {
	for _, native := range []bool{false, true} {
		t.Run(map[bool]string{false: "own blocks", true: "batch API"}[native], func(t *testing.T) {
			conn, db := newStore(t)
			ctx := context.Background()
			w := NewWriter(conn, Options{Database: db, NativeProtocol: native})
			r := NewReader(conn, db)

			ids := []pcommon.TraceID{traceID(4), traceID(5), traceID(6)}
			var spans, records int
			for i, id := range ids {
				want := richTraces(id)
				if i == 1 { // a smaller batch after a larger one
					want.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
						svc, _ := rs.Resource().Attributes().Get("service.name")
						return svc.Str() == "order"
					})
				}
				spans += want.SpanCount()
				if err := w.WriteTraces(ctx, want); err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				got, err := r.GetTrace(ctx, id)
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				requireSameTraces(t, want, got)

				wantLogs := richLogs(id)
				records += wantLogs.LogRecordCount()
				if err := w.WriteLogs(ctx, wantLogs); err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				gotLogs, err := r.GetLogs(ctx, LogFilter{TraceID: id})
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				if err := plogtest.CompareLogs(wantLogs, gotLogs, unorderedLogs...); err != nil {
					t.Fatalf("batch %d: logs read back differ: %v", i, err)
				}
			}
			for table, want := range map[string]int{"spans": spans, "logs": records} {
				var n uint64
				if err := conn.QueryRow(ctx, "SELECT count() FROM `"+db+"`."+table).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if int(n) != want {
					t.Errorf("%s: %d rows after %d batches, want %d", table, n, len(ids), want)
				}
			}
			for _, ti := range []*tableInsert{&w.spans, &w.logs} {
				types := ti.types.Load()
				if types == nil {
					t.Fatalf("%s: no column types remembered", ti.table)
				}
				for _, c := range types.cols {
					if c.Name == "AttrStr" && c.Type != "Map(LowCardinality(String), String)" {
						t.Errorf("%s: AttrStr is sent as %s, want plain String values", ti.table, c.Type)
					}
				}
			}
			if !native {
				c := w.spanPool.get()
				if c.block.block == nil || c.block.types != w.spans.types.Load() {
					t.Errorf("the pooled span buffers do not keep the block of the last batch")
				}
			}
		})
	}
}

// TestServerThatDoesNotConvert: a server that refuses blocks declaring
// plain String attribute values (input_format_native_allow_types_conversion
// turned off) fails one insert with an error worth retrying; the retry,
// and every batch after it, declares the table's own types.
func TestServerThatDoesNotConvert(t *testing.T) {
	_, db := newStore(t)
	refusing := []byte("\x07AttrStr\x23" + plainValuesMap)
	var refused atomic.Int64
	target, _ := url.Parse("http://" + chtest.Server(t).Addr())
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, refusing) {
			refused.Add(1)
			w.Header().Set("X-ClickHouse-Exception-Code", "53")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "Code: 53. DB::Exception: Type mismatch for column AttrStr. (TYPE_MISMATCH)")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	conn, err := storage.Open(context.Background(), srv.URL+"/"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	r := NewReader(conn, db)

	ids := []pcommon.TraceID{traceID(7), traceID(8), traceID(9)}
	for i, id := range ids {
		want := richTraces(id)
		err := w.WriteTraces(ctx, want)
		if i == 0 { // the first batch declares converted types
			if err == nil || errors.Is(err, ErrInvalidData) {
				t.Fatalf("batch %d through a server that does not convert: %v, want an error worth retrying", i, err)
			}
			var ex *clickhouse.Exception
			if errors.As(err, &ex) {
				t.Errorf("batch %d: the refusal surfaces as a ClickHouse exception (%v), which callers may treat as permanent", i, err)
			}
			err = w.WriteTraces(ctx, want) // the retry
		}
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		got, err := r.GetTrace(ctx, id)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		requireSameTraces(t, want, got)
	}
	if n := refused.Load(); n != 1 {
		t.Errorf("the server refused %d inserts, want 1", n)
	}
}
