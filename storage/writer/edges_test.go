package writer

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Edges reach service_edges_1m through service_edge_events, across batches.
func TestServiceEdgesStored(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})

	id := traceID(5)
	td := richTraces(id)
	// Write the order service's spans first: their parent (gateway's client
	// span) is in the next batch.
	orderOnly, gatewayOnly := ptrace.NewTraces(), ptrace.NewTraces()
	td.ResourceSpans().At(1).CopyTo(orderOnly.ResourceSpans().AppendEmpty())
	td.ResourceSpans().At(0).CopyTo(gatewayOnly.ResourceSpans().AppendEmpty())
	st, err := w.WriteTracesStats(ctx, orderOnly)
	if err != nil {
		t.Fatal(err)
	}
	if st.Edges != 0 {
		t.Errorf("first batch: %d edges, want 0 (the parent is not known yet)", st.Edges)
	}
	st, err = w.WriteTracesStats(ctx, gatewayOnly)
	if err != nil {
		t.Fatal(err)
	}
	if st.Edges != 1 {
		t.Errorf("second batch: %d edges, want 1 (gateway -> order)", st.Edges)
	}
	// A redelivery of both batches adds no edge.
	if st, err = w.WriteTracesStats(ctx, td); err != nil || st.Edges != 0 {
		t.Errorf("redelivery: %d edges, err %v; want 0, nil", st.Edges, err)
	}

	rows, err := conn.Query(ctx, fmt.Sprintf(
		"SELECT ParentService, ChildService, sum(Calls), sum(Errors), sum(DurationSum) FROM %s.service_edges_1m GROUP BY ParentService, ChildService", db))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var parent, child string
		var calls, errs, dur uint64
		if err := rows.Scan(&parent, &child, &calls, &errs, &dur); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s->%s calls=%d errors=%d duration=%d", parent, child, calls, errs, dur))
	}
	// order's server span: 20ms..230ms, status Error.
	want := []string{fmt.Sprintf("gateway->order calls=1 errors=1 duration=%d", (210 * time.Millisecond).Nanoseconds())}
	if !slices.Equal(got, want) {
		t.Errorf("service_edges_1m: %v, want %v", got, want)
	}
}

// Spans without service.name are stored under DefaultServiceName.
func TestMissingServiceName(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(traceID(6))
	s.SetSpanID(spanID(1))
	s.SetStartTimestamp(ts(0))
	s.SetEndTimestamp(ts(time.Millisecond))
	if err := NewWriter(conn, Options{Database: db}).WriteTraces(ctx, td); err != nil {
		t.Fatal(err)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".spans WHERE ServiceName = ?", DefaultServiceName); n != 1 {
		t.Errorf("%d spans under %q, want 1", n, DefaultServiceName)
	}
	got, err := readerOf(t, conn, db).GetTrace(ctx, traceID(6))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.ResourceSpans().At(0).Resource().Attributes().Get("service.name"); ok {
		t.Error("read back a service.name the resource did not have")
	}
}
