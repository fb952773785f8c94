package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/sample-services/fulfillment"
	"github.com/tracehouse/tracehouse/sample-services/internal/cards"
	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/messaging"
	"github.com/tracehouse/tracehouse/sample-services/internal/otlpsink"
	"github.com/tracehouse/tracehouse/sample-services/internal/testenv"
	"github.com/tracehouse/tracehouse/sample-services/order"
)

// waitFor flushes the stack's telemetry until ok holds for what the
// collector received, or fails after 10 seconds saying what it waited for.
func waitFor(t *testing.T, st *testenv.Stack, collector *otlpsink.Collector, what string, ok func(spans []otlpsink.Span) bool) []otlpsink.Span {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st.Flush(t)
		spans := collector.Spans()
		if ok(spans) {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s; spans: %s", what, describe(spans))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func checkMessaging(t *testing.T, s otlpsink.Span, opType, subject, msgID string) {
	t.Helper()
	for key, want := range map[string]string{
		"messaging.system":           "nats",
		"messaging.operation.type":   opType,
		"messaging.destination.name": subject,
		"messaging.message.id":       msgID,
	} {
		if got := attr(s, key); got != want {
			t.Errorf("span %q of %s: %s = %q, want %q", s.Name(), s.Service, key, got, want)
		}
	}
	if attr(s, "server.address") == "" || attr(s, "server.port") == "" {
		t.Errorf("span %q of %s has no server.address/server.port of the broker", s.Name(), s.Service)
	}
}

func TestApprovedCheckoutTraceCrossesTheBroker(t *testing.T) {
	st, collector := startStack(t, testenv.Options{Events: true})
	authz := st.Login(t, "ann")
	resp := st.Checkout(t, authz, "ann")
	if resp.Status != http.StatusCreated {
		t.Fatalf("checkout: %d %s", resp.Status, resp.Body)
	}
	var created order.Order
	resp.JSON(t, &created)
	msgID := messaging.SubjectOrderConfirmed + ":" + created.ID

	spans := waitFor(t, st, collector, "fulfillment's process span", func(spans []otlpsink.Span) bool {
		return len(named(spans, "fulfillment", "process order.confirmed")) > 0
	})
	root := only(t, spans, "gateway", "POST /api/checkout")
	trace := inTrace(spans, root.TraceID())

	// gateway → order → saga.confirm_order → publish (PRODUCER) → process
	// (CONSUMER, in fulfillment): one trace from the HTTP request to the
	// worker.
	orderServer := childOf(t, trace, childOf(t, trace, root, "gateway", "POST /v1/orders"), "order", "POST /v1/orders")
	confirm := childOf(t, trace, orderServer, "order", "saga.confirm_order")
	publish := childOf(t, trace, confirm, "order", "publish order.confirmed")
	checkSpan(t, publish, ptrace.SpanKindProducer, "order")
	checkMessaging(t, publish, "send", messaging.SubjectOrderConfirmed, msgID)
	if attr(publish, "messaging.nats.stream.name") != messaging.StreamOrders || attr(publish, "messaging.nats.stream.sequence") == "" {
		t.Errorf("publish span lacks the stream and sequence the broker acknowledged: %v", publish.Attributes().AsRaw())
	}
	process := childOf(t, trace, publish, "fulfillment", "process order.confirmed")
	checkSpan(t, process, ptrace.SpanKindConsumer, "fulfillment")
	checkMessaging(t, process, "process", messaging.SubjectOrderConfirmed, msgID)
	for key, want := range map[string]string{"messaging.nats.message.delivery_count": "1", "messaging.consumer.group.name": "fulfillment", "order.id": created.ID} {
		if got := attr(process, key); got != want {
			t.Errorf("process span %s = %q, want %q", key, got, want)
		}
	}
	if process.StartTimestamp() < publish.StartTimestamp() {
		t.Errorf("process starts before publish")
	}

	// The batch: a receive span in a trace of its own, linked to the
	// producer; the process span links back to it.
	if process.Links().Len() != 1 {
		t.Fatalf("process span has %d links, want 1 (its batch)", process.Links().Len())
	}
	batchLink := process.Links().At(0)
	var receive *otlpsink.Span
	for _, s := range named(spans, "fulfillment", "receive ORDERS") {
		if s.SpanID() == batchLink.SpanID() && s.TraceID() == batchLink.TraceID() {
			receive = &s
		}
	}
	if receive == nil {
		t.Fatalf("process span links to %s/%s, which is no receive span", batchLink.TraceID(), batchLink.SpanID())
	}
	checkSpan(t, *receive, ptrace.SpanKindClient, "fulfillment")
	if receive.TraceID() == root.TraceID() || !receive.ParentSpanID().IsEmpty() {
		t.Errorf("receive span should start a trace of its own")
	}
	if attr(*receive, "messaging.operation.type") != "receive" || attr(*receive, "messaging.batch.message_count") == "" {
		t.Errorf("receive span attributes: %v", receive.Attributes().AsRaw())
	}
	linked := false
	for _, l := range receive.Links().All() {
		linked = linked || (l.TraceID() == publish.TraceID() && l.SpanID() == publish.SpanID())
	}
	if !linked {
		t.Errorf("receive span does not link to the producer span of the message it fetched")
	}

	// The worker's logs carry the process span's ids; every resource names
	// its instance.
	shipped := onlyLog(t, logsInTrace(collector.LogRecords(), root.TraceID()), "fulfillment", "order shipped")
	if shipped.SpanID() != process.SpanID() {
		t.Errorf("\"order shipped\" log has span %s, want the process span %s", shipped.SpanID(), process.SpanID())
	}
	for _, s := range trace {
		if v, ok := s.Resource.Get("service.instance.id"); !ok || v.Str() == "" {
			t.Errorf("span %s of %s: resource has no service.instance.id", s.Name(), s.Service)
		}
	}
	if sh, ok := st.Fulfillment.Shipment(created.ID); !ok || sh.Status != fulfillment.StatusShipped {
		t.Errorf("shipment of %s: %+v, want shipped", created.ID, sh)
	}
}

func TestFailedCheckoutPublishesOrderCancelled(t *testing.T) {
	st, collector := startStack(t, testenv.Options{Events: true})
	authz := st.Login(t, "bob")
	resp := testenv.Do(t, http.MethodPost, st.GatewayURL+"/api/checkout", authz, testenv.CheckoutBody("bob", cards.AlwaysDeclined))
	orderID := resp.APIError(t).Details["order_id"]
	if resp.Status != http.StatusPaymentRequired || orderID == "" {
		t.Fatalf("declined checkout: %d %s", resp.Status, resp.Body)
	}
	spans := waitFor(t, st, collector, "order.cancelled processed", func(spans []otlpsink.Span) bool {
		return len(named(spans, "fulfillment", "process order.cancelled")) > 0
	})
	root := only(t, spans, "gateway", "POST /api/checkout")
	trace := inTrace(spans, root.TraceID())
	mark := only(t, trace, "order", "saga.compensate.mark_order_failed")
	publish := childOf(t, trace, mark, "order", "publish order.cancelled")
	checkMessaging(t, publish, "send", messaging.SubjectOrderCancelled, messaging.SubjectOrderCancelled+":"+orderID)
	childOf(t, trace, publish, "fulfillment", "process order.cancelled")
	if n := len(named(spans, "order", "publish order.confirmed")); n != 0 {
		t.Errorf("a declined checkout published %d order.confirmed events", n)
	}
	if sh, ok := st.Fulfillment.Shipment(orderID); !ok || sh.Status != fulfillment.StatusCancelled {
		t.Errorf("fulfillment record of %s: %+v, want cancelled", orderID, sh)
	}
}

// A message that fails on every delivery is delivered -max-deliveries
// times with back-off, then moved to the dead-letter stream; its trace
// shows each delivery and the dead-letter publish.
func TestPoisonMessageEndsInTheDeadLetterStream(t *testing.T) {
	const maxDeliveries = 3
	st, collector := startStack(t, testenv.Options{Events: true, ConfigureFulfillment: func(c *fulfillment.Config) {
		c.MaxDeliveries = maxDeliveries
	}})
	testenv.SetFaults(t, st.FulfillmentURL, map[string]any{"poison_sku": "sku-poison"})
	authz := st.Login(t, "cy")
	body := testenv.CheckoutBody("cy", cards.Approved)
	body["items"] = []map[string]any{{"sku": "sku-poison", "qty": 1, "price": 5}}
	resp := testenv.Do(t, http.MethodPost, st.GatewayURL+"/api/checkout", authz, body)
	if resp.Status != http.StatusCreated {
		t.Fatalf("checkout: %d %s", resp.Status, resp.Body)
	}
	var created order.Order
	resp.JSON(t, &created)

	// The dead letter, read from the broker itself.
	nc, err := nats.Connect(st.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var dead *jetstream.RawStreamMsg
	deadline := time.Now().Add(10 * time.Second)
	for dead == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if stream, err := js.Stream(ctx, messaging.StreamDeadLetters); err == nil {
			dead, _ = stream.GetLastMsgForSubject(ctx, messaging.DeadLetterPrefix+messaging.SubjectOrderConfirmed)
		}
		cancel()
		if dead == nil && time.Now().After(deadline) {
			t.Fatal("no message in the dead-letter stream after 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := dead.Header.Get(messaging.HeaderDeadLetterDeliveries); got != strconv.Itoa(maxDeliveries) {
		t.Errorf("dead letter after %s deliveries, want %d", got, maxDeliveries)
	}
	if got := dead.Header.Get(messaging.HeaderDeadLetterReason); !strings.Contains(got, "poison") {
		t.Errorf("dead letter reason %q does not say why", got)
	}
	if got := dead.Header.Get(jetstream.MsgIDHeader); got != messaging.SubjectOrderConfirmed+":"+created.ID {
		t.Errorf("dead letter Nats-Msg-Id %q, want the original message id", got)
	}
	if !strings.Contains(string(dead.Data), created.ID) {
		t.Errorf("dead letter body %s is not the original event", dead.Data)
	}

	spans := waitFor(t, st, collector, "the dead-letter publish span", func(spans []otlpsink.Span) bool {
		return len(named(spans, "fulfillment", "publish dlq.order.confirmed")) > 0
	})
	root := only(t, spans, "gateway", "POST /api/checkout")
	trace := inTrace(spans, root.TraceID())
	publish := only(t, trace, "order", "publish order.confirmed")
	deliveries := childrenOf(trace, publish, "fulfillment", "process order.confirmed")
	if len(deliveries) != maxDeliveries {
		t.Fatalf("%d process spans under the publish, want one per delivery (%d): %s", len(deliveries), maxDeliveries, describe(trace))
	}
	var counts []string
	for _, d := range deliveries {
		counts = append(counts, attr(d, "messaging.nats.message.delivery_count"))
		if d.Status().Code() != ptrace.StatusCodeError {
			t.Errorf("delivery %s is not marked failed", attr(d, "messaging.nats.message.delivery_count"))
		}
	}
	slices.Sort(counts)
	if fmt.Sprint(counts) != "[1 2 3]" {
		t.Errorf("delivery counts %v, want [1 2 3]", counts)
	}
	dlq := only(t, trace, "fulfillment", "publish dlq.order.confirmed")
	checkSpan(t, dlq, ptrace.SpanKindProducer, "fulfillment")
	var last otlpsink.Span
	for _, d := range deliveries {
		if attr(d, "messaging.nats.message.delivery_count") == "3" {
			last = d
		}
	}
	if dlq.ParentSpanID() != last.SpanID() {
		t.Errorf("dead-letter publish is not under the last delivery")
	}
	if attr(last, "messaging.nats.dead_lettered") != "true" {
		t.Errorf("last delivery does not say it was dead-lettered")
	}
	if _, ok := st.Fulfillment.Shipment(created.ID); ok {
		t.Errorf("the poison order was shipped")
	}
}

// With the broker away, a checkout still succeeds; its event waits in the
// outbox and is published (in the same trace) once the broker is back.
func TestEventsWaitForTheBroker(t *testing.T) {
	st, collector := startStack(t, testenv.Options{Events: true, ConfigureOrder: func(c *order.Config) {
		c.PublishTimeout = 200 * time.Millisecond
	}})
	authz := st.Login(t, "dee")
	restart := st.StopBroker(t)

	resp := st.Checkout(t, authz, "dee")
	if resp.Status != http.StatusCreated {
		t.Fatalf("checkout with the broker down: %d %s", resp.Status, resp.Body)
	}
	var created order.Order
	resp.JSON(t, &created)
	restart()

	spans := waitFor(t, st, collector, "the event processed after the broker came back", func(spans []otlpsink.Span) bool {
		return len(named(spans, "fulfillment", "process order.confirmed")) > 0
	})
	root := only(t, spans, "gateway", "POST /api/checkout")
	trace := inTrace(spans, root.TraceID())
	confirm := only(t, trace, "order", "saga.confirm_order")
	attempts := childrenOf(trace, confirm, "order", "publish order.confirmed")
	var failed, stored int
	for _, a := range attempts {
		if a.Status().Code() == ptrace.StatusCodeError {
			failed++
		} else {
			stored++
			childOf(t, trace, a, "fulfillment", "process order.confirmed")
		}
	}
	if failed == 0 || stored != 1 {
		t.Errorf("publish attempts: %d failed, %d stored; want at least one failed and exactly one stored", failed, stored)
	}
	if sh, ok := st.Fulfillment.Shipment(created.ID); !ok || sh.Status != fulfillment.StatusShipped {
		t.Errorf("order %s not shipped after the broker came back: %+v", created.ID, sh)
	}
}

// Two order and two payment replicas: checkouts spread over both, every
// lookup finds its order (it goes to the replica that holds it), and the
// response names the instances that served it.
func TestReplicasShareTheLoadAndNameThemselves(t *testing.T) {
	st, collector := startStack(t, testenv.Options{Replicas: 2})
	authz := st.Login(t, "eve")
	servedBy := map[string]int{}
	var ids []string
	for range 24 {
		resp := st.Checkout(t, authz, "eve")
		if resp.Status != http.StatusCreated {
			t.Fatalf("checkout: %d %s", resp.Status, resp.Body)
		}
		var created order.Order
		resp.JSON(t, &created)
		ids = append(ids, created.ID)
		entries := httpx.ParseServedBy(resp.Header.Get(httpx.ServedByHeader))
		if len(entries) < 4 || entries[0] != "gateway/gateway-1" {
			t.Fatalf("X-Served-By %q: want the gateway first, then auth, order and payment", resp.Header.Get(httpx.ServedByHeader))
		}
		for _, e := range entries {
			servedBy[e]++
		}
	}
	for _, instance := range []string{"order/order-1", "order/order-2", "payment/payment-1", "payment/payment-2"} {
		if servedBy[instance] == 0 {
			t.Errorf("%s served none of 24 checkouts: %v", instance, servedBy)
		}
	}
	for _, id := range ids {
		if resp := testenv.Do(t, http.MethodGet, st.GatewayURL+"/api/orders/"+id, authz, nil); resp.Status != http.StatusOK {
			t.Errorf("lookup of %s: %d %s", id, resp.Status, resp.Body)
		}
	}
	st.Flush(t)
	instances := map[string]bool{}
	for _, s := range named(collector.Spans(), "order", "POST /v1/orders") {
		v, _ := s.Resource.Get("service.instance.id")
		instances[v.Str()] = true
	}
	if !instances["order-1"] || !instances["order-2"] || len(instances) != 2 {
		t.Errorf("order server spans come from instances %v, want order-1 and order-2", instances)
	}
}

// A replica that goes away (SIGTERM) loses no checkout: the gateway sends
// its requests to the other one.
func TestGatewayFailsOverWhenAnOrderReplicaStops(t *testing.T) {
	st, collector := startStack(t, testenv.Options{Replicas: 2})
	authz := st.Login(t, "fin")
	st.StopOrder[0]()
	for range 10 {
		resp := st.Checkout(t, authz, "fin")
		if resp.Status != http.StatusCreated {
			t.Fatalf("checkout with order-1 stopped: %d %s", resp.Status, resp.Body)
		}
		if sb := resp.Header.Get(httpx.ServedByHeader); !strings.Contains(sb, "order/order-2") || strings.Contains(sb, "order/order-1") {
			t.Errorf("X-Served-By %q, want order-2 only", sb)
		}
	}
	st.Flush(t)
	// Every attempt at order-1 is a failed CLIENT span next to the one
	// that reached order-2.
	for _, s := range named(collector.Spans(), "gateway", "POST /v1/orders") {
		if s.Status().Code() == ptrace.StatusCodeError && !strings.HasSuffix(st.OrderURLs[0], ":"+attr(s, "server.port")) {
			t.Errorf("a failed attempt went to port %s, not to the stopped replica %s", attr(s, "server.port"), st.OrderURLs[0])
		}
	}
}

// The order id makes order's POST /v1/orders idempotent: the same request
// again returns the same order; another order under that id is refused.
func TestOrderIDMakesCreateIdempotent(t *testing.T) {
	st := testenv.StartStack(t, testenv.Options{})
	body := map[string]any{"order_id": "ord_fixed", "user": "gus", "card": cards.Approved,
		"items": []map[string]any{{"sku": "sku-fig", "qty": 1, "price_cents": 999}}}
	first := testenv.Do(t, http.MethodPost, st.OrderURL+"/v1/orders", nil, body)
	again := testenv.Do(t, http.MethodPost, st.OrderURL+"/v1/orders", nil, body)
	var a, b order.Order
	first.JSON(t, &a)
	again.JSON(t, &b)
	if first.Status != http.StatusCreated || again.Status != http.StatusCreated || a.ID != "ord_fixed" || a.ChargeID != b.ChargeID {
		t.Fatalf("repeat of one order: %d %s then %d %s; want the same order twice", first.Status, first.Body, again.Status, again.Body)
	}
	if again.Header.Get(order.ReplayedHeader) != "true" {
		t.Errorf("the repeat is not marked %s", order.ReplayedHeader)
	}
	if n := st.Payment.ChargesProcessed(); n != 1 {
		t.Errorf("payment processed %d charges, want 1", n)
	}
	body["user"] = "hal"
	other := testenv.Do(t, http.MethodPost, st.OrderURL+"/v1/orders", nil, body)
	if other.Status != http.StatusUnprocessableEntity || other.APIError(t).Code != "order_id_reused" {
		t.Errorf("another order under a used id: %d %s; want 422 order_id_reused", other.Status, other.Body)
	}
	bad := testenv.Do(t, http.MethodPost, st.OrderURL+"/v1/orders", nil, map[string]any{"order_id": "no spaces", "user": "x"})
	if bad.Status != http.StatusBadRequest || bad.APIError(t).Field != "order_id" {
		t.Errorf("a malformed order_id: %d %s; want 400 naming order_id", bad.Status, bad.Body)
	}
}

// A message that is not an order event can never be handled: it goes to
// the dead-letter stream on its first delivery, saying why, and the
// worker goes on with the next one.
func TestUndecodableMessageIsDeadLetteredAtOnce(t *testing.T) {
	st, _ := startStack(t, testenv.Options{Events: true})
	nc, err := nats.Connect(st.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, messaging.SubjectOrderConfirmed, []byte("{not json"), jetstream.WithMsgID("garbage-1")); err != nil {
		t.Fatal(err)
	}
	var dead *jetstream.RawStreamMsg
	for dead == nil && ctx.Err() == nil {
		if stream, err := js.Stream(ctx, messaging.StreamDeadLetters); err == nil {
			dead, _ = stream.GetLastMsgForSubject(ctx, messaging.DeadLetterPrefix+messaging.SubjectOrderConfirmed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if dead == nil {
		t.Fatal("the undecodable message is not in the dead-letter stream")
	}
	if d, reason := dead.Header.Get(messaging.HeaderDeadLetterDeliveries), dead.Header.Get(messaging.HeaderDeadLetterReason); d != "1" || !strings.Contains(reason, "not an order event") {
		t.Errorf("dead letter after %s deliveries, reason %q; want 1 and the decoding failure", d, reason)
	}
	// The worker still works.
	authz := st.Login(t, "ida")
	resp := st.Checkout(t, authz, "ida")
	var created order.Order
	resp.JSON(t, &created)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if sh, ok := st.Fulfillment.Shipment(created.ID); ok && sh.Status == fulfillment.StatusShipped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the next order was not shipped")
		}
	}
}
