package e2e

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/internal/seed"
	"github.com/tracehouse/tracehouse/storage/writer"
)

// Seed is what the browser tests are told about the seeded data.
type Seed struct {
	Checkout      []SeedTrace `json:"checkout"`
	Health        []SeedTrace `json:"health"`
	Big           SeedTrace   `json:"big"`
	Services      []string    `json:"services"`
	Edges         [][2]string `json:"edges"`
	DeclinedLogs  int         `json:"declinedLogs"`  // payment error records saying "card declined"
	UntracedLogs  int         `json:"untracedLogs"`  // records without a trace id
	BadQuery      string      `json:"badQuery"`      // a logs query the API rejects
	SearchService string      `json:"searchService"` // service whose search finds every checkout trace
	// Now (epoch ms) is the query service's clock: when the data was
	// written.
	Now int64 `json:"now"`
	// FixturesStart and FixturesEnd (epoch ms) bound the traces above;
	// the shop's traffic comes after them.
	FixturesStart int64 `json:"fixturesStart"`
	FixturesEnd   int64 `json:"fixturesEnd"`
	// Shop is the sample shop's traffic over the last minutes: steady load,
	// then payment in an outage behind order's breaker.
	Shop SeedShop `json:"shop"`
	// Async is a checkout whose order event goes through a broker to the
	// fulfillment worker, with redeliveries and span links.
	Async SeedAsync `json:"async"`
}

// SeedAsync describes the checkouts that cross the broker: trace A
// (served by order-1) publishes order.confirmed, which fulfillment fails
// twice and handles on the third delivery; trace B (order-2) is handled on
// its first. Every delivery's process span links to the receive span of
// the fetch that brought it, in a trace of its own (Receive for the first
// fetch, which brought both messages; its span links to both publishes).
type SeedAsync struct {
	Trace        string   `json:"trace"`
	TraceB       string   `json:"traceB"`
	Spans        int      `json:"spans"`
	PublishSpan  string   `json:"publishSpan"`
	Deliveries   []string `json:"deliveries"`   // process spans of trace A, in order
	QueueDelayMs []int    `json:"queueDelayMs"` // of each delivery: its start − the publish's start
	Receive      string   `json:"receive"`      // the first fetch's trace
	ReceiveSpan  string   `json:"receiveSpan"`
	Destination  string   `json:"destination"`
	Instances    []string `json:"instances"` // order's: A's, then B's
	// Poison is a third checkout (order-2) whose event fails on each of
	// its three deliveries and goes to the dead-letter subject: fulfillment
	// publishes it to DeadLetter under the last delivery.
	Poison           string   `json:"poison"`
	PoisonDeliveries []string `json:"poisonDeliveries"`
	DeadLetter       string   `json:"deadLetter"`
	DeadLetterSpan   string   `json:"deadLetterSpan"`
}

// SeedShop describes the shop's traffic.
type SeedShop struct {
	Start         int64   `json:"start"` // epoch ms
	OutageStart   int64   `json:"outageStart"`
	End           int64   `json:"end"`
	Rate          float64 `json:"rate"`
	Checkouts     int     `json:"checkouts"`
	Failed        int     `json:"failed"`
	ShortCircuits int     `json:"shortCircuits"`
	// Two checkouts, before and during the outage.
	OKTrace     string `json:"okTrace"`
	FailedTrace string `json:"failedTrace"`
	// Arriving is the last checkout, whose spans ended less than the
	// service's arrival window before its clock; NoRoot a trace whose
	// root span never came.
	Arriving string `json:"arriving"`
	NoRoot   string `json:"noRoot"`
	// OutageText is in the error attribute of the outage's error logs,
	// never in their body.
	OutageText string `json:"outageText"`
}

// SeedTrace is one seeded trace.
type SeedTrace struct {
	ID     string `json:"id"`
	Spans  int    `json:"spans"`
	Logs   int    `json:"logs"`
	Errors int    `json:"errors"`
	Root   string `json:"root"` // service: operation
}

// traceBuilder builds one trace's spans, grouped by service.
type traceBuilder struct {
	td    ptrace.Traces
	spans map[string]ptrace.SpanSlice
	// instance is service.instance.id by service, for the services that
	// have one.
	instance map[string]string
	id       pcommon.TraceID
	base     time.Time
	seq      uint32
	traceNum uint32
	count    int
	errors   int
}

func newTrace(num uint32, prefix byte, base time.Time) *traceBuilder {
	var id pcommon.TraceID
	id[0] = prefix
	id[1] = 0x5e
	binary.BigEndian.PutUint32(id[12:], num)
	for i := 2; i < 12; i++ {
		id[i] = byte(i*17) ^ byte(num)
	}
	return &traceBuilder{td: ptrace.NewTraces(), spans: map[string]ptrace.SpanSlice{}, id: id, base: base, traceNum: num}
}

func (b *traceBuilder) hexID() string { return hex.EncodeToString(b.id[:]) }

func (b *traceBuilder) slice(service string) ptrace.SpanSlice {
	if s, ok := b.spans[service]; ok {
		return s
	}
	rs := b.td.ResourceSpans().AppendEmpty()
	attrs := rs.Resource().Attributes()
	attrs.PutStr("service.name", service)
	attrs.PutStr("service.version", "1.4.2")
	attrs.PutStr("deployment.environment", "e2e")
	attrs.PutStr("host.name", service+"-7c9f")
	attrs.PutInt("process.pid", int64(4000+len(service)))
	if id := b.instance[service]; id != "" {
		attrs.PutStr("service.instance.id", id)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/tracehouse/sample-services/" + service)
	ss.Scope().SetVersion("0.1.0")
	b.spans[service] = ss.Spans()
	return ss.Spans()
}

func (b *traceBuilder) span(parent ptrace.Span, service, name string, kind ptrace.SpanKind, offset, dur time.Duration) ptrace.Span {
	sp := b.slice(service).AppendEmpty()
	b.seq++
	b.count++
	var sid pcommon.SpanID
	binary.BigEndian.PutUint32(sid[:4], b.traceNum+0x1000)
	binary.BigEndian.PutUint32(sid[4:], b.seq)
	sp.SetTraceID(b.id)
	sp.SetSpanID(sid)
	if parent != (ptrace.Span{}) {
		sp.SetParentSpanID(parent.SpanID())
	}
	sp.SetName(name)
	sp.SetKind(kind)
	start := b.base.Add(offset)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(dur)))
	sp.Status().SetCode(ptrace.StatusCodeOk)
	return sp
}

func (b *traceBuilder) fail(sp ptrace.Span, msg, excType string, at time.Duration) {
	b.errors++
	sp.Status().SetCode(ptrace.StatusCodeError)
	sp.Status().SetMessage(msg)
	ev := sp.Events().AppendEmpty()
	ev.SetName("exception")
	ev.SetTimestamp(pcommon.NewTimestampFromTime(b.base.Add(at)))
	ev.Attributes().PutStr("exception.type", excType)
	ev.Attributes().PutStr("exception.message", msg)
}

// logBuilder builds log records grouped by service.
type logBuilder struct {
	ld      plog.Logs
	records map[string]plog.LogRecordSlice
}

func newLogs() *logBuilder {
	return &logBuilder{ld: plog.NewLogs(), records: map[string]plog.LogRecordSlice{}}
}

func (l *logBuilder) add(service string, at time.Time, sev plog.SeverityNumber, sevText, body string, sp *ptrace.Span) plog.LogRecord {
	recs, ok := l.records[service]
	if !ok {
		rl := l.ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", service)
		rl.Resource().Attributes().PutStr("host.name", service+"-7c9f")
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("github.com/rs/zerolog")
		recs = sl.LogRecords()
		l.records[service] = recs
	}
	r := recs.AppendEmpty()
	r.SetTimestamp(pcommon.NewTimestampFromTime(at))
	r.SetObservedTimestamp(pcommon.NewTimestampFromTime(at.Add(3 * time.Millisecond)))
	r.SetSeverityNumber(sev)
	r.SetSeverityText(sevText)
	r.Body().SetStr(body)
	if sp != nil {
		r.SetTraceID(sp.TraceID())
		r.SetSpanID(sp.SpanID())
	}
	return r
}

// seedData writes the traces and logs the browser tests look for: checkout
// requests across gateway → auth, gateway → order → payment (every third
// declined by payment), health checks, logs under their spans, and one
// 10,000-span batch trace, from 50 to 13 minutes before now; then the sample
// shop's traffic over the last 10 minutes (internal/seed.Shop): 5
// checkouts/s, payment in an outage behind order's breaker for the last 6,
// and a trace whose root never came. Times are relative to now (the query
// service's clock in these tests) so that the UI's default "last hour"
// shows them.
func seedData(t *testing.T, w *writer.Writer, now time.Time) Seed {
	t.Helper()
	ctx := context.Background()
	seed := Seed{
		Services:      []string{"auth", "gateway", "order", "payment"},
		Edges:         [][2]string{{"gateway", "auth"}, {"gateway", "order"}, {"order", "payment"}},
		BadQuery:      `service:payment AND (level:error OR "card`,
		SearchService: "gateway",
	}
	logs := newLogs()
	const ms = time.Millisecond
	for i := 0; i < 6; i++ {
		b := newTrace(uint32(i+1), 0xc0, now.Add(-50*time.Minute+time.Duration(i)*7*time.Minute))
		pay := time.Duration(40+i*35) * ms
		orderDur := pay + 30*ms
		total := 28*ms + orderDur + 12*ms
		root := b.span(ptrace.Span{}, "gateway", "GET /checkout", ptrace.SpanKindServer, 0, total)
		root.Attributes().PutStr("http.request.method", "GET")
		root.Attributes().PutStr("url.path", "/checkout")
		if i%3 != 0 {
			root.Attributes().PutInt("http.response.status_code", 200)
		}
		root.Attributes().PutStr("user.id", fmt.Sprintf("u-%d", 40+i))
		root.Attributes().PutBool("feature.fast_checkout", i%2 == 0)
		root.Attributes().PutDouble("cart.total", 19.5+float64(i)*10.25)
		authC := b.span(root, "gateway", "auth.verify", ptrace.SpanKindClient, 2*ms, 20*ms)
		authS := b.span(authC, "auth", "POST /verify", ptrace.SpanKindServer, 3*ms, 18*ms)
		db := b.span(authS, "auth", "SELECT users", ptrace.SpanKindClient, 5*ms, 10*ms)
		db.Attributes().PutStr("db.system", "clickhouse")
		db.Attributes().PutStr("db.statement", "SELECT id, plan FROM users WHERE token = ?")
		orderC := b.span(root, "gateway", "order.create", ptrace.SpanKindClient, 25*ms, orderDur)
		orderS := b.span(orderC, "order", "POST /orders", ptrace.SpanKindServer, 26*ms, orderDur-2*ms)
		orderS.Attributes().PutInt("order.items", int64(1+i))
		b.span(orderS, "order", "INSERT orders", ptrace.SpanKindClient, 28*ms, 8*ms)
		payC := b.span(orderS, "order", "payment.charge", ptrace.SpanKindClient, 38*ms, pay)
		payS := b.span(payC, "payment", "POST /charge", ptrace.SpanKindServer, 39*ms, pay-2*ms)
		fraud := b.span(payS, "payment", "fraud.check", ptrace.SpanKindInternal, 41*ms, pay/3)
		fraud.Attributes().PutDouble("fraud.score", 0.12+float64(i)/20)
		b.span(root, "gateway", "render response", ptrace.SpanKindInternal, total-10*ms, 9*ms)
		// Work in parallel with longer siblings: off the critical path.
		cart := b.span(root, "gateway", "load cart", ptrace.SpanKindInternal, 3*ms, 9*ms)
		cart.Attributes().PutStr("cache.hit", "true")
		b.span(orderS, "order", "publish order.created", ptrace.SpanKindProducer, 40*ms, 6*ms)
		declined := i%3 == 0
		if declined {
			b.fail(payS, "card declined: insufficient funds", "PaymentDeclined", 39*ms+pay-4*ms)
			for _, sp := range []ptrace.Span{payC, orderS, orderC, root} {
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage("payment declined (402)")
				b.errors++
			}
			root.Attributes().PutInt("http.response.status_code", 402)
		} else {
			b.span(payS, "payment", "ledger.write", ptrace.SpanKindClient, 41*ms+pay/3+ms, pay/4)
		}
		st := SeedTrace{ID: b.hexID(), Spans: b.count, Errors: b.errors, Root: "gateway: GET /checkout"}
		at := func(d time.Duration) time.Time { return b.base.Add(d) }
		logs.add("gateway", at(1*ms), plog.SeverityNumberInfo, "INFO", fmt.Sprintf("checkout request received for user u-%d", 40+i), &root).Attributes().PutStr("http.route", "/checkout")
		logs.add("auth", at(9*ms), plog.SeverityNumberDebug, "DEBUG", "token verified", &authS).Attributes().PutInt("user.plan", 2)
		logs.add("order", at(30*ms), plog.SeverityNumberInfo, "INFO", fmt.Sprintf("order %d created with %d items", 1000+i, 1+i), &orderS)
		st.Logs = 3
		if declined {
			r := logs.add("payment", at(39*ms+pay-4*ms), plog.SeverityNumberError, "ERROR", fmt.Sprintf("card declined for order %d: insufficient funds", 1000+i), &payS)
			r.Attributes().PutStr("payment.provider", "acme-pay")
			r.Attributes().PutInt("http.response.status_code", 402)
			logs.add("gateway", at(total-5*ms), plog.SeverityNumberWarn, "WARN", "checkout failed: payment declined", &root)
			st.Logs += 2
			seed.DeclinedLogs++
		} else {
			logs.add("payment", at(39*ms+pay-4*ms), plog.SeverityNumberInfo, "INFO", fmt.Sprintf("charge approved for order %d", 1000+i), &payS)
			st.Logs++
		}
		// A record with the trace id but no span: it belongs to the trace,
		// not to a span.
		r := logs.add("gateway", at(total+2*ms), plog.SeverityNumberInfo, "INFO", "access log: GET /checkout 200", nil)
		r.SetTraceID(b.id)
		st.Logs++
		if err := w.WriteTraces(ctx, b.td); err != nil {
			t.Fatalf("seed checkout trace %d: %v", i, err)
		}
		seed.Checkout = append(seed.Checkout, st)
	}
	for i := 0; i < 2; i++ {
		b := newTrace(uint32(100+i), 0xbe, now.Add(-20*time.Minute+time.Duration(i)*time.Minute))
		b.span(ptrace.Span{}, "gateway", "GET /health", ptrace.SpanKindServer, 0, time.Duration(300+100*i)*time.Microsecond)
		if err := w.WriteTraces(ctx, b.td); err != nil {
			t.Fatal(err)
		}
		seed.Health = append(seed.Health, SeedTrace{ID: b.hexID(), Spans: 1, Root: "gateway: GET /health"})
	}

	// The 10,000-span trace: a batch request fanning out to 99 order calls,
	// each charging 100 items.
	big := newTrace(7777, 0xb1, now.Add(-13*time.Minute))
	root := big.span(ptrace.Span{}, "gateway", "POST /batch", ptrace.SpanKindServer, 0, 5200*ms)
	for i := 0; i < 99; i++ {
		off := time.Duration(i) * 52 * ms
		o := big.span(root, "order", "POST /items", ptrace.SpanKindServer, off+ms, 50*ms)
		o.Attributes().PutInt("batch.index", int64(i))
		for j := 0; j < 100; j++ {
			big.span(o, "payment", "charge item", ptrace.SpanKindServer, off+ms+time.Duration(j)*490*time.Microsecond, 450*time.Microsecond)
		}
	}
	bigRoot := root
	logs.add("gateway", big.base.Add(2*ms), plog.SeverityNumberInfo, "INFO", "batch of 9900 items accepted", &bigRoot)
	if err := w.WriteTraces(ctx, big.td); err != nil {
		t.Fatalf("seed the 10,000-span trace: %v", err)
	}
	seed.Big = SeedTrace{ID: big.hexID(), Spans: big.count, Logs: 1, Root: "gateway: POST /batch"}

	// Records without a trace.
	logs.add("order", now.Add(-30*time.Minute), plog.SeverityNumberInfo, "INFO", "order service started on :8002", nil)
	logs.add("payment", now.Add(-29*time.Minute), plog.SeverityNumberWarn, "WARN", "acme-pay latency above 200ms", nil)
	seed.UntracedLogs = 2
	if err := w.WriteLogs(ctx, logs.ld); err != nil {
		t.Fatalf("seed logs: %v", err)
	}
	seed.Now = now.UnixMilli()
	seed.FixturesStart = now.Add(-55 * time.Minute).UnixMilli()
	seed.FixturesEnd = now.Add(-11 * time.Minute).UnixMilli()
	seed.Shop = seedShop(t, w, now)
	seed.Async = seedAsync(t, w, now.Add(-17*time.Minute))
	seed.Services = append(seed.Services, "fulfillment")
	return seed
}

// seedAsync writes the checkouts that cross the broker (SeedAsync), each
// service's spans in a batch of its own, the consumer's first, as
// exporters send them.
func seedAsync(t *testing.T, w *writer.Writer, base time.Time) SeedAsync {
	t.Helper()
	ctx := context.Background()
	const ms = time.Millisecond
	out := SeedAsync{Destination: "order.confirmed", Instances: []string{"order-1", "order-2"}}
	messaging := func(sp ptrace.Span, op, msgID string) {
		a := sp.Attributes()
		a.PutStr("messaging.system", "nats")
		a.PutStr("messaging.operation.name", op)
		a.PutStr("messaging.destination.name", "order.confirmed")
		a.PutStr("messaging.message.id", msgID)
	}
	checkout := func(num uint32, offset time.Duration, instance string) (*traceBuilder, ptrace.Span) {
		b := newTrace(num, 0xa5, base.Add(offset))
		b.instance = map[string]string{"order": instance, "gateway": "gateway-1", "fulfillment": "fulfillment-1"}
		root := b.span(ptrace.Span{}, "gateway", "POST /api/checkout", ptrace.SpanKindServer, 0, 60*ms)
		call := b.span(root, "gateway", "POST /v1/orders", ptrace.SpanKindClient, 5*ms, 50*ms)
		call.Attributes().PutStr("service.peer.name", "order")
		server := b.span(call, "order", "POST /v1/orders", ptrace.SpanKindServer, 6*ms, 48*ms)
		confirm := b.span(server, "order", "saga.confirm_order", ptrace.SpanKindInternal, 40*ms, 12*ms)
		pub := b.span(confirm, "order", "publish order.confirmed", ptrace.SpanKindProducer, 42*ms, 5*ms)
		messaging(pub, "publish", fmt.Sprintf("order.confirmed:ord_%d", num))
		pub.Attributes().PutStr("messaging.operation.type", "send")
		return b, pub
	}
	a, pubA := checkout(1, 0, "order-1")
	bb, pubB := checkout(2, 10*ms, "order-2")
	out.Trace, out.TraceB, out.PublishSpan = a.hexID(), bb.hexID(), pubA.SpanID().String()

	// The fetches: each a trace of its own, linked to the messages' publishes.
	receive := func(num uint32, at time.Duration, pubs ...ptrace.Span) (*traceBuilder, ptrace.Span) {
		r := newTrace(num, 0xa7, base)
		r.instance = map[string]string{"fulfillment": "fulfillment-1"}
		sp := r.span(ptrace.Span{}, "fulfillment", "receive ORDERS", ptrace.SpanKindClient, at, 3*ms)
		sp.Attributes().PutStr("messaging.system", "nats")
		sp.Attributes().PutStr("messaging.operation.type", "receive")
		sp.Attributes().PutInt("messaging.batch.message_count", int64(len(pubs)))
		for _, p := range pubs {
			l := sp.Links().AppendEmpty()
			l.SetTraceID(p.TraceID())
			l.SetSpanID(p.SpanID())
			l.Attributes().PutStr("messaging.destination.name", "order.confirmed")
		}
		return r, sp
	}
	deliver := func(b *traceBuilder, pub, batch ptrace.Span, at, dur time.Duration, n int, fail bool) ptrace.Span {
		d := b.span(pub, "fulfillment", "process order.confirmed", ptrace.SpanKindConsumer, at, dur)
		messaging(d, "process", fmt.Sprintf("order.confirmed:ord_%d", b.traceNum))
		d.Attributes().PutStr("messaging.operation.type", "process")
		d.Attributes().PutInt("messaging.nats.message.delivery_count", int64(n))
		l := d.Links().AppendEmpty()
		l.SetTraceID(batch.TraceID())
		l.SetSpanID(batch.SpanID())
		l.Attributes().PutStr("messaging.operation.type", "receive")
		if fail {
			b.fail(d, "shipping provider unavailable", "ShippingError", at+dur-ms)
		}
		return d
	}
	r1, recv1 := receive(11, 115*ms, pubA, pubB)
	r2, recv2 := receive(12, 418*ms, pubA)
	r3, recv3 := receive(13, 1238*ms, pubA)
	out.Receive, out.ReceiveSpan = r1.hexID(), recv1.SpanID().String()
	for i, d := range []struct {
		at     time.Duration
		batch  ptrace.Span
		failed bool
	}{{120 * ms, recv1, true}, {420 * ms, recv2, true}, {1240 * ms, recv3, false}} {
		sp := deliver(a, pubA, d.batch, d.at, 22*ms, i+1, d.failed)
		if !d.failed {
			a.span(sp, "fulfillment", "ship order", ptrace.SpanKindInternal, d.at+4*ms, 14*ms)
		}
		out.Deliveries = append(out.Deliveries, sp.SpanID().String())
		out.QueueDelayMs = append(out.QueueDelayMs, int((d.at-42*ms)/ms))
	}
	deliver(bb, pubB, recv1, 110*ms, 15*ms, 1, false)

	// The poison message: three failed deliveries, then the dead letter.
	c, pubC := checkout(3, 20*ms, "order-2")
	out.Poison, out.DeadLetter = c.hexID(), "dlq.order.confirmed"
	var last ptrace.Span
	for i, at := range []time.Duration{130 * ms, 430 * ms, 1250 * ms} {
		last = deliver(c, pubC, []ptrace.Span{recv1, recv2, recv3}[i], at, 9*ms, i+1, true)
		out.PoisonDeliveries = append(out.PoisonDeliveries, last.SpanID().String())
	}
	dlq := c.span(last, "fulfillment", "publish "+out.DeadLetter, ptrace.SpanKindProducer, 1256*ms, 2*ms)
	dlq.Attributes().PutStr("messaging.system", "nats")
	dlq.Attributes().PutStr("messaging.destination.name", out.DeadLetter)
	dlq.Attributes().PutStr("messaging.operation.type", "send")
	dlq.Attributes().PutStr("messaging.operation.name", "publish")
	dlq.Attributes().PutStr("messaging.message.id", "dlq:ord_3")
	out.DeadLetterSpan = dlq.SpanID().String()

	out.Spans = a.count
	for _, b := range []*traceBuilder{r1, r2, r3, a, bb, c} {
		// Consumers first: the writer pairs them with their producers
		// when those arrive.
		for _, svc := range []string{"fulfillment", "order", "gateway"} {
			part := ptrace.NewTraces()
			for i := 0; i < b.td.ResourceSpans().Len(); i++ {
				rs := b.td.ResourceSpans().At(i)
				if v, _ := rs.Resource().Attributes().Get("service.name"); v.Str() == svc {
					rs.CopyTo(part.ResourceSpans().AppendEmpty())
				}
			}
			if part.SpanCount() == 0 {
				continue
			}
			if err := w.WriteTraces(ctx, part); err != nil {
				t.Fatalf("seed the async checkouts: %v", err)
			}
		}
	}
	return out
}

// seedShop writes the shop's traffic so that its last checkout ends just
// before now, and a trace without its root.
func seedShop(t *testing.T, w *writer.Writer, now time.Time) SeedShop {
	t.Helper()
	ctx := context.Background()
	const rate = 5
	steady, outage := 4*time.Minute, 6*time.Minute
	shop := seed.Shop{Start: now.Add(-steady - outage), Rate: rate, Steady: steady, Outage: outage, Prefix: 0x5a}
	c, err := shop.Write(ctx, w)
	if err != nil {
		t.Fatalf("seed the shop: %v", err)
	}
	out := SeedShop{Start: shop.Start.UnixMilli(), OutageStart: c.OutageStart.UnixMilli(), End: c.End.UnixMilli(), Rate: rate,
		Checkouts: c.Checkouts, Failed: c.Failed, ShortCircuits: c.ShortCircuits,
		OKTrace:     shopTraceID(shop.Prefix, 10),
		FailedTrace: hex.EncodeToString(c.FailedTraces[len(c.FailedTraces)/2][:]),
		Arriving:    hex.EncodeToString(c.FailedTraces[len(c.FailedTraces)-1][:]),
		OutageText:  "simulated outage",
	}
	if age := now.Sub(c.End); age < 0 || age > 2*time.Second {
		t.Fatalf("the shop's last checkout ended %s before now; the test wants it arriving", age)
	}
	// Order's and payment's spans of a checkout whose gateway span never
	// came: every span has a parent, none of them the root.
	b := newTrace(4242, 0x0b, now.Add(-3*time.Minute))
	missing := b.span(ptrace.Span{}, "gateway", "POST /v1/orders", ptrace.SpanKindClient, 0, 30*time.Millisecond)
	order := b.span(missing, "order", "POST /v1/orders", ptrace.SpanKindServer, time.Millisecond, 28*time.Millisecond)
	b.span(order, "order", "saga.reserve_stock", ptrace.SpanKindInternal, 2*time.Millisecond, time.Millisecond)
	orphans := ptrace.NewTraces()
	for i := 0; i < b.td.ResourceSpans().Len(); i++ {
		rs := b.td.ResourceSpans().At(i)
		if v, _ := rs.Resource().Attributes().Get("service.name"); v.Str() == "gateway" {
			continue // the root's service never sent it
		}
		rs.CopyTo(orphans.ResourceSpans().AppendEmpty())
	}
	if err := w.WriteTraces(ctx, orphans); err != nil {
		t.Fatal(err)
	}
	out.NoRoot = b.hexID()
	return out
}

// shopTraceID is the id seed.Shop gives checkout n (from 0).
func shopTraceID(prefix byte, n int) string {
	var id pcommon.TraceID
	id[0], id[1] = prefix, 0x5b
	binary.BigEndian.PutUint64(id[8:], uint64(n)+1)
	return hex.EncodeToString(id[:])
}
