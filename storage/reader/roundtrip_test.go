package reader

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/testdata"

	"github.com/tracehouse/tracehouse/storage/writer"
)

func TestTraceRoundTrip(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := writer.NewWriter(conn, writer.Options{Database: db})
	r := mustNew(t, conn, db)

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
	w := writer.NewWriter(conn, writer.Options{Database: db})
	r := mustNew(t, conn, db)

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

func TestLogsRoundTrip(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := writer.NewWriter(conn, writer.Options{Database: db})
	r := mustNew(t, conn, db)

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
	w := writer.NewWriter(conn, writer.Options{Database: db})
	r := mustNew(t, conn, db)

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
	w := writer.NewWriter(conn, writer.Options{Database: db})
	ld := plog.NewLogs()
	rec := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	rec.SetObservedTimestamp(ts(0))
	rec.Body().SetStr("no timestamp")
	if err := w.WriteLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	got, err := mustNew(t, conn, db).GetLogs(ctx, LogFilter{Start: baseTime, End: baseTime.Add(time.Second)})
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
