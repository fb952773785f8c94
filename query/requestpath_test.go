package query

import (
	"encoding/hex"
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
