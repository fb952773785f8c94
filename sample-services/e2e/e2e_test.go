package e2e_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/sample-services/internal/otlpsink"
	"github.com/tracehouse/tracehouse/sample-services/internal/testenv"
	"github.com/tracehouse/tracehouse/sample-services/order"
)

func startStack(t *testing.T, opts testenv.Options) (*testenv.Stack, *otlpsink.Collector) {
	t.Helper()
	collector := otlpsink.Start(t)
	opts.OTLPEndpoint = collector.Endpoint
	return testenv.StartStack(t, opts), collector
}

func TestCheckoutIsOneTraceAcrossAllServices(t *testing.T) {
	st, collector := startStack(t, testenv.Options{})
	authz := st.Login(t, "ann")

	resp := st.Checkout(t, authz, "ann")
	if resp.Status != http.StatusCreated {
		t.Fatalf("checkout: want 201, got %d %s", resp.Status, resp.Body)
	}
	var created order.Order
	resp.JSON(t, &created)
	if created.Status != order.StatusConfirmed || created.AmountCents != 2*125+999 {
		t.Fatalf("checkout created %+v; want a confirmed order of 1249 cents", created)
	}
	st.Flush(t)

	root := only(t, collector.Spans(), "gateway", "POST /api/checkout")
	spans := inTrace(collector.Spans(), root.TraceID())
	if !root.ParentSpanID().IsEmpty() {
		t.Errorf("gateway server span has parent %s; the trace should start at the gateway", root.ParentSpanID())
	}
	checkSpan(t, root, ptrace.SpanKindServer, "gateway")
	if got := attr(root, "http.response.status_code"); got != "201" {
		t.Errorf("gateway span http.response.status_code = %q, want 201", got)
	}
	if got := attr(root, "http.route"); got != "/api/checkout" {
		t.Errorf("gateway span http.route = %q, want /api/checkout", got)
	}
	if got := attr(root, "http.request.method"); got != "POST" {
		t.Errorf("gateway span http.request.method = %q, want POST", got)
	}

	// gateway -> auth
	authClient := childOf(t, spans, root, "gateway", "POST /v1/tokens/validate")
	checkSpan(t, authClient, ptrace.SpanKindClient, "gateway")
	authServer := childOf(t, spans, authClient, "auth", "POST /v1/tokens/validate")
	checkSpan(t, authServer, ptrace.SpanKindServer, "auth")

	// gateway -> order -> payment
	orderClient := childOf(t, spans, root, "gateway", "POST /v1/orders")
	checkSpan(t, orderClient, ptrace.SpanKindClient, "gateway")
	if got := attr(orderClient, "service.peer.name"); got != "order" {
		t.Errorf("order client span service.peer.name = %q, want order", got)
	}
	orderServer := childOf(t, spans, orderClient, "order", "POST /v1/orders")
	checkSpan(t, orderServer, ptrace.SpanKindServer, "order")
	for _, step := range []string{"saga.reserve_stock", "saga.charge_payment", "saga.confirm_order"} {
		checkSpan(t, childOf(t, spans, orderServer, "order", step), ptrace.SpanKindInternal, "order")
	}
	charge := childOf(t, spans, orderServer, "order", "saga.charge_payment")
	paymentClient := childOf(t, spans, charge, "order", "POST /v1/charges")
	checkSpan(t, paymentClient, ptrace.SpanKindClient, "order")
	paymentServer := childOf(t, spans, paymentClient, "payment", "POST /v1/charges")
	checkSpan(t, paymentServer, ptrace.SpanKindServer, "payment")
	if got := attr(paymentServer, "payment.idempotency_key"); got != created.ID {
		t.Errorf("payment idempotency key = %q, want the order id %q", got, created.ID)
	}
	for _, name := range []string{"saga.compensate.release_stock", "saga.compensate.mark_order_failed"} {
		if n := len(named(spans, "order", name)); n != 0 {
			t.Errorf("a successful checkout has %d %s spans, want none", n, name)
		}
	}

	// Every resource says which service, which version, which environment.
	for _, s := range spans {
		for _, key := range []string{"service.version", "deployment.environment", "deployment.environment.name"} {
			if _, ok := s.Resource.Get(key); !ok {
				t.Errorf("span %s of %s: resource has no %s", s.Name(), s.Service, key)
			}
		}
	}

	// Logs written while handling the checkout carry the ids of the span
	// that was active.
	logs := logsInTrace(collector.LogRecords(), root.TraceID())
	confirmed := onlyLog(t, logs, "order", "order confirmed")
	if confirmed.SpanID() != orderServer.SpanID() {
		t.Errorf("\"order confirmed\" log has span id %s, want the order server span %s", confirmed.SpanID(), orderServer.SpanID())
	}
	if confirmed.SeverityNumber() != plog.SeverityNumberInfo || confirmed.SeverityText() != "INFO" {
		t.Errorf("\"order confirmed\" severity = %s/%q, want INFO", confirmed.SeverityNumber(), confirmed.SeverityText())
	}
	if got := logAttr(confirmed, "order_id"); got != created.ID {
		t.Errorf("\"order confirmed\" order_id attribute = %q, want %q", got, created.ID)
	}
	charged := onlyLog(t, logs, "payment", "charge succeeded")
	if charged.SpanID() != paymentServer.SpanID() {
		t.Errorf("\"charge succeeded\" log has span id %s, want the payment server span %s", charged.SpanID(), paymentServer.SpanID())
	}
	served := onlyLog(t, logs, "gateway", "request served")
	if served.SpanID() != root.SpanID() {
		t.Errorf("gateway access log has span id %s, want the gateway server span %s", served.SpanID(), root.SpanID())
	}
	if got := logAttr(served, "http.response.status_code"); got != "201" {
		t.Errorf("gateway access log http.response.status_code = %q, want 201", got)
	}
	spanIDs := map[pcommon.SpanID]bool{}
	for _, s := range spans {
		spanIDs[s.SpanID()] = true
	}
	for _, rec := range logs {
		if !spanIDs[rec.SpanID()] {
			t.Errorf("log %q of %s points at span %s, which is not in the trace", rec.Body().Str(), rec.Service, rec.SpanID())
		}
	}
}

func TestDeclinedPaymentCompensatesTheSaga(t *testing.T) {
	st, collector := startStack(t, testenv.Options{})
	testenv.SetFaults(t, st.PaymentURL, map[string]any{"error_rate": 1})
	authz := st.Login(t, "bob")

	resp := st.Checkout(t, authz, "bob")
	if resp.Status != http.StatusPaymentRequired {
		t.Fatalf("checkout with every card declined: want 402, got %d %s", resp.Status, resp.Body)
	}
	apiErr := resp.APIError(t)
	orderID := apiErr.Details["order_id"]
	if apiErr.Code != "card_declined" || orderID == "" {
		t.Fatalf("want card_declined naming the order, got %+v", apiErr)
	}
	lookup := testenv.Do(t, http.MethodGet, st.GatewayURL+"/api/orders/"+orderID, authz, nil)
	var failed order.Order
	lookup.JSON(t, &failed)
	if lookup.Status != http.StatusOK || failed.Status != order.StatusFailed || !strings.Contains(failed.FailureReason, "card declined") {
		t.Fatalf("order after decline: %d %+v; want status failed with reason card declined", lookup.Status, failed)
	}
	st.Flush(t)

	root := only(t, collector.Spans(), "gateway", "POST /api/checkout")
	spans := inTrace(collector.Spans(), root.TraceID())
	orderServer := only(t, spans, "order", "POST /v1/orders")
	charge := childOf(t, spans, orderServer, "order", "saga.charge_payment")
	paymentServer := only(t, spans, "payment", "POST /v1/charges")
	for _, s := range []otlpsink.Span{root, orderServer, charge, paymentServer} {
		if s.Status().Code() != ptrace.StatusCodeError {
			t.Errorf("%s span of %s: status %s, want Error", s.Name(), s.Service, s.Status().Code())
		}
	}
	if !strings.Contains(charge.Status().Message(), "card declined") {
		t.Errorf("saga.charge_payment status message %q does not say card declined", charge.Status().Message())
	}
	release := childOf(t, spans, orderServer, "order", "saga.compensate.release_stock")
	markFailed := childOf(t, spans, orderServer, "order", "saga.compensate.mark_order_failed")
	for _, s := range []otlpsink.Span{release, markFailed} {
		checkSpan(t, s, ptrace.SpanKindInternal, "order")
	}
	if got := attr(release, "inventory.released_units"); got != "3" {
		t.Errorf("release_stock released %q units, want 3", got)
	}
	// Compensation runs newest step first: stock back, then the order.
	if release.StartTimestamp() > markFailed.StartTimestamp() {
		t.Errorf("release_stock started after mark_order_failed")
	}
	if n := len(named(spans, "order", "saga.confirm_order")); n != 0 {
		t.Errorf("a declined checkout has %d saga.confirm_order spans, want none", n)
	}

	logs := logsInTrace(collector.LogRecords(), root.TraceID())
	declined := onlyLog(t, logs, "payment", "card declined")
	if declined.SeverityNumber() != plog.SeverityNumberWarn || declined.SpanID() != paymentServer.SpanID() {
		t.Errorf("\"card declined\" log: severity %s span %s; want WARN on the payment server span %s",
			declined.SeverityNumber(), declined.SpanID(), paymentServer.SpanID())
	}
	released := onlyLog(t, logs, "order", "stock released")
	if released.SpanID() != release.SpanID() {
		t.Errorf("\"stock released\" log has span id %s, want the release_stock span %s", released.SpanID(), release.SpanID())
	}
}

func TestPaymentOutageOpensTheBreaker(t *testing.T) {
	const threshold = 3
	st, collector := startStack(t, testenv.Options{})
	// Three attempts per charge and a threshold of three: the first
	// checkout retries its way into an open breaker, the second is
	// short-circuited.
	testenv.SetFaults(t, st.OrderURL, map[string]any{
		"breaker_failure_threshold": threshold,
		"breaker_open_timeout":      "1h",
		"payment_attempts":          3,
		"retry_base_delay":          "1ms",
		"retry_max_delay":           "2ms",
	})
	testenv.SetFaults(t, st.PaymentURL, map[string]any{"outage": true})
	authz := st.Login(t, "cy")

	first := st.Checkout(t, authz, "cy")
	if first.Status != http.StatusServiceUnavailable || first.APIError(t).Code != "payment_unavailable" {
		t.Fatalf("checkout during outage: want 503 payment_unavailable, got %d %s", first.Status, first.Body)
	}
	if state := st.Order.Breaker().State; state != "open" {
		t.Fatalf("after %d failed payment calls the breaker is %q, want open", threshold, state)
	}
	second := st.Checkout(t, authz, "cy")
	if second.Status != http.StatusServiceUnavailable {
		t.Fatalf("checkout with the breaker open: want 503, got %d %s", second.Status, second.Body)
	}
	if !strings.Contains(second.APIError(t).Message, "circuit breaker open") {
		t.Errorf("503 with the breaker open does not say so: %s", second.Body)
	}
	if retryAfter, err := strconv.Atoi(second.Header.Get("Retry-After")); err != nil || retryAfter < 1 {
		t.Errorf("503 with the breaker open: Retry-After %q, want a positive number of seconds", second.Header.Get("Retry-After"))
	}
	st.Flush(t)

	all := collector.Spans()
	if n := len(named(all, "payment", "POST /v1/charges")); n != threshold {
		t.Errorf("payment served %d charge calls, want %d: none once the breaker is open", n, threshold)
	}
	roots := named(all, "gateway", "POST /api/checkout")
	if len(roots) != 2 {
		t.Fatalf("want 2 checkout traces, got %d", len(roots))
	}
	if roots[0].StartTimestamp() > roots[1].StartTimestamp() {
		roots[0], roots[1] = roots[1], roots[0]
	}
	firstTrace, secondTrace := inTrace(all, roots[0].TraceID()), inTrace(all, roots[1].TraceID())

	// First checkout: three attempts under one charge step, two backoffs.
	charge := only(t, firstTrace, "order", "saga.charge_payment")
	if n := len(childrenOf(firstTrace, charge, "order", "POST /v1/charges")); n != threshold {
		t.Errorf("first checkout made %d payment calls under saga.charge_payment, want %d", n, threshold)
	}
	retries := 0
	for _, ev := range charge.Events().All() {
		if ev.Name() == "payment.retry" {
			retries++
		}
	}
	if retries != threshold-1 {
		t.Errorf("saga.charge_payment has %d payment.retry events, want %d", retries, threshold-1)
	}

	// Second checkout: no call, a fallback span and a warning instead.
	if n := len(named(secondTrace, "order", "POST /v1/charges")); n != 0 {
		t.Errorf("checkout with the breaker open called payment %d times, want 0", n)
	}
	charge = only(t, secondTrace, "order", "saga.charge_payment")
	fallback := childOf(t, secondTrace, charge, "order", "payment.fallback")
	checkSpan(t, fallback, ptrace.SpanKindInternal, "order")
	if got := attr(fallback, "breaker.state"); got != "open" {
		t.Errorf("payment.fallback breaker.state = %q, want open", got)
	}
	if fallback.Status().Code() != ptrace.StatusCodeError {
		t.Errorf("payment.fallback status %s, want Error", fallback.Status().Code())
	}
	orderServer := only(t, secondTrace, "order", "POST /v1/orders")
	childOf(t, secondTrace, orderServer, "order", "saga.compensate.release_stock")
	childOf(t, secondTrace, orderServer, "order", "saga.compensate.mark_order_failed")

	warning := onlyLog(t, logsInTrace(collector.LogRecords(), roots[1].TraceID()), "order", "breaker open")
	if warning.SpanID() != fallback.SpanID() {
		t.Errorf("\"breaker open\" log has span id %s, want the fallback span %s", warning.SpanID(), fallback.SpanID())
	}
	if warning.SeverityNumber() != plog.SeverityNumberWarn || logAttr(warning, "breaker_state") != "open" {
		t.Errorf("\"breaker open\" log: severity %s breaker_state %q; want WARN and open",
			warning.SeverityNumber(), logAttr(warning, "breaker_state"))
	}
}

func TestBreakerStaysOpenAfterOutageUntilReset(t *testing.T) {
	// Turning the outage off does not close an open breaker by itself:
	// until breaker_open_timeout passes, order keeps failing fast. Changing
	// the breaker settings replaces the breaker, which is how an operator
	// closes it early.
	st, _ := startStack(t, testenv.Options{ConfigureOrder: func(c *order.Config) {
		c.Faults.BreakerFailureThreshold = 1
		c.Faults.PaymentAttempts = 1
	}})
	testenv.SetFaults(t, st.PaymentURL, map[string]any{"outage": true})
	authz := st.Login(t, "dee")
	if resp := st.Checkout(t, authz, "dee"); resp.Status != http.StatusServiceUnavailable {
		t.Fatalf("checkout during outage: want 503, got %d %s", resp.Status, resp.Body)
	}
	testenv.SetFaults(t, st.PaymentURL, map[string]any{"outage": false})
	if resp := st.Checkout(t, authz, "dee"); resp.Status != http.StatusServiceUnavailable {
		t.Fatalf("checkout right after the outage, breaker still open: want 503, got %d %s", resp.Status, resp.Body)
	}
	testenv.SetFaults(t, st.OrderURL, map[string]any{"breaker_failure_threshold": 2})
	if state := st.Order.Breaker().State; state != "closed" {
		t.Fatalf("breaker after new settings is %q, want closed", state)
	}
	if resp := st.Checkout(t, authz, "dee"); resp.Status != http.StatusCreated {
		t.Fatalf("checkout after the breaker was reset: want 201, got %d %s", resp.Status, resp.Body)
	}
}

func TestLogsWithoutASpanHaveNoTraceIDs(t *testing.T) {
	st, collector := startStack(t, testenv.Options{})
	// An admin change outside any trace context still starts a server
	// span, so its log has ids; the breaker's state change has no request
	// context at all, so its log must not invent one.
	testenv.SetFaults(t, st.OrderURL, map[string]any{"breaker_failure_threshold": 1, "payment_attempts": 1})
	testenv.SetFaults(t, st.PaymentURL, map[string]any{"outage": true})
	authz := st.Login(t, "eve")
	st.Checkout(t, authz, "eve")
	st.Flush(t)

	changed := onlyLog(t, logList(collector.LogRecords()), "order", "circuit breaker state changed")
	if !changed.TraceID().IsEmpty() || !changed.SpanID().IsEmpty() {
		t.Errorf("state-change log has trace %s span %s, want none", changed.TraceID(), changed.SpanID())
	}
	faultsChanged := onlyLog(t, logList(collector.LogRecords()), "payment", "faults changed")
	if faultsChanged.TraceID().IsEmpty() {
		t.Errorf("\"faults changed\" log has no trace id, want the admin request's")
	}
}

func TestCheckoutRejectsCardsWithoutCallingOrder(t *testing.T) {
	st, collector := startStack(t, testenv.Options{})
	authz := st.Login(t, "fay")
	resp := testenv.Do(t, http.MethodPost, st.GatewayURL+"/api/checkout", authz, testenv.CheckoutBody("fay", "4242424242424241"))
	if resp.Status != http.StatusBadRequest || resp.APIError(t).Field != "card" {
		t.Fatalf("checkout with a bad card: want 400 naming card, got %d %s", resp.Status, resp.Body)
	}
	st.Flush(t)
	if n := len(named(collector.Spans(), "order", "POST /v1/orders")); n != 0 {
		t.Errorf("order received %d requests for an invalid checkout, want 0", n)
	}
}

// --- helpers over received spans and logs ---

func named(spans []otlpsink.Span, service, name string) []otlpsink.Span {
	var out []otlpsink.Span
	for _, s := range spans {
		if s.Service == service && s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func only(t *testing.T, spans []otlpsink.Span, service, name string) otlpsink.Span {
	t.Helper()
	found := named(spans, service, name)
	if len(found) != 1 {
		t.Fatalf("want exactly one %q span from %s, got %d (of %d spans: %s)", name, service, len(found), len(spans), describe(spans))
	}
	return found[0]
}

func childrenOf(spans []otlpsink.Span, parent otlpsink.Span, service, name string) []otlpsink.Span {
	var out []otlpsink.Span
	for _, s := range named(spans, service, name) {
		if s.ParentSpanID() == parent.SpanID() && s.TraceID() == parent.TraceID() {
			out = append(out, s)
		}
	}
	return out
}

func childOf(t *testing.T, spans []otlpsink.Span, parent otlpsink.Span, service, name string) otlpsink.Span {
	t.Helper()
	found := childrenOf(spans, parent, service, name)
	if len(found) != 1 {
		t.Fatalf("want one %q span from %s under %q (%s), got %d; trace: %s",
			name, service, parent.Name(), parent.Service, len(found), describe(spans))
	}
	return found[0]
}

func inTrace(spans []otlpsink.Span, id pcommon.TraceID) []otlpsink.Span {
	var out []otlpsink.Span
	for _, s := range spans {
		if s.TraceID() == id {
			out = append(out, s)
		}
	}
	return out
}

func checkSpan(t *testing.T, s otlpsink.Span, kind ptrace.SpanKind, service string) {
	t.Helper()
	if s.Kind() != kind {
		t.Errorf("span %q: kind %s, want %s", s.Name(), s.Kind(), kind)
	}
	if s.Service != service {
		t.Errorf("span %q: service.name %q, want %q", s.Name(), s.Service, service)
	}
}

func attr(s otlpsink.Span, key string) string {
	if v, ok := s.Attributes().Get(key); ok {
		return v.AsString()
	}
	return ""
}

func describe(spans []otlpsink.Span) string {
	parts := make([]string, len(spans))
	for i, s := range spans {
		parts[i] = s.Service + ":" + s.Name()
	}
	return strings.Join(parts, ", ")
}

type logList []otlpsink.LogRecord

func logsInTrace(logs []otlpsink.LogRecord, id pcommon.TraceID) logList {
	var out logList
	for _, rec := range logs {
		if rec.TraceID() == id {
			out = append(out, rec)
		}
	}
	return out
}

func onlyLog(t *testing.T, logs logList, service, message string) otlpsink.LogRecord {
	t.Helper()
	var found []otlpsink.LogRecord
	for _, rec := range logs {
		if rec.Service == service && rec.Body().Str() == message {
			found = append(found, rec)
		}
	}
	if len(found) != 1 {
		var seen []string
		for _, rec := range logs {
			seen = append(seen, rec.Service+":"+rec.Body().Str())
		}
		t.Fatalf("want one %q log from %s, got %d (logs: %s)", message, service, len(found), strings.Join(seen, ", "))
	}
	return found[0]
}

func logAttr(rec otlpsink.LogRecord, key string) string {
	if v, ok := rec.Attributes().Get(key); ok {
		return v.AsString()
	}
	return ""
}
