// Package seed writes a small, fixed set of traces and logs through the
// real write path (storage/writer.Writer) into a fresh database of the
// test package's embedded ClickHouse, for the query service's tests and
// benchmarks. Every timestamp is fixed, so outputs are reproducible.
//
// The traces follow the sample services: a checkout through gateway → auth,
// gateway → order → payment that succeeds (TraceOK), the same checkout
// where the card is declined and order retries the charge (TraceFailed),
// and a one-span health check of auth with a 64-bit trace id and a link to
// TraceOK (TraceHealth).
package seed

import (
	"context"
	"sort"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/schema"
	"github.com/tracehouse/tracehouse/storage/writer"
)

// Base is the start of TraceOK; everything else is relative to it.
var Base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Now is the clock tests give the service: a few minutes after the data.
var Now = Base.Add(10 * time.Minute)

// The seeded traces.
var (
	TraceOK     = pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	TraceFailed = pcommon.TraceID{0x5b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x37}
	TraceHealth = pcommon.TraceID{8: 0xa3, 9: 0xce, 10: 0x92, 11: 0x9d, 12: 0x0e, 13: 0x0e, 14: 0x47, 15: 0x38}
	// TraceMissing is stored nowhere.
	TraceMissing = pcommon.TraceID{0x11, 0x22, 0x33, 0x44, 15: 0x01}
)

// SpanID is span n of trace t (n from 1).
func SpanID(t pcommon.TraceID, n byte) pcommon.SpanID {
	return pcommon.SpanID{t[0], t[15], 0, 0, 0, 0, 0, n}
}

func at(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(Base.Add(d)) }

type builder struct {
	td        ptrace.Traces
	resources map[string]ptrace.ScopeSpans
}

func resource(res pcommon.Resource, service, host string) {
	a := res.Attributes()
	a.PutStr("service.name", service)
	a.PutStr("service.version", "1.4.2")
	a.PutStr("host.name", host)
	a.PutStr("deployment.environment", "test")
}

func (b *builder) scope(service, host string) ptrace.SpanSlice {
	key := service + "/" + host
	ss, ok := b.resources[key]
	if !ok {
		rs := b.td.ResourceSpans().AppendEmpty()
		resource(rs.Resource(), service, host)
		ss = rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("tracehouse/sample-services")
		ss.Scope().SetVersion("0.1.0")
		b.resources[key] = ss
	}
	return ss.Spans()
}

type spanSpec struct {
	trace      pcommon.TraceID
	id, parent byte
	service    string
	host       string
	name       string
	kind       ptrace.SpanKind
	start, end time.Duration
}

func (b *builder) span(s spanSpec) ptrace.Span {
	host := s.host
	if host == "" {
		host = s.service + "-1"
	}
	sp := b.scope(s.service, host).AppendEmpty()
	sp.SetTraceID(s.trace)
	sp.SetSpanID(SpanID(s.trace, s.id))
	if s.parent != 0 {
		sp.SetParentSpanID(SpanID(s.trace, s.parent))
	}
	sp.SetName(s.name)
	sp.SetKind(s.kind)
	sp.SetStartTimestamp(at(s.start))
	sp.SetEndTimestamp(at(s.end))
	sp.SetFlags(1)
	return sp
}

// Traces are the seeded traces, each in its own ptrace.Traces, in order.
func Traces() []ptrace.Traces {
	return []ptrace.Traces{checkout(TraceOK, 0, false), checkout(TraceFailed, time.Minute, true), health()}
}

func checkout(id pcommon.TraceID, off time.Duration, fail bool) ptrace.Traces {
	b := &builder{td: ptrace.NewTraces(), resources: map[string]ptrace.ScopeSpans{}}
	ms := time.Millisecond
	end := 120 * ms
	if fail {
		end = 180 * ms
	}
	root := b.span(spanSpec{trace: id, id: 1, service: "gateway", name: "POST /checkout", kind: ptrace.SpanKindServer, start: off, end: off + end})
	root.Attributes().PutStr("http.request.method", "POST")
	root.Attributes().PutStr("http.route", "/checkout")
	root.Attributes().PutStr("user.id", "u-42")
	if fail {
		root.Attributes().PutInt("http.response.status_code", 402)
		root.Status().SetCode(ptrace.StatusCodeError)
		root.Status().SetMessage("payment required")
	} else {
		root.Attributes().PutInt("http.response.status_code", 200)
	}

	b.span(spanSpec{trace: id, id: 2, parent: 1, service: "gateway", name: "POST auth/verify", kind: ptrace.SpanKindClient, start: off + 2*ms, end: off + 20*ms})
	verify := b.span(spanSpec{trace: id, id: 3, parent: 2, service: "auth", name: "POST /verify", kind: ptrace.SpanKindServer, start: off + 4*ms, end: off + 18*ms})
	verify.Attributes().PutStr("user.id", "u-42")
	verify.Attributes().PutBool("token.cached", !fail)

	orderEnd := 115 * ms
	if fail {
		orderEnd = 175 * ms
	}
	b.span(spanSpec{trace: id, id: 4, parent: 1, service: "gateway", name: "POST order/orders", kind: ptrace.SpanKindClient, start: off + 22*ms, end: off + orderEnd})
	order := b.span(spanSpec{trace: id, id: 5, parent: 4, service: "order", name: "POST /orders", kind: ptrace.SpanKindServer, start: off + 24*ms, end: off + orderEnd - 3*ms})
	order.Attributes().PutStr("order.id", map[bool]string{false: "o-1001", true: "o-1002"}[fail])
	db := b.span(spanSpec{trace: id, id: 6, parent: 5, service: "order", name: "db.insert", kind: ptrace.SpanKindInternal, start: off + 26*ms, end: off + 40*ms})
	db.Attributes().PutStr("db.system", "sqlite")
	db.Attributes().PutDouble("db.rows_affected.ratio", 1.0)

	charge := func(n, serverN byte, start, stop time.Duration, declined bool) {
		c := b.span(spanSpec{trace: id, id: n, parent: 5, service: "order", name: "POST payment/charge", kind: ptrace.SpanKindClient, start: off + start, end: off + stop})
		c.Attributes().PutInt("retry.attempt", int64(n-7)/2)
		p := b.span(spanSpec{trace: id, id: serverN, parent: n, service: "payment", name: "POST /charge", kind: ptrace.SpanKindServer, start: off + start + 2*ms, end: off + stop - 3*ms})
		p.Attributes().PutDouble("payment.amount", 42.5)
		p.Attributes().PutStr("card.brand", "visa")
		p.Attributes().PutBool("retry", n > 7)
		p.Attributes().PutEmptySlice("payment.methods").FromRaw([]any{"card", "wallet"})
		if declined {
			c.Status().SetCode(ptrace.StatusCodeError)
			p.Status().SetCode(ptrace.StatusCodeError)
			p.Status().SetMessage("card declined")
			p.Attributes().PutInt("http.response.status_code", 402)
			ev := p.Events().AppendEmpty()
			ev.SetName("exception")
			ev.SetTimestamp(at(off + stop - 5*ms))
			ev.Attributes().PutStr("exception.type", "CardDeclined")
			ev.Attributes().PutStr("exception.message", "card declined: insufficient funds")
		} else {
			p.Attributes().PutInt("http.response.status_code", 200)
			ev := p.Events().AppendEmpty()
			ev.SetName("card.authorized")
			ev.SetTimestamp(at(off + stop - 10*ms))
			ev.Attributes().PutStr("auth.code", "A1")
		}
	}
	if fail {
		charge(7, 8, 45*ms, 105*ms, true)
		charge(9, 10, 110*ms, 170*ms, true)
	} else {
		charge(7, 8, 45*ms, 105*ms, false)
	}
	return b.td
}

func health() ptrace.Traces {
	b := &builder{td: ptrace.NewTraces(), resources: map[string]ptrace.ScopeSpans{}}
	sp := b.span(spanSpec{trace: TraceHealth, id: 1, service: "auth", host: "auth-2", name: "GET /health", kind: ptrace.SpanKindServer,
		start: 2 * time.Minute, end: 2*time.Minute + 3*time.Millisecond})
	sp.Attributes().PutInt("http.response.status_code", 200)
	sp.Status().SetCode(ptrace.StatusCodeOk)
	sp.TraceState().FromRaw("vendor=th")
	l := sp.Links().AppendEmpty()
	l.SetTraceID(TraceOK)
	l.SetSpanID(SpanID(TraceOK, 1))
	l.Attributes().PutStr("link.reason", "follow-up")
	return b.td
}

type logSpec struct {
	at       time.Duration
	service  string
	level    plog.SeverityNumber
	text     string
	trace    pcommon.TraceID
	span     byte
	attrs    map[string]any
	mapBody  map[string]any
	host     string
	observed time.Duration
}

// LogsSpecs describes the seeded log records, oldest first.
func logSpecs() []logSpec {
	ms := time.Millisecond
	m := time.Minute
	info, warn, errLevel := plog.SeverityNumberInfo, plog.SeverityNumberWarn, plog.SeverityNumberError
	return []logSpec{
		{at: 1 * ms, service: "gateway", level: info, text: "checkout started", trace: TraceOK, span: 1},
		{at: 10 * ms, service: "auth", level: info, text: "token verified for user u-42", trace: TraceOK, span: 3, attrs: map[string]any{"user.id": "u-42"}},
		{at: 30 * ms, service: "order", level: info, text: "order o-1001 created", trace: TraceOK, span: 5, attrs: map[string]any{"order.id": "o-1001"}},
		{at: 95 * ms, service: "payment", level: info, text: "charge accepted", trace: TraceOK, span: 8, attrs: map[string]any{"payment.amount": 42.5, "http.status_code": int64(200)}},
		{at: 119 * ms, service: "gateway", level: info, text: "checkout complete", trace: TraceOK, span: 1},
		{at: m + 1*ms, service: "gateway", level: info, text: "checkout started", trace: TraceFailed, span: 1},
		{at: m + 100*ms, service: "payment", level: errLevel, text: "card declined for user u-7", trace: TraceFailed, span: 8, attrs: map[string]any{"http.status_code": int64(402), "user.id": "u-7", "retry": false}},
		{at: m + 106*ms, service: "order", level: warn, text: "payment failed, retrying", trace: TraceFailed, span: 5, attrs: map[string]any{"retry": true, "retry.attempt": int64(1)}},
		{at: m + 165*ms, service: "payment", level: errLevel, text: "card declined for user u-7", trace: TraceFailed, span: 10, attrs: map[string]any{"http.status_code": int64(402), "user.id": "u-7", "retry": true}},
		{at: m + 172*ms, service: "order", level: errLevel, text: "order o-1002 failed: card declined", trace: TraceFailed, span: 5, attrs: map[string]any{"order.id": "o-1002"}},
		{at: m + 179*ms, service: "gateway", level: errLevel, text: "checkout failed", trace: TraceFailed, span: 1, attrs: map[string]any{"http.status_code": int64(402)}},
		// A record of the trace with no span id: it goes under the trace.
		{at: m + 179*ms, service: "gateway", level: info, text: "audit: checkout attempt recorded", trace: TraceFailed},
		{at: 2 * m, service: "payment", level: warn, text: "Card Declined ALERT: threshold exceeded", attrs: map[string]any{"alert.threshold": int64(2), "ratio": 0.25}},
		{at: 2*m + 10*time.Second, service: "payment", level: info, mapBody: map[string]any{"event": "settlement", "batch": int64(7), "ok": true}},
		{at: 2*m + 20*time.Second, service: "order", level: plog.SeverityNumberDebug, text: "'; DROP TABLE logs; -- (a body that looks like SQL)", attrs: map[string]any{"note": "x') OR 1=1 --"}},
		{at: 2*m + 30*time.Second, service: "payment", level: info, text: "paiement refusé — carte expirée", attrs: map[string]any{"locale": "fr"}},
		{at: 2*m + 40*time.Second, service: "auth", level: info, text: "health check ok", host: "auth-2", trace: TraceHealth, span: 1, observed: 2*m + 41*time.Second},
	}
}

// Logs are the seeded log records.
func Logs() plog.Logs {
	ld := plog.NewLogs()
	scopes := map[string]plog.LogRecordSlice{}
	for _, s := range logSpecs() {
		host := s.host
		if host == "" {
			host = s.service + "-1"
		}
		recs, ok := scopes[s.service+"/"+host]
		if !ok {
			rl := ld.ResourceLogs().AppendEmpty()
			resource(rl.Resource(), s.service, host)
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("tracehouse/zerolog-bridge")
			recs = sl.LogRecords()
			scopes[s.service+"/"+host] = recs
		}
		r := recs.AppendEmpty()
		r.SetTimestamp(at(s.at))
		obs := s.observed
		if obs == 0 {
			obs = s.at + time.Millisecond
		}
		r.SetObservedTimestamp(at(obs))
		r.SetSeverityNumber(s.level)
		r.SetSeverityText(map[plog.SeverityNumber]string{plog.SeverityNumberDebug: "debug", plog.SeverityNumberInfo: "info",
			plog.SeverityNumberWarn: "warn", plog.SeverityNumberError: "error"}[s.level])
		if s.mapBody != nil {
			putSorted(r.Body().SetEmptyMap(), s.mapBody)
		} else {
			r.Body().SetStr(s.text)
		}
		if !s.trace.IsEmpty() {
			r.SetTraceID(s.trace)
			if s.span != 0 {
				r.SetSpanID(SpanID(s.trace, s.span))
			}
		}
		putSorted(r.Attributes(), s.attrs)
	}
	return ld
}

// putSorted fills m in key order: Go maps iterate randomly, and stored
// order shows in bodies and attributes JSON.
func putSorted(m pcommon.Map, values map[string]any) {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := m.PutEmpty(k).FromRaw(values[k]); err != nil {
			panic(err)
		}
	}
}

// NewDatabase creates an empty database with the schema and no TTL (the
// fixed timestamps are in the past) and returns its name and connection.
func NewDatabase(t testing.TB) (string, storage.Conn) {
	t.Helper()
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	if _, err := schema.Migrate(context.Background(), conn, schema.Options{Database: db}); err != nil {
		t.Fatal(err)
	}
	return db, conn
}

// Load creates a database and writes Traces and Logs into it through
// writer.Writer.
func Load(t testing.TB) (string, storage.Conn) {
	t.Helper()
	db, conn := NewDatabase(t)
	w := writer.NewWriter(conn, writer.Options{Database: db, Now: func() time.Time { return Now }})
	ctx := context.Background()
	for _, td := range Traces() {
		if err := w.WriteTraces(ctx, td); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteLogs(ctx, Logs()); err != nil {
		t.Fatal(err)
	}
	return db, conn
}

// WriteManyLogs writes n simple records (attribute n = 0…n-1, one per
// 100 ms from Base) through writer.Writer, in batches.
func WriteManyLogs(ctx context.Context, conn storage.Conn, db string, n int) error {
	w := writer.NewWriter(conn, writer.Options{Database: db})
	const batch = 50_000
	for done := 0; done < n; done += batch {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		resource(rl.Resource(), "loadgen", "loadgen-1")
		recs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := done; i < min(n, done+batch); i++ {
			r := recs.AppendEmpty()
			r.SetTimestamp(at(time.Duration(i) * 100 * time.Millisecond))
			r.SetSeverityNumber(plog.SeverityNumberInfo)
			r.Body().SetStr("request served")
			r.Attributes().PutInt("n", int64(i))
			r.Attributes().PutStr("path", "/api/items")
		}
		if err := w.WriteLogs(ctx, ld); err != nil {
			return err
		}
	}
	return nil
}

// WriteManyTraces writes n checkouts through writer.Writer, one every
// 100 ms from Base, every third one failed, and returns their ids.
func WriteManyTraces(ctx context.Context, conn storage.Conn, db string, n int) ([]pcommon.TraceID, error) {
	w := writer.NewWriter(conn, writer.Options{Database: db})
	ids := make([]pcommon.TraceID, 0, n)
	const batch = 500
	for done := 0; done < n; done += batch {
		td := ptrace.NewTraces()
		for i := done; i < min(n, done+batch); i++ {
			id := pcommon.TraceID{0xbe, 0x4c, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 15: 1}
			checkout(id, time.Duration(i)*100*time.Millisecond, i%3 == 2).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
			ids = append(ids, id)
		}
		if err := w.WriteTraces(ctx, td); err != nil {
			return nil, err
		}
	}
	return ids, nil
}
