package main

import (
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// traces returns about n spans (whole traces) and how many it made.
func (g *gen) traces(n int) (ptrace.Traces, int) {
	td := ptrace.NewTraces()
	var ss [4]ptrace.SpanSlice
	for i := range services {
		rs := td.ResourceSpans().AppendEmpty()
		g.resources[i].CopyTo(rs.Resource())
		sc := rs.ScopeSpans().AppendEmpty()
		sc.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		sc.Scope().SetVersion("0.61.0")
		ss[i] = sc.Spans()
		ss[i].EnsureCapacity(n / 3)
	}
	made := 0
	for made < n {
		made += g.trace(ss)
	}
	return td, made
}

func (g *gen) span(s ptrace.SpanSlice, tid pcommon.TraceID, parent pcommon.SpanID, name string, kind ptrace.SpanKind, start time.Time, d time.Duration) ptrace.Span {
	sp := s.AppendEmpty()
	sp.SetTraceID(tid)
	sp.SetSpanID(g.spanID())
	sp.SetParentSpanID(parent)
	sp.SetName(name)
	sp.SetKind(kind)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(d)))
	return sp
}

// trace appends one trace of 5–10 spans and returns its span count.
func (g *gen) trace(ss [4]ptrace.SpanSlice) int {
	tid := g.traceID()
	start := g.startTime()
	user := "user-" + strconv.Itoa(g.rng.IntN(users))
	g.remember(tid, user)
	failed := g.rng.IntN(50) == 0
	total := time.Duration(20+g.rng.IntN(400)) * time.Millisecond
	route := routes[g.rng.IntN(len(routes))]
	method := "GET"
	if g.rng.IntN(3) == 0 {
		method = "POST"
	}
	count := 0
	// gateway server
	root := g.span(ss[0], tid, pcommon.SpanID{}, method+" "+route, ptrace.SpanKindServer, start, total)
	a := root.Attributes()
	a.PutStr("http.request.method", method)
	a.PutStr("http.route", route)
	a.PutStr("url.scheme", "https")
	a.PutStr("user.id", user)
	a.PutStr("client.address", fmt.Sprintf("10.%d.%d.%d", g.rng.IntN(256), g.rng.IntN(256), g.rng.IntN(256)))
	a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")
	status := int64(200)
	if failed {
		status = 500
		root.Status().SetCode(ptrace.StatusCodeError)
	}
	a.PutInt("http.response.status_code", status)
	count++
	// auth: client + server
	t := start.Add(time.Millisecond)
	c := g.span(ss[0], tid, root.SpanID(), "auth.Verify", ptrace.SpanKindClient, t, 5*time.Millisecond)
	c.Attributes().PutStr("rpc.system", "grpc")
	c.Attributes().PutStr("server.address", "auth")
	s := g.span(ss[1], tid, c.SpanID(), "auth.Verify", ptrace.SpanKindServer, t.Add(200*time.Microsecond), 4*time.Millisecond)
	s.Attributes().PutStr("rpc.system", "grpc")
	s.Attributes().PutStr("user.id", user)
	s.Attributes().PutBool("auth.cached", g.rng.IntN(2) == 0)
	count += 2
	// order: client + server + 0–3 internals
	t = t.Add(6 * time.Millisecond)
	op := orderOps[g.rng.IntN(len(orderOps))]
	c = g.span(ss[0], tid, root.SpanID(), op, ptrace.SpanKindClient, t, total-10*time.Millisecond)
	c.Attributes().PutStr("server.address", "order")
	osp := g.span(ss[2], tid, c.SpanID(), op, ptrace.SpanKindServer, t.Add(300*time.Microsecond), total-11*time.Millisecond)
	oa := osp.Attributes()
	oa.PutStr("order.id", "ord-"+strconv.FormatUint(g.rng.Uint64()>>20, 36))
	oa.PutStr("user.id", user)
	oa.PutInt("order.items", int64(1+g.rng.IntN(8)))
	oa.PutDouble("order.total", float64(g.rng.IntN(50000))/100)
	if failed {
		osp.Status().SetCode(ptrace.StatusCodeError)
		osp.Status().SetMessage("payment failed")
	}
	count += 2
	for k := g.rng.IntN(4); k > 0; k-- {
		d := g.span(ss[2], tid, osp.SpanID(), "SELECT orders", ptrace.SpanKindClient, t.Add(time.Millisecond), 2*time.Millisecond)
		d.Attributes().PutStr("db.system.name", "postgresql")
		d.Attributes().PutStr("db.query.text", "SELECT * FROM orders WHERE user_id = $1")
		count++
	}
	// payment: client + server, on POST
	if method == "POST" || g.rng.IntN(3) == 0 {
		pc := g.span(ss[2], tid, osp.SpanID(), "payment.Charge", ptrace.SpanKindClient, t.Add(3*time.Millisecond), total/2)
		pc.Attributes().PutStr("server.address", "payment")
		ps := g.span(ss[3], tid, pc.SpanID(), "payment.Charge", ptrace.SpanKindServer, t.Add(3200*time.Microsecond), total/2-time.Millisecond)
		ps.Attributes().PutStr("payment.method", []string{"card", "paypal", "sepa"}[g.rng.IntN(3)])
		ps.Attributes().PutDouble("payment.amount", float64(g.rng.IntN(50000))/100)
		if failed {
			ps.Status().SetCode(ptrace.StatusCodeError)
			ev := ps.Events().AppendEmpty()
			ev.SetName("exception")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(t.Add(5 * time.Millisecond)))
			ev.Attributes().PutStr("exception.type", "CardDeclined")
			ev.Attributes().PutStr("exception.message", "card declined by issuer")
		}
		count += 2
	}
	g.sweepDone += count
	return count
}

// logs returns n log records spread like the spans, about 1% of them with
// each rare phrase.
func (g *gen) logs(n int) plog.Logs {
	ld := plog.NewLogs()
	var ls [4]plog.LogRecordSlice
	for i := range services {
		rl := ld.ResourceLogs().AppendEmpty()
		g.resources[i].CopyTo(rl.Resource())
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("log/slog")
		ls[i] = sl.LogRecords()
		ls[i].EnsureCapacity(n/4 + 16)
	}
	for range n {
		g.sweepDone++
		si := g.rng.IntN(len(services))
		r := ls[si].AppendEmpty()
		ts := g.startTime()
		r.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		r.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Millisecond)))
		var body string
		switch x := g.rng.IntN(100); {
		case x < len(rareMessages):
			body = rareMessages[x]
			r.SetSeverityNumber(plog.SeverityNumberError)
			r.SetSeverityText("ERROR")
		default:
			body = messages[g.rng.IntN(len(messages))]
			r.SetSeverityNumber(plog.SeverityNumberInfo)
			r.SetSeverityText("INFO")
		}
		user := "user-" + strconv.Itoa(g.rng.IntN(users))
		r.Body().SetStr(body + " user=" + user + " latency_ms=" + strconv.Itoa(g.rng.IntN(900)))
		r.SetTraceID(g.traceID())
		r.SetSpanID(g.spanID())
		a := r.Attributes()
		a.PutStr("user.id", user)
		a.PutStr("code.function", "handle")
		a.PutInt("thread.id", int64(g.rng.IntN(64)))
	}
	return ld
}
