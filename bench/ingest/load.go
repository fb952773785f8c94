package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

var (
	services = []string{"frontend", "checkout", "cart", "payment", "shipping", "inventory", "auth", "search", "recommendation", "email"}
	routes   = []string{"/api/cart", "/api/checkout", "/api/products/{id}", "/api/users/{id}", "/api/search", "/healthz", "/api/orders", "/api/payments"}
	methods  = []string{"GET", "POST", "PUT", "DELETE"}
	dbStmts  = []string{"SELECT * FROM orders WHERE id = ?", "UPDATE cart SET qty = ? WHERE id = ?", "INSERT INTO events VALUES (?, ?, ?)"}
	logMsgs  = []string{
		"request completed", "cache miss for key", "user authenticated successfully",
		"payment authorization declined by issuer", "retrying upstream call after timeout",
		"order placed", "inventory reserved for order", "slow query detected",
	}
)

func traceID(r *rand.Rand) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], r.Uint64())
	binary.BigEndian.PutUint64(id[8:], r.Uint64())
	return id
}

func spanID(r *rand.Rand) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], r.Uint64()|1)
	return id
}

// genTraces makes requests of tracesPerReq traces of 5 spans each (a
// server span, two internal/client children, a DB client span and a
// downstream call), one resource (service) per request, ~10 attributes
// per span; total spans, rounded up to whole requests.
func genTraces(totalSpans, spansPerReq int, seed uint64) []ptraceotlp.ExportRequest {
	r := rand.New(rand.NewPCG(seed, 1))
	const perTrace = 5
	tracesPerReq := max(1, spansPerReq/perTrace)
	nReq := (totalSpans + tracesPerReq*perTrace - 1) / (tracesPerReq * perTrace)
	now := time.Now().Add(-time.Minute)
	reqs := make([]ptraceotlp.ExportRequest, 0, nReq)
	for i := range nReq {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		svc := services[i%len(services)]
		ra := rs.Resource().Attributes()
		ra.PutStr("service.name", svc)
		ra.PutStr("service.version", "1.4.2")
		ra.PutStr("deployment.environment", "bench")
		ra.PutStr("host.name", fmt.Sprintf("node-%d", i%7))
		ra.PutStr("telemetry.sdk.language", "go")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("bench/ingest")
		ss.Scope().SetVersion("0.1.0")
		for range tracesPerReq {
			tid := traceID(r)
			start := now.Add(-time.Duration(r.IntN(50_000)) * time.Millisecond)
			root := spanID(r)
			ids := [perTrace]pcommon.SpanID{root, spanID(r), spanID(r), spanID(r), spanID(r)}
			parents := [perTrace]int{-1, 0, 0, 1, 2}
			kinds := [perTrace]ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindInternal, ptrace.SpanKindClient, ptrace.SpanKindClient, ptrace.SpanKindInternal}
			route := routes[r.IntN(len(routes))]
			method := methods[r.IntN(len(methods))]
			isErr := r.IntN(50) == 0
			for k := range perTrace {
				sp := ss.Spans().AppendEmpty()
				sp.SetTraceID(tid)
				sp.SetSpanID(ids[k])
				if parents[k] >= 0 {
					sp.SetParentSpanID(ids[parents[k]])
				}
				sp.SetKind(kinds[k])
				switch k {
				case 0:
					sp.SetName(method + " " + route)
				case 3:
					sp.SetName("db.query")
				default:
					sp.SetName(fmt.Sprintf("%s.step%d", svc, k))
				}
				s := start.Add(time.Duration(k) * time.Millisecond)
				d := time.Duration(1+r.IntN(200)) * time.Millisecond
				sp.SetStartTimestamp(pcommon.NewTimestampFromTime(s))
				sp.SetEndTimestamp(pcommon.NewTimestampFromTime(s.Add(d)))
				a := sp.Attributes()
				a.PutStr("http.request.method", method)
				a.PutStr("http.route", route)
				a.PutInt("http.response.status_code", map[bool]int64{false: 200, true: 500}[isErr])
				a.PutStr("url.scheme", "http")
				a.PutStr("server.address", svc+".svc.cluster.local")
				a.PutInt("server.port", 8080)
				a.PutStr("user.id", fmt.Sprintf("user-%d", r.IntN(10_000)))
				a.PutStr("session.id", fmt.Sprintf("%016x", r.Uint64()))
				a.PutBool("cache.hit", r.IntN(2) == 0)
				if k == 3 {
					a.PutStr("db.system", "postgresql")
					a.PutStr("db.statement", dbStmts[r.IntN(len(dbStmts))])
				} else {
					a.PutDouble("app.load", r.Float64())
				}
				if isErr && k == 0 {
					sp.Status().SetCode(ptrace.StatusCodeError)
					sp.Status().SetMessage("internal error")
					ev := sp.Events().AppendEmpty()
					ev.SetName("exception")
					ev.SetTimestamp(pcommon.NewTimestampFromTime(s.Add(d / 2)))
					ev.Attributes().PutStr("exception.type", "TimeoutError")
					ev.Attributes().PutStr("exception.message", "upstream timed out")
				}
			}
		}
		reqs = append(reqs, ptraceotlp.NewExportRequestFromTraces(td))
	}
	return reqs
}

// genLogs makes requests of recsPerReq log records, one resource
// (service) per request, ~6 attributes each, most with a trace context.
func genLogs(total, recsPerReq int, seed uint64) []plogotlp.ExportRequest {
	r := rand.New(rand.NewPCG(seed, 2))
	nReq := (total + recsPerReq - 1) / recsPerReq
	now := time.Now().Add(-time.Minute)
	sevs := []plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberInfo, plog.SeverityNumberInfo, plog.SeverityNumberDebug, plog.SeverityNumberWarn, plog.SeverityNumberError}
	reqs := make([]plogotlp.ExportRequest, 0, nReq)
	for i := range nReq {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		svc := services[i%len(services)]
		ra := rl.Resource().Attributes()
		ra.PutStr("service.name", svc)
		ra.PutStr("service.version", "1.4.2")
		ra.PutStr("deployment.environment", "bench")
		ra.PutStr("host.name", fmt.Sprintf("node-%d", i%7))
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("bench/ingest")
		for range recsPerReq {
			lr := sl.LogRecords().AppendEmpty()
			ts := now.Add(-time.Duration(r.IntN(50_000)) * time.Millisecond)
			lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
			lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts))
			sev := sevs[r.IntN(len(sevs))]
			lr.SetSeverityNumber(sev)
			lr.SetSeverityText(sev.String())
			msg := logMsgs[r.IntN(len(logMsgs))]
			lr.Body().SetStr(fmt.Sprintf("%s: order=%d user=user-%d took=%dms", msg, r.IntN(1_000_000), r.IntN(10_000), r.IntN(500)))
			if r.IntN(10) < 8 {
				lr.SetTraceID(traceID(r))
				lr.SetSpanID(spanID(r))
			}
			a := lr.Attributes()
			a.PutStr("code.function", fmt.Sprintf("%s.handle%d", svc, r.IntN(20)))
			a.PutStr("http.route", routes[r.IntN(len(routes))])
			a.PutStr("user.id", fmt.Sprintf("user-%d", r.IntN(10_000)))
			a.PutInt("thread.id", int64(r.IntN(64)))
			a.PutBool("retry", r.IntN(10) == 0)
			a.PutDouble("duration_ms", r.Float64()*500)
		}
		reqs = append(reqs, plogotlp.NewExportRequestFromLogs(ld))
	}
	return reqs
}

// sendResult counts what the receiver accepted.
type sendResult struct {
	accepted, rejected int64
	retries            int64
	elapsed            time.Duration
}

// send pushes every request through `workers` concurrent callers. A
// request refused as overload (ResourceExhausted, Unavailable) is retried
// after a pause; any other error counts its items as rejected.
func send[R any](ctx context.Context, addr string, workers int, reqs []R, items func(R) int,
	export func(ctx context.Context, conn *grpc.ClientConn, r R) (rejected int64, err error)) (sendResult, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return sendResult{}, err
	}
	defer conn.Close()
	var res sendResult
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) || ctx.Err() != nil {
					return
				}
				n := int64(items(reqs[i]))
				for attempt := 0; ; attempt++ {
					cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					rej, err := export(cctx, conn, reqs[i])
					cancel()
					if err == nil {
						atomic.AddInt64(&res.accepted, n-rej)
						atomic.AddInt64(&res.rejected, rej)
						break
					}
					c := status.Code(err)
					if (c == codes.ResourceExhausted || c == codes.Unavailable || c == codes.DeadlineExceeded) && attempt < 600 && ctx.Err() == nil {
						atomic.AddInt64(&res.retries, 1)
						time.Sleep(time.Duration(min(1000, 50*(attempt+1))) * time.Millisecond)
						continue
					}
					firstErr.CompareAndSwap(nil, err)
					atomic.AddInt64(&res.rejected, n)
					break
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if e, ok := firstErr.Load().(error); ok {
		return res, fmt.Errorf("some requests failed (first: %w)", e)
	}
	return res, nil
}

func sendTraces(ctx context.Context, addr string, workers int, reqs []ptraceotlp.ExportRequest) (sendResult, error) {
	return send(ctx, addr, workers, reqs,
		func(r ptraceotlp.ExportRequest) int { return r.Traces().SpanCount() },
		func(ctx context.Context, conn *grpc.ClientConn, r ptraceotlp.ExportRequest) (int64, error) {
			resp, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, r)
			if err != nil {
				return 0, err
			}
			return resp.PartialSuccess().RejectedSpans(), nil
		})
}

func sendLogs(ctx context.Context, addr string, workers int, reqs []plogotlp.ExportRequest) (sendResult, error) {
	return send(ctx, addr, workers, reqs,
		func(r plogotlp.ExportRequest) int { return r.Logs().LogRecordCount() },
		func(ctx context.Context, conn *grpc.ClientConn, r plogotlp.ExportRequest) (int64, error) {
			resp, err := plogotlp.NewGRPCClient(conn).Export(ctx, r)
			if err != nil {
				return 0, err
			}
			return resp.PartialSuccess().RejectedLogRecords(), nil
		})
}
