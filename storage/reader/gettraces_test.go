package reader

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/writer"
)

// GetTraces reads many traces at once and must return exactly what GetTrace
// returns for each, and nothing for an unknown id. Random ids cover bytes
// that need care in parameters (tab, newline, backslash, quote, NUL) and
// check that traceKey matches ClickHouse's cityHash64.
func TestGetTracesMatchesGetTrace(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := writer.NewWriter(conn, writer.Options{Database: db})
	r := mustNew(t, conn, db)

	rng := rand.New(rand.NewPCG(7, 11))
	ids := []pcommon.TraceID{{'\t', '\n', '\\', '\'', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}
	for len(ids) < 25 {
		var id pcommon.TraceID
		for i := range id {
			id[i] = byte(rng.UintN(256))
		}
		ids = append(ids, id)
	}
	all := ptrace.NewTraces()
	for _, id := range ids {
		richTraces(id).ResourceSpans().MoveAndAppendTo(all.ResourceSpans())
	}
	if err := w.WriteTraces(ctx, all); err != nil {
		t.Fatal(err)
	}

	unknown := pcommon.TraceID{0xee, 0xee}
	got, err := r.GetTraces(ctx, append(append([]pcommon.TraceID{}, ids...), unknown))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("GetTraces found %d traces, want %d", len(got), len(ids))
	}
	if _, ok := got[unknown]; ok {
		t.Error("GetTraces returned a trace for an unknown id")
	}
	for _, id := range ids {
		one, err := r.GetTrace(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		requireSameTraces(t, one, got[id])
		requireSameTraces(t, richTraces(id), got[id])
	}
}

// GetTraces looks traces up by their (minute, TraceId) keys; spans on both
// sides of a minute boundary, in every minute of a long trace and on the
// last second of its last minute must all come back whole.
func TestGetTracesAcrossMinutes(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := writer.NewWriter(conn, writer.Options{Database: db})
	r := mustNew(t, conn, db)

	minute := time.Now().Truncate(time.Minute).Add(-time.Hour)
	offsets := map[pcommon.TraceID][]time.Duration{
		{1}: {-100 * time.Millisecond, 100 * time.Millisecond},    // crosses a minute
		{2}: {0, 3 * time.Minute, 3*time.Minute + 59*time.Second}, // four minutes
		{3}: {0, 3 * time.Hour, 3*time.Hour + 30*time.Second},     // three hours
		{4}: {10 * time.Second},
	}
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	ids := []pcommon.TraceID{}
	for id, offs := range offsets {
		ids = append(ids, id)
		for i, off := range offs {
			s := spans.AppendEmpty()
			s.SetTraceID(id)
			s.SetSpanID(pcommon.SpanID{id[0], byte(i + 1)})
			s.SetName("op")
			start := pcommon.NewTimestampFromTime(minute.Add(off))
			s.SetStartTimestamp(start)
			s.SetEndTimestamp(start + pcommon.Timestamp(time.Millisecond))
		}
	}
	if err := w.WriteTraces(ctx, td); err != nil {
		t.Fatal(err)
	}
	got, err := r.GetTraces(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for id, offs := range offsets {
		td, ok := got[id]
		if !ok {
			t.Errorf("trace %x: not found by GetTraces", id[:1])
		} else if n := td.SpanCount(); n != len(offs) {
			t.Errorf("trace %x: GetTraces returned %d spans, want %d", id[:1], n, len(offs))
		}
	}
}
