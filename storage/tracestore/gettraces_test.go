package tracestore

import (
	"context"
	"math/rand/v2"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// GetTraces reads many traces at once and must return exactly what GetTrace
// returns for each, and nothing for an unknown id. Random ids cover bytes
// that need care in parameters (tab, newline, backslash, quote, NUL) and
// check that traceKey matches ClickHouse's cityHash64.
func TestGetTracesMatchesGetTrace(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	r := NewReader(conn, db)

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
