package servicegraph

import (
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

var baseTime = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func traceID(b byte) pcommon.TraceID {
	return pcommon.TraceID{0xaa, b, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, b}
}

func spanID(b byte) pcommon.SpanID { return pcommon.SpanID{0xbb, 1, 2, 3, 4, 5, 6, b} }

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func edgeSpanOf(trace, span, parent byte, service string) Span {
	s := Span{Key: MakeSpanKey(traceID(trace), spanID(span)), Service: service, Duration: 10}
	if parent != 0 {
		s.Parent, s.HasParent = MakeSpanKey(traceID(trace), spanID(parent)), true
	}
	return s
}

func edgeNames(rows []Edge) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Parent + "->" + r.Child
	}
	slices.Sort(out)
	return out
}

func TestEdgeCache(t *testing.T) {
	clock := &fakeClock{t: baseTime}
	c := NewCache(100, time.Minute, clock.now)

	// Batch 1: a child in order whose parent (span 2, gateway) comes later,
	// and a same-service pair that is no edge.
	got := c.Resolve([]Span{
		edgeSpanOf(1, 3, 2, "order"),
		edgeSpanOf(1, 4, 3, "order"),
	}, nil)
	if len(got) != 0 {
		t.Fatalf("batch 1: edges %v, want none yet", edgeNames(got))
	}
	// Batch 2: the parent arrives, with its own parent in the same batch.
	got = c.Resolve([]Span{
		edgeSpanOf(1, 2, 1, "gateway"),
		edgeSpanOf(1, 1, 0, "frontend"),
	}, nil)
	if want := []string{"frontend->gateway", "gateway->order"}; !slices.Equal(edgeNames(got), want) {
		t.Fatalf("batch 2: edges %v, want %v", edgeNames(got), want)
	}
	// Batch 3: a redelivery of batch 1 and 2 spans produces nothing new, a
	// new child of a remembered parent does.
	got = c.Resolve([]Span{
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
	c.Resolve([]Span{edgeSpanOf(2, 1, 0, "x")}, nil) // rotates once
	clock.t = clock.t.Add(31 * time.Second)
	c.Resolve([]Span{edgeSpanOf(2, 2, 0, "y")}, nil) // rotates again
	got = c.Resolve([]Span{edgeSpanOf(1, 6, 2, "payment")}, nil)
	if len(got) != 0 {
		t.Fatalf("edges %v from a parent older than the TTL", edgeNames(got))
	}
}

func TestEdgeCacheIsBounded(t *testing.T) {
	clock := &fakeClock{t: baseTime}
	c := NewCache(1000, time.Hour, clock.now)
	for b := 0; b < 50; b++ {
		batch := make([]Span, 100)
		for i := range batch {
			var s Span
			s.Key = MakeSpanKey(traceID(byte(b)), pcommon.SpanID{byte(i), 1})
			s.Parent = MakeSpanKey(traceID(byte(b)), pcommon.SpanID{byte(i), 2}) // never arrives
			s.HasParent = true
			s.Service = "svc"
			batch[i] = s
		}
		c.Resolve(batch, nil)
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
