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

// A message published by order and delivered three times to fulfillment
// (two failures, then success) reaches broker_edges_1m as three deliveries
// with two redeliveries and their queue delays, not as a call edge; the
// publishes reach publishes_1m. The consumers come first, as they do when
// the producer's batch is exported later.
func TestBrokerEdgesStored(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	id := traceID(7)

	newResource := func(td ptrace.Traces, service string) ptrace.SpanSlice {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		return rs.ScopeSpans().AppendEmpty().Spans()
	}
	producers, consumers := ptrace.NewTraces(), ptrace.NewTraces()
	order := newResource(producers, "order")
	server := order.AppendEmpty()
	server.SetTraceID(id)
	server.SetSpanID(spanID(1))
	server.SetKind(ptrace.SpanKindServer)
	server.SetStartTimestamp(ts(0))
	server.SetEndTimestamp(ts(50 * time.Millisecond))
	pub := order.AppendEmpty()
	pub.SetTraceID(id)
	pub.SetSpanID(spanID(2))
	pub.SetParentSpanID(spanID(1))
	pub.SetName("publish order.confirmed")
	pub.SetKind(ptrace.SpanKindProducer)
	pub.SetStartTimestamp(ts(40 * time.Millisecond))
	pub.SetEndTimestamp(ts(45 * time.Millisecond))
	pub.Attributes().PutStr("messaging.system", "nats")
	pub.Attributes().PutStr("messaging.destination.name", "order.confirmed")
	fulfillment := newResource(consumers, "fulfillment")
	for i, startMs := range []int{60, 300, 900} {
		d := fulfillment.AppendEmpty()
		d.SetTraceID(id)
		d.SetSpanID(spanID(byte(10 + i)))
		d.SetParentSpanID(spanID(2))
		d.SetName("process order.confirmed")
		d.SetKind(ptrace.SpanKindConsumer)
		d.SetStartTimestamp(ts(time.Duration(startMs) * time.Millisecond))
		d.SetEndTimestamp(ts(time.Duration(startMs+10) * time.Millisecond))
		d.Attributes().PutStr("messaging.destination.name", "order.confirmed")
		d.Attributes().PutInt("messaging.nats.message.delivery_count", int64(i+1))
		if i < 2 {
			d.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	if st, err := w.WriteTracesStats(ctx, consumers); err != nil || st.Edges != 0 {
		t.Fatalf("consumers first: %d edges, %v; want none yet", st.Edges, err)
	}
	if st, err := w.WriteTracesStats(ctx, producers); err != nil || st.Edges != 3 {
		t.Fatalf("producers: %d edges, %v; want the 3 deliveries", st.Edges, err)
	}
	// Writing both again stores nothing new.
	if st, err := w.WriteTracesStats(ctx, consumers); err != nil || st.Edges != 0 {
		t.Fatalf("redelivered batch: %d edges, %v", st.Edges, err)
	}

	var deliveries, errs, redeliveries, delaySum, calls uint64
	row := conn.QueryRow(ctx, "SELECT sum(Deliveries), sum(Errors), sum(Redeliveries), sum(QueueDelaySum) FROM "+db+".broker_edges_1m"+
		" WHERE ProducerService = 'order' AND System = 'nats' AND Destination = 'order.confirmed' AND ConsumerService = 'fulfillment'")
	if err := row.Scan(&deliveries, &errs, &redeliveries, &delaySum); err != nil {
		t.Fatal(err)
	}
	// Queue delays from the publish's start (40ms): 20, 260 and 860 ms.
	if deliveries != 3 || errs != 2 || redeliveries != 2 || time.Duration(delaySum) != 1140*time.Millisecond {
		t.Errorf("broker_edges_1m: deliveries=%d errors=%d redeliveries=%d delay=%v; want 3, 2, 2, 1.14s", deliveries, errs, redeliveries, time.Duration(delaySum))
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".service_edges_1m").Scan(&calls); err != nil || calls != 0 {
		t.Errorf("service_edges_1m has %d rows (%v): a broker hop is not a call", calls, err)
	}
	var publishes uint64
	if err := conn.QueryRow(ctx, "SELECT sum(Calls) FROM "+db+".publishes_1m WHERE ServiceName = 'order' AND Destination = 'order.confirmed'").Scan(&publishes); err != nil || publishes != 1 {
		t.Errorf("publishes_1m counts %d publishes (%v), want 1", publishes, err)
	}
}
