package query

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/internal/seed"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/storage/writer"
)

// asyncShop is what asyncShopData wrote.
type asyncShop struct {
	checkouts       int
	byInstance      map[string]int // order server spans per instance
	failedByInst    map[string]int
	publishes       int
	deliveries      int
	failedDelivery  int
	redeliveries    int
	deadLetters     int // publishes of fulfillment to dlq.order.confirmed
	poisonTrace     pcommon.TraceID
	firstTrace      pcommon.TraceID
	queueDelayFirst time.Duration
}

// asyncShopData writes checkouts through gateway → order (two instances,
// alternating) → publish order.confirmed → fulfillment: every order's
// event is delivered once after 40 ms, except every fifth, which fails
// twice and is delivered a third time, and the last one, a poison message
// that fails three times and is dead-lettered. Each service's spans go in
// their own batch, consumers first, as exporters send them.
func asyncShopData(t *testing.T) (*Service, asyncShop, time.Time) {
	t.Helper()
	db, conn := seed.NewDatabase(t)
	base := seed.Base.Add(10 * time.Second)
	w := writer.NewWriter(conn, writer.Options{Database: db, Now: func() time.Time { return base.Add(time.Hour) }})
	ctx := context.Background()
	shop := asyncShop{byInstance: map[string]int{}, failedByInst: map[string]int{}}
	const n = 30
	ms := time.Millisecond
	for i := 0; i < n; i++ {
		var tid pcommon.TraceID
		tid[0] = 0xa5
		binary.BigEndian.PutUint32(tid[12:], uint32(i+1))
		if i == 0 {
			shop.firstTrace = tid
		}
		var seq uint32
		batches := map[string]ptrace.Traces{}
		start := base.Add(time.Duration(i) * 4 * time.Second)
		span := func(service, instance string, parent ptrace.Span, name string, kind ptrace.SpanKind, off, dur time.Duration) ptrace.Span {
			key := service + "/" + instance
			td, ok := batches[key]
			if !ok {
				td = ptrace.NewTraces()
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutStr("service.name", service)
				if instance != "" {
					rs.Resource().Attributes().PutStr("service.instance.id", instance)
				}
				rs.ScopeSpans().AppendEmpty()
				batches[key] = td
			}
			sp := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty()
			seq++
			var sid pcommon.SpanID
			binary.BigEndian.PutUint32(sid[:4], uint32(i+1))
			binary.BigEndian.PutUint32(sid[4:], seq)
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			if parent != (ptrace.Span{}) {
				sp.SetParentSpanID(parent.SpanID())
			}
			sp.SetName(name)
			sp.SetKind(kind)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(off)))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(off + dur)))
			if kind == ptrace.SpanKindProducer || kind == ptrace.SpanKindConsumer {
				sp.Attributes().PutStr("messaging.system", "nats")
			}
			return sp
		}
		instance := []string{"order-1", "order-2"}[i%2]
		root := span("gateway", "gateway-1", ptrace.Span{}, "POST /api/checkout", ptrace.SpanKindServer, 0, 60*ms)
		call := span("gateway", "gateway-1", root, "POST /v1/orders", ptrace.SpanKindClient, 5*ms, 50*ms)
		server := span("order", instance, call, "POST /v1/orders", ptrace.SpanKindServer, 6*ms, 48*ms)
		shop.byInstance[instance]++
		if i%3 == 0 {
			server.Status().SetCode(ptrace.StatusCodeError)
			shop.failedByInst[instance]++
		}
		pub := span("order", instance, server, "publish order.confirmed", ptrace.SpanKindProducer, 40*ms, 5*ms)
		pub.Attributes().PutStr("messaging.destination.name", "order.confirmed")
		shop.publishes++
		attempts := 1
		poison := i == n-1
		switch {
		case poison:
			attempts = 3
			shop.poisonTrace = tid
		case i%5 == 0:
			attempts = 3
		}
		for a := 1; a <= attempts; a++ {
			off := time.Duration(40+40*a*a) * ms
			d := span("fulfillment", "fulfillment-1", pub, "process order.confirmed", ptrace.SpanKindConsumer, off, 10*ms)
			d.Attributes().PutStr("messaging.destination.name", "order.confirmed")
			d.Attributes().PutInt("messaging.nats.message.delivery_count", int64(a))
			shop.deliveries++
			if a > 1 {
				shop.redeliveries++
			}
			if i == 0 && a == 1 {
				shop.queueDelayFirst = off - 40*ms
			}
			if a < attempts || poison {
				d.Status().SetCode(ptrace.StatusCodeError)
				shop.failedDelivery++
			}
			if poison && a == attempts {
				dlq := span("fulfillment", "fulfillment-1", d, "publish dlq.order.confirmed", ptrace.SpanKindProducer, off+5*ms, 2*ms)
				dlq.Attributes().PutStr("messaging.destination.name", "dlq.order.confirmed")
				shop.deadLetters++
			}
		}
		for _, key := range []string{"fulfillment/fulfillment-1", "order/" + instance, "gateway/gateway-1"} {
			if err := w.WriteTraces(ctx, batches[key]); err != nil {
				t.Fatal(err)
			}
		}
		shop.checkouts++
	}
	now := base.Add(n * 4 * time.Second).Add(5 * time.Second)
	return newServiceOpts(t, conn, db, Options{Now: func() time.Time { return now }}, reader.Limits{}), shop, now
}

// TestAsyncPaths checks what the query service makes of requests that
// cross a broker and of services with several instances: the map's
// destination node and its publish and delivery edges, the dependencies,
// RED and search per instance, and the request path's queue delays.
func TestAsyncPaths(t *testing.T) {
	svc, shop, now := asyncShopData(t)
	ctx := context.Background()
	r := TimeRange{Start: now.Add(-time.Hour), End: now}

	m, err := svc.ServiceMap(ctx, ServiceMapQuery{Range: r})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Edges {
		if e.Child == "fulfillment" {
			t.Errorf("a broker hop is drawn as a call %s → %s", e.Parent, e.Child)
		}
	}
	if len(m.Destinations) != 2 || m.Destinations[0].Name != "dlq.order.confirmed" || m.Destinations[1].Name != "order.confirmed" || m.Destinations[1].System != "nats" {
		t.Fatalf("destinations %+v, want dlq.order.confirmed and order.confirmed", m.Destinations)
	}
	if d := m.Destinations[1]; d.Published != uint64(shop.publishes) || d.Delivered != uint64(shop.deliveries) {
		t.Errorf("order.confirmed: published %d delivered %d, want %d and %d", d.Published, d.Delivered, shop.publishes, shop.deliveries)
	}
	if len(m.Publishes) != 2 {
		t.Fatalf("publish edges %+v, want fulfillment → dlq and order → order.confirmed", m.Publishes)
	}
	dlq, pub := m.Publishes[0], m.Publishes[1]
	if dlq.Service != "fulfillment" || dlq.Destination != "dlq.order.confirmed" || dlq.Calls != uint64(shop.deadLetters) {
		t.Errorf("dead-letter publish edge %+v, want %d publishes of fulfillment", dlq, shop.deadLetters)
	}
	if pub.Service != "order" || pub.Destination != "order.confirmed" || pub.Calls != uint64(shop.publishes) || pub.Errors != 0 {
		t.Errorf("publish edge %+v, want %d publishes of order", pub, shop.publishes)
	}
	if len(m.Deliveries) != 1 {
		t.Fatalf("delivery edges %+v, want order.confirmed → fulfillment", m.Deliveries)
	}
	del := m.Deliveries[0]
	if del.Destination != "order.confirmed" || del.Consumer != "fulfillment" || len(del.Producers) != 1 || del.Producers[0] != "order" {
		t.Errorf("delivery edge %+v", del)
	}
	if del.Calls != uint64(shop.deliveries) || del.Errors != uint64(shop.failedDelivery) || del.Redeliveries != uint64(shop.redeliveries) {
		t.Errorf("deliveries %d errors %d redeliveries %d, want %d, %d, %d", del.Calls, del.Errors, del.Redeliveries, shop.deliveries, shop.failedDelivery, shop.redeliveries)
	}
	// Queue delays: 40 ms for the first deliveries (most), 160 and 360 ms
	// for the redeliveries; t-digest estimates.
	if !near(del.QueueDelay.P50, float64(40*time.Millisecond), 0.05) || del.QueueDelay.P99 < float64(300*time.Millisecond) || del.QueueDelay.Mean <= del.QueueDelay.P50 {
		t.Errorf("queue delay %+v, want p50 ≈ 40ms and p99 ≥ 300ms", del.QueueDelay)
	}
	if !del.Failing || del.ErrorRate < 0.2 {
		t.Errorf("delivery edge with %.0f%% failed deliveries is not failing", del.ErrorRate*100)
	}
	if !near(del.Rate, float64(shop.deliveries)/m.Coverage.Duration().Seconds(), 0.001) {
		t.Errorf("delivery rate %.4f/s, want %d over %s", del.Rate, shop.deliveries, m.Coverage.Duration())
	}
	nodeOf(t, m, "fulfillment")

	deps, err := svc.Dependencies(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, d := range deps {
		got[d.Parent+"→"+d.Child] = d.Calls
	}
	if got["order→fulfillment"] != uint64(shop.deliveries) || got["gateway→order"] != uint64(shop.checkouts) || len(got) != 2 {
		t.Errorf("dependencies %v, want gateway→order %d and order→fulfillment %d (deliveries)", got, shop.checkouts, shop.deliveries)
	}

	// RED and search by instance.
	insts, err := svc.Instances(ctx, InstancesQuery{Service: "order", Range: r})
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != 2 {
		t.Fatalf("instances %+v, want order-1 and order-2", insts)
	}
	var sum uint64
	for _, in := range insts {
		if in.Calls != uint64(shop.byInstance[in.ID]) || in.Errors != uint64(shop.failedByInst[in.ID]) {
			t.Errorf("instance %q served %d (%d failed), want %d (%d)", in.ID, in.Calls, in.Errors, shop.byInstance[in.ID], shop.failedByInst[in.ID])
		}
		sum += in.Calls
		one := in.ID
		series, err := svc.RED(ctx, REDQuery{Service: "order", Instance: &one, Range: r, Step: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		var calls, errs uint64
		for _, p := range series.Points {
			calls += p.Calls
			errs += p.Errors
		}
		if calls != in.Calls || errs != in.Errors {
			t.Errorf("RED of %s: %d calls %d errors, the instance list says %d and %d", one, calls, errs, in.Calls, in.Errors)
		}
	}
	if sum != uint64(shop.checkouts) {
		t.Errorf("instances served %d, the service %d", sum, shop.checkouts)
	}
	found, err := svc.FindTraces(ctx, TraceQuery{Service: "order", Instance: "order-2", Range: r, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != shop.byInstance["order-2"] {
		t.Errorf("search for instance order-2 found %d traces, want %d", len(found), shop.byInstance["order-2"])
	}
	if _, err := svc.Instances(ctx, InstancesQuery{Range: r}); !isInput(err, "service") {
		t.Errorf("instances without a service: %v", err)
	}

	// The request path: the consumer's wait is on the critical path as a
	// queue segment, and its queue delay is on the span.
	rp, err := svc.RequestPath(ctx, shop.firstTrace)
	if err != nil {
		t.Fatal(err)
	}
	var queued int
	for _, s := range rp.CriticalSegments {
		if s.Queue {
			queued++
		}
	}
	if queued != 3 {
		t.Errorf("%d queue segments on the path of a message delivered three times, want 3: %+v", queued, rp.CriticalSegments)
	}
	var delays []time.Duration
	var walk func([]*PathSpan)
	walk = func(ns []*PathSpan) {
		for _, n := range ns {
			if n.QueueDelay > 0 {
				delays = append(delays, n.QueueDelay)
			}
			walk(n.Children)
		}
	}
	walk(rp.Roots)
	if len(delays) != 3 || delays[0] != shop.queueDelayFirst {
		t.Errorf("queue delays %v, want 3 starting with %v", delays, shop.queueDelayFirst)
	}
}
