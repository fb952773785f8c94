package tracestore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func edgeSpanOf(trace, span, parent byte, service string) edgeSpan {
	s := edgeSpan{key: makeSpanKey(traceID(trace), spanID(span)), service: service, duration: 10}
	if parent != 0 {
		s.parent, s.hasParent = makeSpanKey(traceID(trace), spanID(parent)), true
	}
	return s
}

func edgeNames(rows []edgeRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.parent + "->" + r.child
	}
	slices.Sort(out)
	return out
}

func TestEdgeCache(t *testing.T) {
	clock := &fakeClock{t: baseTime}
	c := newEdgeCache(100, time.Minute, clock.now)

	// Batch 1: a child in order whose parent (span 2, gateway) comes later,
	// and a same-service pair that is no edge.
	got := c.resolve([]edgeSpan{
		edgeSpanOf(1, 3, 2, "order"),
		edgeSpanOf(1, 4, 3, "order"),
	}, nil)
	if len(got) != 0 {
		t.Fatalf("batch 1: edges %v, want none yet", edgeNames(got))
	}
	// Batch 2: the parent arrives, with its own parent in the same batch.
	got = c.resolve([]edgeSpan{
		edgeSpanOf(1, 2, 1, "gateway"),
		edgeSpanOf(1, 1, 0, "frontend"),
	}, nil)
	if want := []string{"frontend->gateway", "gateway->order"}; !slices.Equal(edgeNames(got), want) {
		t.Fatalf("batch 2: edges %v, want %v", edgeNames(got), want)
	}
	// Batch 3: a redelivery of batch 1 and 2 spans produces nothing new, a
	// new child of a remembered parent does.
	got = c.resolve([]edgeSpan{
		edgeSpanOf(1, 3, 2, "order"),
		edgeSpanOf(1, 2, 1, "gateway"),
		edgeSpanOf(1, 5, 2, "auth"),
		edgeSpanOf(1, 5, 2, "auth"), // duplicate inside the batch
	}, nil)
	if want := []string{"gateway->auth"}; !slices.Equal(edgeNames(got), want) {
		t.Fatalf("batch 3: edges %v, want %v", edgeNames(got), want)
	}

	// After two generations (TTL) a parent is forgotten: its late child
	// waits instead of producing an edge.
	clock.t = clock.t.Add(31 * time.Second)
	c.resolve([]edgeSpan{edgeSpanOf(2, 1, 0, "x")}, nil) // rotates once
	clock.t = clock.t.Add(31 * time.Second)
	c.resolve([]edgeSpan{edgeSpanOf(2, 2, 0, "y")}, nil) // rotates again
	got = c.resolve([]edgeSpan{edgeSpanOf(1, 6, 2, "payment")}, nil)
	if len(got) != 0 {
		t.Fatalf("edges %v from a parent older than the TTL", edgeNames(got))
	}
}

func TestEdgeCacheIsBounded(t *testing.T) {
	clock := &fakeClock{t: baseTime}
	c := newEdgeCache(1000, time.Hour, clock.now)
	for b := 0; b < 50; b++ {
		batch := make([]edgeSpan, 100)
		for i := range batch {
			var s edgeSpan
			s.key = makeSpanKey(traceID(byte(b)), pcommon.SpanID{byte(i), 1})
			s.parent = makeSpanKey(traceID(byte(b)), pcommon.SpanID{byte(i), 2}) // never arrives
			s.hasParent = true
			s.service = "svc"
			batch[i] = s
		}
		c.resolve(batch, nil)
		if n := len(c.seen[0]) + len(c.seen[1]); n > 1000+100 {
			t.Fatalf("after batch %d the cache remembers %d spans, bound is 1000 (+ one batch)", b, n)
		}
		if n := len(c.waiting[0]) + len(c.waiting[1]); n > 1000+100 {
			t.Fatalf("after batch %d %d children wait for parents, bound is 1000 (+ one batch)", b, n)
		}
	}
	if c.evictions == 0 {
		t.Error("no waiting child was ever evicted")
	}
}

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
	got, err := NewReader(conn, db).GetTrace(ctx, traceID(6))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.ResourceSpans().At(0).Resource().Attributes().Get("service.name"); ok {
		t.Error("read back a service.name the resource did not have")
	}
}
