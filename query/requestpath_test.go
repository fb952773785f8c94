package query

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type fakeSpan struct {
	id, parent byte
	service    string
	name       string
	start, end int // ms from t0
	err        bool
	kind       ptrace.SpanKind
}

func fakeTrace(spans ...fakeSpan) ptrace.Traces {
	td := ptrace.NewTraces()
	bySvc := map[string]ptrace.SpanSlice{}
	for _, f := range spans {
		ss, ok := bySvc[f.service]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", f.service)
			ss = rs.ScopeSpans().AppendEmpty().Spans()
			bySvc[f.service] = ss
		}
		sp := ss.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1})
		sp.SetSpanID(pcommon.SpanID{7: f.id})
		if f.parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{7: f.parent})
		}
		sp.SetName(f.name)
		sp.SetKind(f.kind)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(f.start) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(f.end) * time.Millisecond)))
		if f.err {
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage("boom")
		}
	}
	return td
}

func ids(list []pcommon.SpanID) string {
	var out []string
	for _, id := range list {
		out = append(out, strings.TrimLeft(hex.EncodeToString(id[:]), "0"))
	}
	return strings.Join(out, ",")
}

func findSpan(rp *RequestPath, id byte) *PathSpan {
	var found *PathSpan
	var walk func([]*PathSpan)
	walk = func(ns []*PathSpan) {
		for _, n := range ns {
			if n.Span.SpanID() == (pcommon.SpanID{7: id}) {
				found = n
			}
			walk(n.Children)
		}
	}
	walk(rp.Roots)
	return found
}

func TestSelfTimeAndCriticalPath(t *testing.T) {
	// root 0–100: a (10–40) and b (20–60) overlap, c (70–90) runs after;
	// a1 (12–30) under a; d (95–130) is async and outlives the root.
	td := fakeTrace(
		fakeSpan{id: 1, service: "gw", name: "root", start: 0, end: 100},
		fakeSpan{id: 2, parent: 1, service: "svc", name: "a", start: 10, end: 40},
		fakeSpan{id: 3, parent: 1, service: "svc", name: "b", start: 20, end: 60, err: true},
		fakeSpan{id: 4, parent: 1, service: "db", name: "c", start: 70, end: 90},
		fakeSpan{id: 5, parent: 2, service: "db", name: "a1", start: 12, end: 30},
		fakeSpan{id: 6, parent: 1, service: "queue", name: "d", start: 95, end: 130},
	)
	rp := BuildRequestPath(td, nil)
	ms := time.Millisecond
	for id, want := range map[byte]time.Duration{1: 100*ms - 50*ms - 20*ms - 5*ms, 2: 12 * ms, 3: 40 * ms, 4: 20 * ms, 5: 18 * ms, 6: 35 * ms} {
		if got := findSpan(rp, id).SelfTime; got != want {
			t.Errorf("self time of span %d = %v, want %v", id, got, want)
		}
	}
	// From the root's end: d (clipped to 95–100), c, then b (the child
	// that ends last before c starts), then a up to b's start, then the
	// root's own first 10 ms.
	if got, want := ids(rp.CriticalPath), "1,2,5,3,4,6"; got != want {
		t.Errorf("critical path = %s, want %s", got, want)
	}
	if rp.Duration != 130*ms || rp.Spans != 6 || len(rp.Roots) != 1 {
		t.Errorf("duration %v spans %d roots %d", rp.Duration, rp.Spans, len(rp.Roots))
	}
	if len(rp.Errors) != 1 || rp.Errors[0].Operation != "b" || rp.Errors[0].Message != "boom" {
		t.Errorf("errors = %+v", rp.Errors)
	}
	if got := strings.Join(rp.Services, ","); got != "db,gw,queue,svc" {
		t.Errorf("services = %s", got)
	}
}

func TestCriticalPathSkipsParallelWork(t *testing.T) {
	// Two parallel children: only the one that ends last bounds the root.
	td := fakeTrace(
		fakeSpan{id: 1, service: "gw", name: "root", start: 0, end: 100},
		fakeSpan{id: 2, parent: 1, service: "a", name: "fast", start: 10, end: 50},
		fakeSpan{id: 3, parent: 1, service: "b", name: "slow", start: 10, end: 90},
	)
	rp := BuildRequestPath(td, nil)
	if got := ids(rp.CriticalPath); got != "1,3" {
		t.Errorf("critical path = %s, want 1,3", got)
	}
	if findSpan(rp, 2).OnCriticalPath || !findSpan(rp, 3).OnCriticalPath {
		t.Error("OnCriticalPath flags are wrong")
	}
}

// segs writes critical segments as "span:from-to" (ms), queue waits as
// "~span:from-to".
func segs(rp *RequestPath) string {
	var out []string
	for _, s := range rp.CriticalSegments {
		id := strings.TrimLeft(hex.EncodeToString(s.SpanID[:]), "0")
		mark := ""
		if s.Queue {
			mark = "~"
		}
		out = append(out, fmt.Sprintf("%s%s:%d-%d", mark, id, s.From.Milliseconds(), s.To.Milliseconds()))
	}
	return strings.Join(out, " ")
}

// A checkout that publishes an event a worker processes after the
// response: the path runs on to the worker's end through the consumer,
// the wait in the broker is a queue segment (not the producer's self
// time), and each redelivery of the message is on it.
func TestCriticalPathThroughBroker(t *testing.T) {
	const producer, consumer = ptrace.SpanKindProducer, ptrace.SpanKindConsumer
	td := fakeTrace(
		fakeSpan{id: 1, service: "gateway", name: "POST /checkout", start: 0, end: 100},
		fakeSpan{id: 2, parent: 1, service: "order", name: "POST /orders", start: 10, end: 90},
		fakeSpan{id: 3, parent: 2, service: "order", name: "saga.confirm_order", start: 60, end: 80},
		fakeSpan{id: 4, parent: 3, service: "order", name: "publish order.confirmed", start: 62, end: 70, kind: producer},
		// Parallel to the saga, ending after it: on the path of the
		// response, not of the request's completion.
		fakeSpan{id: 9, parent: 1, service: "gateway", name: "render", start: 85, end: 98},
		// Three deliveries: two fail, the third ships the order.
		fakeSpan{id: 5, parent: 4, service: "fulfillment", name: "process order.confirmed", start: 120, end: 130, kind: consumer, err: true},
		fakeSpan{id: 6, parent: 4, service: "fulfillment", name: "process order.confirmed", start: 330, end: 340, kind: consumer, err: true},
		fakeSpan{id: 7, parent: 4, service: "fulfillment", name: "process order.confirmed", start: 740, end: 760, kind: consumer},
		fakeSpan{id: 8, parent: 7, service: "fulfillment", name: "ship", start: 745, end: 755},
	)
	rp := BuildRequestPath(td, nil)
	if rp.Duration != 760*time.Millisecond {
		t.Errorf("duration %v, want 760ms (to the last delivery's end)", rp.Duration)
	}
	want := "1:0-10 2:10-60 3:60-62 4:62-70 ~5:70-120 5:120-130 ~6:130-330 6:330-340 ~7:340-740 7:740-745 8:745-755 7:755-760"
	if got := segs(rp); got != want {
		t.Errorf("critical segments\n got %s\nwant %s", got, want)
	}
	if got := ids(rp.CriticalPath); got != "1,2,3,4,5,6,7,8" {
		t.Errorf("critical path = %s", got)
	}
	// The producer's self time is its own 8 ms, not the wait.
	if got := findSpan(rp, 4).SelfTime; got != 8*time.Millisecond {
		t.Errorf("producer self time %v, want 8ms", got)
	}
	for id, want := range map[byte]time.Duration{5: 58 * time.Millisecond, 6: 268 * time.Millisecond, 7: 678 * time.Millisecond, 4: 0, 8: 0} {
		if got := findSpan(rp, id).QueueDelay; got != want {
			t.Errorf("queue delay of span %d = %v, want %v (consumer start − publish start)", id, got, want)
		}
	}

	// A consumer that started before its producer ended (the broker
	// delivered before the publish returned) waits for nothing.
	td = fakeTrace(
		fakeSpan{id: 1, service: "api", name: "root", start: 0, end: 50},
		fakeSpan{id: 2, parent: 1, service: "api", name: "publish jobs", start: 10, end: 30, kind: producer},
		fakeSpan{id: 3, parent: 2, service: "worker", name: "process jobs", start: 25, end: 80, kind: consumer},
	)
	rp = BuildRequestPath(td, nil)
	if got, want := segs(rp), "1:0-10 2:10-25 3:25-80"; got != want {
		t.Errorf("overlapping hop: segments %s, want %s", got, want)
	}

	// A span that outlives its parent without being a consumer (fire and
	// forget) still does not stretch the path.
	td = fakeTrace(
		fakeSpan{id: 1, service: "api", name: "root", start: 0, end: 50},
		fakeSpan{id: 2, parent: 1, service: "api", name: "audit", start: 40, end: 90},
	)
	rp = BuildRequestPath(td, nil)
	if got, want := segs(rp), "1:0-40 2:40-50"; got != want {
		t.Errorf("fire and forget: segments %s, want %s", got, want)
	}
}

func TestOrphansAndLogs(t *testing.T) {
	td := fakeTrace(
		fakeSpan{id: 1, service: "gw", name: "root", start: 0, end: 10},
		fakeSpan{id: 2, parent: 9, service: "svc", name: "orphan", start: 2, end: 4},
	)
	rec := func(span byte, ms int) LogEntry {
		r := plog.NewLogRecord()
		r.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(ms) * time.Millisecond)))
		if span != 0 {
			r.SetSpanID(pcommon.SpanID{7: span})
		}
		return LogEntry{Resource: pcommon.NewResource(), Scope: pcommon.NewInstrumentationScope(), Record: r}
	}
	rp := BuildRequestPath(td, []LogEntry{rec(2, 3), rec(1, 5), rec(1, 1), rec(0, 2), rec(8, 2)})
	if len(rp.Roots) != 2 {
		t.Fatalf("roots = %d, want the root and the span whose parent is missing", len(rp.Roots))
	}
	if got := ids(rp.CriticalPath); got != "1" {
		t.Errorf("critical path = %s, want 1", got)
	}
	root := findSpan(rp, 1)
	if len(root.Logs) != 2 || root.Logs[0].Record.Timestamp() > root.Logs[1].Record.Timestamp() {
		t.Errorf("root logs = %d, want 2 in time order", len(root.Logs))
	}
	if len(findSpan(rp, 2).Logs) != 1 || len(rp.Logs) != 2 {
		t.Errorf("orphan span logs %d, trace-level logs %d", len(findSpan(rp, 2).Logs), len(rp.Logs))
	}
}

func TestDiffTraces(t *testing.T) {
	a := fakeTrace(
		fakeSpan{id: 1, service: "gw", name: "GET /x", start: 0, end: 100},
		fakeSpan{id: 2, parent: 1, service: "db", name: "select", start: 10, end: 30},
		fakeSpan{id: 3, parent: 1, service: "cache", name: "get", start: 30, end: 35},
	)
	b := fakeTrace(
		fakeSpan{id: 1, service: "gw", name: "GET /x", start: 0, end: 150},
		fakeSpan{id: 2, parent: 1, service: "db", name: "select", start: 10, end: 30},
		fakeSpan{id: 4, parent: 1, service: "db", name: "select", start: 40, end: 90, err: true},
		fakeSpan{id: 5, parent: 1, service: "auth", name: "check", start: 95, end: 100},
	)
	d := DiffTraces(a, b)
	if got := strings.Join(d.Added, "|"); got != "gw:GET /x/auth:check" {
		t.Errorf("added = %s", got)
	}
	if got := strings.Join(d.Missing, "|"); got != "gw:GET /x/cache:get" {
		t.Errorf("missing = %s", got)
	}
	var sel *PathDiff
	for i := range d.Paths {
		if d.Paths[i].Path == "gw:GET /x/db:select" {
			sel = &d.Paths[i]
		}
	}
	if sel == nil || sel.Change != "count" || sel.CountA != 1 || sel.CountB != 2 || sel.Delta != 50*time.Millisecond || sel.ErrorsB != 1 {
		t.Errorf("db:select diff = %+v", sel)
	}
	if d.A.Root != "gw:GET /x" || d.B.Duration != 150*time.Millisecond {
		t.Errorf("summaries = %+v %+v", d.A, d.B)
	}
}
