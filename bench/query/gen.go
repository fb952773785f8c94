package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The data: the sample shop's shape (gateway → auth, gateway → order →
// payment, order's database call), 5 spans a trace over 4 services,
// ~10 attributes a span with user.id out of a million users, one trace in
// 50 failing at payment with an exception event. Log records over the
// same services, 1% each carrying one of three rare phrases. Every item
// falls in the last 24 hours, a quarter of them in the last hour, written
// in time order as a live collector writes them; each size sweeps the day
// again on top of the previous one.
const (
	spansPerTrace = 5
	tracesPerReq  = 100 // 500 spans per OTLP request
	logsPerReq    = 500
	numUsers      = 1_000_000
	reservoirSize = 4096
	lastHourShare = 0.25
	// The day starts two minutes late so that no item (starts jitter up
	// to 2 s earlier) falls before a "last 24 hours" search's start.
	dayStart        = -24*time.Hour + 2*time.Minute
	dayBeforeTheEnd = 23*time.Hour - 2*time.Minute
)

var (
	gatewayOps = []string{"GET /api/products", "POST /api/orders", "GET /api/orders/{id}", "GET /api/cart"}
	orderOps   = []string{"CreateOrder", "GetOrder", "ListOrders", "CancelOrder"}
	phrases    = []string{"connection reset by peer", "card declined by issuer", "token expired for user"}
	commonMsgs = []string{
		"request completed", "cache miss for key", "user authenticated successfully",
		"retrying upstream call after timeout", "order placed", "inventory reserved for order",
		"slow query detected", "payment authorized",
	}
	logServices = []string{"gateway", "auth", "order", "payment"}
)

// sample is one stored trace the queries ask about: its id, its root
// span (for the point read) and the values a search finds it by.
type sample struct {
	traceID   pcommon.TraceID
	rootID    pcommon.SpanID
	rootStart int64 // unix ns
	user      string
}

// dataset makes the OTLP requests of each size and keeps a uniform random
// sample (reservoir) of the traces written.
type dataset struct {
	now  time.Time
	seed uint64

	mu        sync.Mutex
	seen      int64
	reservoir []sample
	pick      *rand.Rand
}

func newDataset(now time.Time, seed uint64) *dataset {
	return &dataset{now: now, seed: seed, pick: rand.New(rand.NewPCG(seed, 99))}
}

// timeAt is the time of position p (0..1) of a sweep over the day: the
// first 3/4 of the items cover 23 hours, the last 1/4 the last hour.
func (d *dataset) timeAt(p float64) time.Time {
	start := d.now.Add(dayStart)
	if p < 1-lastHourShare {
		return start.Add(time.Duration(p / (1 - lastHourShare) * float64(dayBeforeTheEnd)))
	}
	return start.Add(dayBeforeTheEnd + time.Duration((p-(1-lastHourShare))/lastHourShare*float64(time.Hour)))
}

func (d *dataset) keep(s sample) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seen++
	if len(d.reservoir) < reservoirSize {
		d.reservoir = append(d.reservoir, s)
		return
	}
	if j := d.pick.Int64N(d.seen); j < reservoirSize {
		d.reservoir[j] = s
	}
}

// samples is a copy of the reservoir.
func (d *dataset) samples() []sample {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]sample(nil), d.reservoir...)
}

func ids(r *rand.Rand) (pcommon.TraceID, [spansPerTrace]pcommon.SpanID) {
	var t pcommon.TraceID
	binary.BigEndian.PutUint64(t[:8], r.Uint64())
	binary.BigEndian.PutUint64(t[8:], r.Uint64())
	var s [spansPerTrace]pcommon.SpanID
	for i := range s {
		binary.BigEndian.PutUint64(s[i][:], r.Uint64()|1)
	}
	return t, s
}

// traceRequest is request k of a sweep of n requests (sweep is the size's
// number, so every size writes new traces).
func (d *dataset) traceRequest(sweep, k, n int) ptrace.Traces {
	r := rand.New(rand.NewPCG(d.seed+uint64(sweep)<<32, uint64(k)))
	td := ptrace.NewTraces()
	scopes := map[string]ptrace.SpanSlice{}
	for _, svc := range []string{"gateway", "auth", "order", "payment"} {
		rs := td.ResourceSpans().AppendEmpty()
		a := rs.Resource().Attributes()
		a.PutStr("service.name", svc)
		a.PutStr("service.version", "1.4.2")
		a.PutStr("deployment.environment", "bench")
		a.PutStr("host.name", fmt.Sprintf("%s-%d", svc, k%3))
		a.PutStr("telemetry.sdk.language", "go")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("shop/" + svc)
		ss.Scope().SetVersion("0.1.0")
		scopes[svc] = ss.Spans()
	}
	for t := range tracesPerReq {
		p := (float64(k) + float64(t)/tracesPerReq) / float64(n)
		start := d.timeAt(p).Add(-time.Duration(r.IntN(2000)) * time.Millisecond)
		tid, sid := ids(r)
		user := fmt.Sprintf("user-%d", r.IntN(numUsers))
		gwOp := gatewayOps[r.IntN(len(gatewayOps))]
		orderOp := orderOps[r.IntN(len(orderOps))]
		failed := r.IntN(50) == 0
		session := fmt.Sprintf("%016x", r.Uint64())
		// root (gateway), auth, order, order's db call, payment
		services := [spansPerTrace]string{"gateway", "auth", "order", "order", "payment"}
		names := [spansPerTrace]string{gwOp, "VerifyToken", orderOp, "SELECT orders", "Charge"}
		parents := [spansPerTrace]int{-1, 0, 0, 2, 2}
		kinds := [spansPerTrace]ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindServer, ptrace.SpanKindServer, ptrace.SpanKindClient, ptrace.SpanKindServer}
		offsets := [spansPerTrace]time.Duration{0, time.Millisecond, 3 * time.Millisecond, 4 * time.Millisecond, 9 * time.Millisecond}
		for i := range spansPerTrace {
			sp := scopes[services[i]].AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetSpanID(sid[i])
			if parents[i] >= 0 {
				sp.SetParentSpanID(sid[parents[i]])
			}
			sp.SetName(names[i])
			sp.SetKind(kinds[i])
			s := start.Add(offsets[i])
			dur := time.Duration(1+r.IntN(200)) * time.Millisecond
			if i == 0 {
				dur += 250 * time.Millisecond
			}
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(s))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(s.Add(dur)))
			a := sp.Attributes()
			a.PutStr("user.id", user)
			a.PutStr("session.id", session)
			a.PutBool("cache.hit", r.IntN(2) == 0)
			switch i {
			case 3:
				a.PutStr("db.system", "postgresql")
				a.PutStr("db.statement", "SELECT * FROM orders WHERE id = $1")
				a.PutStr("server.address", "orders-db")
				a.PutInt("server.port", 5432)
			default:
				a.PutStr("http.request.method", []string{"GET", "POST"}[r.IntN(2)])
				a.PutStr("http.route", gwOp)
				a.PutInt("http.response.status_code", map[bool]int64{false: 200, true: 502}[failed && i != 1])
				a.PutStr("url.scheme", "http")
				a.PutStr("server.address", services[i]+".shop.local")
				a.PutInt("server.port", 8000+int64(i))
				a.PutDouble("app.load", r.Float64())
			}
			if failed && (i == 4 || i == 2 || i == 0) {
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage("payment failed")
				if i == 4 {
					ev := sp.Events().AppendEmpty()
					ev.SetName("exception")
					ev.SetTimestamp(pcommon.NewTimestampFromTime(s.Add(dur / 2)))
					ev.Attributes().PutStr("exception.type", "CardError")
					ev.Attributes().PutStr("exception.message", "card declined by issuer")
				}
			}
			if i == 0 {
				d.keep(sample{traceID: tid, rootID: sid[0], rootStart: s.UnixNano(), user: user})
			}
		}
	}
	return td
}

// logRequest is log request k of a sweep of n.
func (d *dataset) logRequest(sweep, k, n int) plog.Logs {
	r := rand.New(rand.NewPCG(d.seed+uint64(sweep)<<32+1<<31, uint64(k)))
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	svc := logServices[k%len(logServices)]
	ra := rl.Resource().Attributes()
	ra.PutStr("service.name", svc)
	ra.PutStr("service.version", "1.4.2")
	ra.PutStr("deployment.environment", "bench")
	ra.PutStr("host.name", fmt.Sprintf("%s-%d", svc, k%3))
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("shop/" + svc)
	sevs := []plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberInfo, plog.SeverityNumberInfo, plog.SeverityNumberDebug, plog.SeverityNumberWarn, plog.SeverityNumberError}
	for j := range logsPerReq {
		lr := sl.LogRecords().AppendEmpty()
		p := (float64(k) + float64(j)/logsPerReq) / float64(n)
		ts := d.timeAt(p).Add(-time.Duration(r.IntN(2000)) * time.Millisecond)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts))
		sev := sevs[r.IntN(len(sevs))]
		lr.SetSeverityNumber(sev)
		lr.SetSeverityText(sev.String())
		msg := commonMsgs[r.IntN(len(commonMsgs))]
		if x := r.IntN(100); x < len(phrases) {
			msg = phrases[x]
		}
		lr.Body().SetStr(fmt.Sprintf("%s: order=%d user=user-%d took=%dms", msg, r.IntN(1_000_000), r.IntN(numUsers), r.IntN(500)))
		if r.IntN(10) < 8 {
			tid, sid := ids(r)
			lr.SetTraceID(tid)
			lr.SetSpanID(sid[0])
		}
		a := lr.Attributes()
		a.PutStr("code.function", fmt.Sprintf("%s.handle%d", svc, r.IntN(20)))
		a.PutStr("user.id", fmt.Sprintf("user-%d", r.IntN(numUsers)))
		a.PutInt("thread.id", int64(r.IntN(64)))
		a.PutBool("retry", r.IntN(10) == 0)
		a.PutDouble("duration_ms", r.Float64()*500)
	}
	return ld
}
