package writer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/reader"
)

func oneSpan(td ptrace.Traces, service string, trace pcommon.TraceID, id byte) ptrace.Span {
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(trace)
	s.SetSpanID(spanID(id))
	s.SetName("op")
	s.SetStartTimestamp(ts(time.Duration(id) * time.Millisecond))
	s.SetEndTimestamp(ts(time.Duration(id)*time.Millisecond + time.Millisecond))
	return s
}

// Invalid UTF-8 is stored sanitised: every invalid byte becomes U+FFFD, in
// names, keys, string values and inside structured values alike.
func TestInvalidUTF8IsSanitised(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	id := traceID(0x10)

	td := ptrace.NewTraces()
	s := oneSpan(td, "bad\xffservice", id, 1)
	s.SetName("GET /\xc3\x28")
	s.Attributes().PutStr("key\xfe", "value\xff\xfe end")
	s.Attributes().PutEmptySlice("list").AppendEmpty().SetStr("in\xfflist")
	s.Status().SetMessage("\xed\xa0\x80 surrogate")
	st, err := w.WriteTracesStats(ctx, td)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sanitized != 7 {
		t.Errorf("Sanitized = %d, want 7 (service.name twice: column and attribute; name, key, value, list item, status)", st.Sanitized)
	}
	got, err := readerOf(t, conn, db).GetTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rs := got.ResourceSpans().At(0)
	span := rs.ScopeSpans().At(0).Spans().At(0)
	checks := map[string]string{
		"service.name": mustStr(t, rs.Resource().Attributes(), "service.name"),
		"name":         span.Name(),
		"value":        mustStr(t, span.Attributes(), "key\uFFFD"),
		"list item":    mustSlice(t, span.Attributes(), "list").At(0).Str(),
		"status":       span.Status().Message(),
	}
	want := map[string]string{
		"service.name": "bad\uFFFDservice",
		"name":         "GET /\uFFFD(",
		"value":        "value\uFFFD\uFFFD end",
		"list item":    "in\uFFFDlist",
		"status":       "\uFFFD\uFFFD\uFFFD surrogate",
	}
	for k, g := range checks {
		if g != want[k] {
			t.Errorf("%s read back as %q, want %q", k, g, want[k])
		}
	}
}

func mustStr(t *testing.T, m pcommon.Map, k string) string {
	t.Helper()
	v, ok := m.Get(k)
	if !ok {
		t.Fatalf("attribute %q missing from %v", k, m.AsRaw())
	}
	return v.Str()
}

func mustSlice(t *testing.T, m pcommon.Map, k string) pcommon.Slice {
	t.Helper()
	v, ok := m.Get(k)
	if !ok || v.Type() != pcommon.ValueTypeSlice {
		t.Fatalf("slice attribute %q missing from %v", k, m.AsRaw())
	}
	return v.Slice()
}

// 10,000 attributes of all types on one span are stored and read back.
func TestTenThousandAttributes(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	id := traceID(0x11)
	td := ptrace.NewTraces()
	s := oneSpan(td, "wide", id, 1)
	for i := range 10_000 {
		k := fmt.Sprintf("attr.%05d", i)
		switch i % 5 {
		case 0:
			s.Attributes().PutStr(k, strings.Repeat("v", i%97))
		case 1:
			s.Attributes().PutInt(k, int64(i)*-7)
		case 2:
			s.Attributes().PutDouble(k, float64(i)/3)
		case 3:
			s.Attributes().PutBool(k, i%2 == 0)
		case 4:
			s.Attributes().PutEmptySlice(k).AppendEmpty().SetInt(int64(i))
		}
	}
	// A neighbour in the same batch.
	oneSpan(td, "narrow", id, 2)
	if err := NewWriter(conn, Options{Database: db}).WriteTraces(ctx, td); err != nil {
		t.Fatal(err)
	}
	got, err := readerOf(t, conn, db).GetTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	requireSameTraces(t, td, got)
}

// nestedBody is a map nested depth levels deep.
func nestedBody(v pcommon.Value, depth int) {
	m := v.SetEmptyMap()
	for i := 1; i < depth; i++ {
		m.PutInt("level", int64(i))
		m = m.PutEmptyMap("child")
	}
	m.PutStr("leaf", "bottom")
}

func depthOf(v pcommon.Value) int {
	d := 0
	for v.Type() == pcommon.ValueTypeMap {
		d++
		c, ok := v.Map().Get("child")
		if !ok {
			break
		}
		v = c
	}
	return d
}

// Deep structured bodies: up to MaxValueDepth levels are stored as
// structure; below that the subtree is kept as its OTLP/JSON text in a
// string, so nothing is lost and the record still reads back.
func TestDeepLogBodies(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})

	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i, depth := range []int{anyvalue.DefaultMaxValueDepth, 5000} {
		rec := recs.AppendEmpty()
		rec.SetTimestamp(ts(time.Duration(i) * time.Millisecond))
		rec.Attributes().PutInt("depth", int64(depth))
		nestedBody(rec.Body(), depth)
	}
	st, err := w.WriteLogsStats(ctx, ld)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 2 || st.Truncated != 1 {
		t.Errorf("stats %+v, want 2 rows, 1 truncated value", st)
	}
	got, err := readerOf(t, conn, db).GetLogs(ctx, reader.LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got.LogRecordCount() != 2 {
		t.Fatalf("%d records read back, want 2", got.LogRecordCount())
	}
	gotRecs := got.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	// The record at the limit round-trips exactly.
	exact := plog.NewLogs()
	recs.At(0).CopyTo(exact.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())
	gotExact := plog.NewLogs()
	gotRecs.At(0).CopyTo(gotExact.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())
	if err := plogtest.CompareLogs(exact, gotExact); err != nil {
		t.Errorf("body %d levels deep: %v", anyvalue.DefaultMaxValueDepth, err)
	}
	// The deeper one keeps MaxValueDepth levels as maps, then text that holds
	// the rest.
	deep := gotRecs.At(1).Body()
	if d := depthOf(deep); d != anyvalue.DefaultMaxValueDepth {
		t.Errorf("deep body read back with %d map levels, want %d", d, anyvalue.DefaultMaxValueDepth)
	}
	v := deep
	for v.Type() == pcommon.ValueTypeMap {
		v, _ = v.Map().Get("child")
	}
	if v.Type() != pcommon.ValueTypeStr || !strings.Contains(v.Str(), `"bottom"`) {
		t.Errorf("cut-off subtree read back as %s %.80q, want the OTLP/JSON text with the leaf", v.Type(), v.AsString())
	}
	// The text is the rest of the tree: too deep for encoding/json to parse
	// back into structure, which is why it is kept as text.
	if n := strings.Count(v.Str(), `"kvlistValue"`); n != 5000-anyvalue.DefaultMaxValueDepth {
		t.Errorf("cut-off subtree holds %d map levels, want %d", n, 5000-anyvalue.DefaultMaxValueDepth)
	}
}

// Spans that can never be stored are rejected; their neighbours are stored.
// Out-of-range fields are clamped and counted.
func TestUnstorableAndClampedSpans(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	id := traceID(0x13)
	td := ptrace.NewTraces()
	future := oneSpan(td, "svc", id, 1)
	future.SetStartTimestamp(pcommon.Timestamp(math.MaxUint64 - 5))
	future.SetEndTimestamp(pcommon.Timestamp(math.MaxUint64))
	backwards := oneSpan(td, "svc", id, 2)
	backwards.SetEndTimestamp(backwards.StartTimestamp() - 1)
	weird := oneSpan(td, "svc", id, 3)
	weird.SetKind(ptrace.SpanKind(42))
	weird.Status().SetCode(ptrace.StatusCode(-3))
	fine := oneSpan(td, "svc", id, 4)

	st, err := w.WriteTracesStats(ctx, td)
	var rejected *RejectedError
	if !errors.As(err, &rejected) || !errors.Is(err, ErrInvalidData) || rejected.Count != 1 {
		t.Fatalf("err = %v, want a RejectedError for 1 span", err)
	}
	if st.Rows != 3 || st.Clamped != 3 {
		t.Errorf("stats %+v, want 3 rows stored and 3 fields clamped", st)
	}
	got, err := readerOf(t, conn, db).GetTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[pcommon.SpanID]ptrace.Span{}
	for _, rs := range got.ResourceSpans().All() {
		for _, s := range rs.ScopeSpans().At(0).Spans().All() {
			byID[s.SpanID()] = s
		}
	}
	if _, ok := byID[future.SpanID()]; ok || len(byID) != 3 {
		t.Errorf("read back %d spans (future one present: %v), want the 3 storable ones", len(byID), ok)
	}
	if s := byID[backwards.SpanID()]; s.EndTimestamp() != s.StartTimestamp() {
		t.Errorf("span ending before its start: duration %d, want 0", s.EndTimestamp()-s.StartTimestamp())
	}
	if s := byID[weird.SpanID()]; s.Kind() != ptrace.SpanKindUnspecified || s.Status().Code() != ptrace.StatusCodeUnset {
		t.Errorf("unknown kind/status read back as %v/%v, want Unspecified/Unset", s.Kind(), s.Status().Code())
	}
	if _, ok := byID[fine.SpanID()]; !ok {
		t.Error("the well-formed neighbour is missing")
	}
}

// Writers are used by several exporter consumers at once.
func TestConcurrentWrites(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				if err := w.WriteTraces(ctx, richTraces(traceID(byte(0x40+g*5+i)))); err != nil {
					errs <- err
					return
				}
				if err := w.WriteLogs(ctx, richLogs(traceID(byte(0x40+g*5+i)))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	perTrace := uint64(richTraces(traceID(0)).SpanCount())
	if n := count(t, conn, "SELECT count() FROM "+db+".spans"); n != 20*perTrace {
		t.Errorf("%d spans stored, want %d", n, 20*perTrace)
	}
	// Each trace has exactly one cross-service edge (gateway -> order).
	if n := count(t, conn, "SELECT sum(Calls) FROM "+db+".service_edges_1m"); n != 20 {
		t.Errorf("%d edges stored, want 20", n)
	}
	for g := range 20 {
		got, err := readerOf(t, conn, db).GetTrace(ctx, traceID(byte(0x40+g)))
		if err != nil {
			t.Fatal(err)
		}
		requireSameTraces(t, richTraces(traceID(byte(0x40+g))), got)
	}
}
