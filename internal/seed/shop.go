package seed

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/writer"
)

// Shop is the sample shop under steady load, then with payment in an
// outage behind order's circuit breaker, as the sample services report it
// (sample-services/{gateway,order,payment}, internal/httpx): every checkout
// is a trace gateway → auth, gateway → order → payment with otelhttp CLIENT
// spans that name their peer (service.peer.name, peer.service), SERVER
// spans, order's saga steps, and an access log record "request served" per
// SERVER span whose error attribute holds the reason. During the outage
// payment answers 503 until BreakerFailures calls in a row failed; then the
// breaker is open and order answers with a payment.fallback span
// (breaker.name=payment) without calling payment, except for one trial
// call every BreakerOpen. Each checkout calls payment once (the sample's
// order retries a failed call; one attempt keeps the counts simple).
type Shop struct {
	Start  time.Time     // the first checkout
	Rate   float64       // checkouts per second
	Steady time.Duration // healthy load from Start
	Outage time.Duration // then payment answers 503
	// BreakerFailures failed calls in a row open the breaker, which
	// lets one trial call through every BreakerOpen. Zero values: 5, 10 s.
	BreakerFailures int
	BreakerOpen     time.Duration
	// TraceID's first byte, so two shops in one database do not collide.
	Prefix byte
}

// ShopCounts are what a Shop wrote, for checks.
type ShopCounts struct {
	Checkouts, Failed int
	// PaymentServed are payment's SERVER spans (calls that reached it);
	// PaymentAttempts order's CLIENT spans to it; ShortCircuits its
	// payment.fallback spans. OutageStart is when payment went down.
	PaymentServed, PaymentAttempts, ShortCircuits int
	OutageStart, End                              time.Time
	FailedTraces                                  []pcommon.TraceID
}

// Write generates the shop's traces and logs and writes them through w,
// one batch per minute of traffic.
func (s Shop) Write(ctx context.Context, w *writer.Writer) (ShopCounts, error) {
	if s.BreakerFailures == 0 {
		s.BreakerFailures = 5
	}
	if s.BreakerOpen == 0 {
		s.BreakerOpen = 10 * time.Second
	}
	every := time.Duration(float64(time.Second) / s.Rate)
	n := int((s.Steady + s.Outage) / every)
	c := ShopCounts{OutageStart: s.Start.Add(s.Steady)}
	g := &shopGen{shop: s}
	var failedInRow int
	var openedAt time.Time
	batch := newShopBatch()
	batchMinute := s.Start.Truncate(time.Minute)
	for i := 0; i < n; i++ {
		at := s.Start.Add(time.Duration(i) * every)
		if m := at.Truncate(time.Minute); m != batchMinute {
			if err := batch.write(ctx, w); err != nil {
				return c, err
			}
			batch, batchMinute = newShopBatch(), m
		}
		outage := !at.Before(c.OutageStart)
		// The breaker: closed until BreakerFailures failures in a row,
		// then open for BreakerOpen, then one trial call.
		mode := callPayment
		if !openedAt.IsZero() {
			if at.Sub(openedAt) < s.BreakerOpen {
				mode = shortCircuit
			} else {
				mode = trialCall
			}
		}
		res := g.checkout(batch, i, at, outage, mode)
		c.Checkouts++
		c.End = at.Add(res.duration)
		if res.failed {
			c.Failed++
			c.FailedTraces = append(c.FailedTraces, res.trace)
		}
		c.PaymentServed += res.paymentServed
		c.PaymentAttempts += res.paymentAttempts
		if mode == shortCircuit {
			c.ShortCircuits++
		}
		switch {
		case mode == shortCircuit:
		case res.paymentFailed && mode == trialCall:
			openedAt = at // the trial failed: open again
		case res.paymentFailed:
			if failedInRow++; failedInRow >= s.BreakerFailures {
				openedAt = at
			}
		default:
			failedInRow, openedAt = 0, time.Time{}
		}
	}
	return c, batch.write(ctx, w)
}

type breakerMode int

const (
	callPayment breakerMode = iota
	shortCircuit
	trialCall
)

// shopBatch is one batch of traces and logs, grouped by service.
type shopBatch struct {
	td    ptrace.Traces
	ld    plog.Logs
	spans map[string]ptrace.SpanSlice
	logs  map[string]plog.LogRecordSlice
}

func newShopBatch() *shopBatch {
	return &shopBatch{td: ptrace.NewTraces(), ld: plog.NewLogs(), spans: map[string]ptrace.SpanSlice{}, logs: map[string]plog.LogRecordSlice{}}
}

func (b *shopBatch) write(ctx context.Context, w *writer.Writer) error {
	if b.td.SpanCount() > 0 {
		if err := w.WriteTraces(ctx, b.td); err != nil {
			return err
		}
	}
	if b.ld.LogRecordCount() > 0 {
		return w.WriteLogs(ctx, b.ld)
	}
	return nil
}

func (b *shopBatch) serviceSpans(service string) ptrace.SpanSlice {
	s, ok := b.spans[service]
	if !ok {
		rs := b.td.ResourceSpans().AppendEmpty()
		resource(rs.Resource(), service, service+"-1")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("github.com/tracehouse/tracehouse/sample-services/" + service)
		s = ss.Spans()
		b.spans[service] = s
	}
	return s
}

func (b *shopBatch) serviceLogs(service string) plog.LogRecordSlice {
	l, ok := b.logs[service]
	if !ok {
		rl := b.ld.ResourceLogs().AppendEmpty()
		resource(rl.Resource(), service, service+"-1")
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("github.com/rs/zerolog")
		l = sl.LogRecords()
		b.logs[service] = l
	}
	return l
}

type shopGen struct {
	shop Shop
	seq  uint64
}

type checkoutResult struct {
	trace                          pcommon.TraceID
	duration                       time.Duration
	failed, paymentFailed          bool
	paymentServed, paymentAttempts int
}

// tracer writes the spans of one trace.
type tracer struct {
	g     *shopGen
	b     *shopBatch
	trace pcommon.TraceID
}

func (t *tracer) span(parent ptrace.Span, service, name string, kind ptrace.SpanKind, start time.Time, d time.Duration) ptrace.Span {
	sp := t.b.serviceSpans(service).AppendEmpty()
	t.g.seq++
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], t.g.seq)
	id[0] = t.trace[0]
	sp.SetTraceID(t.trace)
	sp.SetSpanID(id)
	if parent != (ptrace.Span{}) {
		sp.SetParentSpanID(parent.SpanID())
	}
	sp.SetName(name)
	sp.SetKind(kind)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(d)))
	return sp
}

// client is an otelhttp CLIENT span to peer; status >= 400 is an error,
// as otelhttp marks it.
func (t *tracer) client(parent ptrace.Span, service, peer, method, route string, start time.Time, d time.Duration, status int) ptrace.Span {
	sp := t.span(parent, service, method+" "+route, ptrace.SpanKindClient, start, d)
	a := sp.Attributes()
	a.PutStr("http.request.method", method)
	a.PutInt("http.response.status_code", int64(status))
	a.PutStr("service.peer.name", peer)
	a.PutStr("peer.service", peer)
	a.PutStr("server.address", "127.0.0.1")
	if status >= 400 {
		sp.Status().SetCode(ptrace.StatusCodeError)
		a.PutStr("error.type", fmt.Sprint(status))
	}
	return sp
}

// server is an httpx SERVER span and its access log: errors for 5xx, with
// the reason in the record's error attribute.
func (t *tracer) server(parent ptrace.Span, service, method, route string, start time.Time, d time.Duration, status int, reason string) ptrace.Span {
	sp := t.span(parent, service, method+" "+route, ptrace.SpanKindServer, start, d)
	a := sp.Attributes()
	a.PutStr("http.request.method", method)
	a.PutStr("http.route", route)
	a.PutInt("http.response.status_code", int64(status))
	if status >= 500 {
		sp.Status().SetCode(ptrace.StatusCodeError)
		sp.Status().SetMessage(reason)
	}
	r := t.log(sp, service, start.Add(d), plog.SeverityNumberInfo, "request served")
	r.Attributes().PutStr("http.request.method", method)
	r.Attributes().PutStr("http.route", route)
	r.Attributes().PutInt("http.response.status_code", int64(status))
	r.Attributes().PutDouble("duration_ms", float64(d.Microseconds())/1000)
	if status >= 500 {
		r.SetSeverityNumber(plog.SeverityNumberError)
		r.SetSeverityText("error")
		r.Attributes().PutStr("error", reason)
	}
	return sp
}

func (t *tracer) log(sp ptrace.Span, service string, at time.Time, sev plog.SeverityNumber, body string) plog.LogRecord {
	r := t.b.serviceLogs(service).AppendEmpty()
	r.SetTimestamp(pcommon.NewTimestampFromTime(at))
	r.SetObservedTimestamp(pcommon.NewTimestampFromTime(at.Add(2 * time.Millisecond)))
	r.SetSeverityNumber(sev)
	r.SetSeverityText(map[plog.SeverityNumber]string{plog.SeverityNumberInfo: "info", plog.SeverityNumberWarn: "warn", plog.SeverityNumberError: "error"}[sev])
	r.Body().SetStr(body)
	r.SetTraceID(sp.TraceID())
	r.SetSpanID(sp.SpanID())
	return r
}

// The sample services' error texts.
const (
	paymentDown     = "503 unavailable: payment is in a simulated outage; end it with PUT /admin/faults {\"outage\":false}"
	orderPaymentErr = "payment service POST /v1/charges: " + paymentDown
	breakerOpenErr  = "payment circuit breaker is open; payment not attempted"
	orderFailed     = "503 payment_unavailable: payment is unavailable (circuit breaker open); order failed and nothing was charged; retry later"
)

func (g *shopGen) checkout(b *shopBatch, i int, at time.Time, outage bool, mode breakerMode) checkoutResult {
	var id pcommon.TraceID
	id[0] = g.shop.Prefix
	id[1] = 0x5b
	binary.BigEndian.PutUint64(id[8:], uint64(i)+1)
	t := &tracer{g: g, b: b, trace: id}
	ms := time.Millisecond
	res := checkoutResult{trace: id}

	// Order's part first: its length decides the others'.
	orderStart := at.Add(4 * ms)
	var payDur time.Duration
	var payStatus int
	switch {
	case !outage && mode != shortCircuit:
		payDur, payStatus = time.Duration(18+i%7)*ms, 201
	case mode == shortCircuit:
		payDur = 40 * time.Microsecond
	default:
		payDur, payStatus = time.Duration(2+i%3)*ms, 503
	}
	orderDur := payDur + 6*ms
	root := t.span(ptrace.Span{}, "gateway", "POST /api/checkout", ptrace.SpanKindServer, at, orderDur+8*ms)
	total := orderDur + 8*ms
	res.duration = total

	validate := t.client(root, "gateway", "auth", "POST", "/v1/tokens/validate", at.Add(ms/2), 2*ms, 200)
	t.server(validate, "auth", "POST", "/v1/tokens/validate", at.Add(ms/2+100*time.Microsecond), ms+ms/2, 200, "")

	failed := outage
	orderStatus, gwStatus := 201, 201
	if failed {
		orderStatus, gwStatus = 503, 503
	}
	orderClient := t.client(root, "gateway", "order", "POST", "/v1/orders", orderStart, orderDur, orderStatus)
	orderServer := t.server(orderClient, "order", "POST", "/v1/orders", orderStart.Add(100*time.Microsecond), orderDur-200*time.Microsecond, orderStatus, orderFailed)
	t.span(orderServer, "order", "saga.reserve_stock", ptrace.SpanKindInternal, orderStart.Add(ms/2), 20*time.Microsecond)
	t.log(orderServer, "order", orderStart.Add(ms), plog.SeverityNumberInfo, "order created")
	charge := t.span(orderServer, "order", "saga.charge_payment", ptrace.SpanKindInternal, orderStart.Add(ms), payDur+ms)
	payStart := orderStart.Add(ms + 200*time.Microsecond)
	if mode == shortCircuit {
		fb := t.span(charge, "order", "payment.fallback", ptrace.SpanKindInternal, payStart, payDur)
		fb.Attributes().PutStr("breaker.name", "payment")
		fb.Attributes().PutStr("breaker.state", "open")
		fb.Status().SetCode(ptrace.StatusCodeError)
		fb.Status().SetMessage(breakerOpenErr)
		t.log(fb, "order", payStart, plog.SeverityNumberWarn, "breaker open").Attributes().PutStr("breaker", "payment")
		res.paymentFailed = true
	} else {
		call := t.client(charge, "order", "payment", "POST", "/v1/charges", payStart, payDur, payStatus)
		reason := ""
		if payStatus >= 500 {
			reason = paymentDown
		}
		pay := t.server(call, "payment", "POST", "/v1/charges", payStart.Add(200*time.Microsecond), payDur-400*time.Microsecond, payStatus, reason)
		res.paymentServed++
		res.paymentAttempts++
		if payStatus >= 500 {
			res.paymentFailed = true
			r := t.log(call, "order", payStart.Add(payDur), plog.SeverityNumberWarn, "payment call failed, retrying")
			r.Attributes().PutStr("error", orderPaymentErr)
		} else {
			t.log(pay, "payment", payStart.Add(payDur/2), plog.SeverityNumberInfo, "charge succeeded")
		}
	}
	if failed {
		charge.Status().SetCode(ptrace.StatusCodeError)
		end := charge.EndTimestamp().AsTime()
		t.span(orderServer, "order", "saga.compensate.release_stock", ptrace.SpanKindInternal, end, 15*time.Microsecond)
		t.span(orderServer, "order", "saga.compensate.mark_order_failed", ptrace.SpanKindInternal, end.Add(20*time.Microsecond), 2*time.Microsecond)
		r := t.log(orderServer, "order", end.Add(30*time.Microsecond), plog.SeverityNumberWarn, "order failed, saga compensated")
		r.Attributes().PutStr("error", breakerOpenErr)
	} else {
		t.span(orderServer, "order", "saga.confirm_order", ptrace.SpanKindInternal, charge.EndTimestamp().AsTime(), 10*time.Microsecond)
	}
	gwReason := ""
	if failed {
		root.Status().SetCode(ptrace.StatusCodeError)
		gwReason = orderFailed
	}
	root.Attributes().PutStr("http.request.method", "POST")
	root.Attributes().PutStr("http.route", "/api/checkout")
	root.Attributes().PutInt("http.response.status_code", int64(gwStatus))
	r := t.log(root, "gateway", at.Add(total), plog.SeverityNumberInfo, "request served")
	r.Attributes().PutStr("http.route", "/api/checkout")
	r.Attributes().PutInt("http.response.status_code", int64(gwStatus))
	if failed {
		r.SetSeverityNumber(plog.SeverityNumberError)
		r.SetSeverityText("error")
		r.Attributes().PutStr("error", gwReason)
	}
	res.failed = failed
	return res
}
