package servicegraph

import (
	"fmt"
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

func brokerNames(rows []Edge) []string {
	var out []string
	for _, r := range rows {
		if r.Broker {
			out = append(out, fmt.Sprintf("%s->%s/%s->%s delay=%v redelivery=%v error=%v", r.Parent, r.Messaging.System, r.Messaging.Destination, r.Child,
				time.Duration(r.QueueDelay), r.Redelivery, r.IsError))
		} else {
			out = append(out, r.Parent+"->"+r.Child)
		}
	}
	slices.Sort(out)
	return out
}

// A consumer span under a producer span is a broker edge, one per
// delivery, with the queue delay; in either arrival order.
func TestBrokerEdges(t *testing.T) {
	clock := &fakeClock{t: baseTime}
	c := NewCache(100, time.Minute, clock.now)
	at := func(ms int) int64 { return baseTime.Add(time.Duration(ms) * time.Millisecond).UnixNano() }
	pub := edgeSpanOf(1, 2, 1, "order")
	pub.Kind, pub.Start = KindProducer, at(100)
	pub.Messaging = Messaging{System: "nats", Destination: "order.confirmed"}
	deliver := func(span byte, startMs int, redelivery, failed bool) Span {
		s := edgeSpanOf(1, span, 2, "fulfillment")
		s.Kind, s.Start, s.Redelivery, s.IsError = KindConsumer, at(startMs), redelivery, failed
		s.Messaging = Messaging{System: "nats", Destination: "order.confirmed"}
		return s
	}
	// The first delivery arrives before its producer; the producer with
	// its own parent (a call from gateway: no broker edge) next; two
	// redeliveries after.
	got := c.Resolve([]Span{deliver(3, 130, false, true)}, nil)
	if len(got) != 0 {
		t.Fatalf("edges %v before the producer came", brokerNames(got))
	}
	got = c.Resolve([]Span{edgeSpanOf(1, 1, 0, "gateway"), pub}, nil)
	want := []string{"gateway->order", "order->nats/order.confirmed->fulfillment delay=30ms redelivery=false error=true"}
	if !slices.Equal(brokerNames(got), want) {
		t.Fatalf("edges %v, want %v", brokerNames(got), want)
	}
	got = c.Resolve([]Span{deliver(4, 400, true, true), deliver(5, 1100, true, false)}, nil)
	want = []string{
		"order->nats/order.confirmed->fulfillment delay=1s redelivery=true error=false",
		"order->nats/order.confirmed->fulfillment delay=300ms redelivery=true error=true",
	}
	if !slices.Equal(brokerNames(got), want) {
		t.Fatalf("redeliveries: edges %v, want %v", brokerNames(got), want)
	}

	// A consumer under a non-producer parent is a call; a producer →
	// consumer pair naming no destination too; a consumer in the
	// producer's own service is a broker edge (the hop went through the
	// broker even so).
	plain := edgeSpanOf(2, 2, 1, "worker")
	plain.Kind = KindConsumer
	unnamedPub := edgeSpanOf(2, 3, 0, "order")
	unnamedPub.Kind = KindProducer
	unnamedCons := edgeSpanOf(2, 4, 3, "worker")
	unnamedCons.Kind = KindConsumer
	selfPub := edgeSpanOf(2, 5, 0, "order")
	selfPub.Kind, selfPub.Messaging = KindProducer, Messaging{Destination: "order.audit"}
	selfCons := edgeSpanOf(2, 6, 5, "order")
	selfCons.Kind = KindConsumer
	got = c.Resolve([]Span{edgeSpanOf(2, 1, 0, "api"), plain, unnamedPub, unnamedCons, selfPub, selfCons}, nil)
	want = []string{"api->worker", "order->/order.audit->order delay=0s redelivery=false error=false", "order->worker"}
	if !slices.Equal(brokerNames(got), want) {
		t.Fatalf("edges %v, want %v", brokerNames(got), want)
	}
}
