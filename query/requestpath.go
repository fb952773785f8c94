package query

import (
	"context"
	"encoding/hex"
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// RequestPath is a trace rebuilt as the path a request took through the
// services: a span tree with self times, the critical path, the errors and
// the trace's logs placed under the spans that wrote them.
type RequestPath struct {
	TraceID  pcommon.TraceID
	Start    time.Time
	Duration time.Duration
	// Services that took part, sorted.
	Services []string
	Spans    int
	// Roots are the spans without a parent in the trace: normally one, more
	// when parents are missing. Children are sorted by start.
	Roots []*PathSpan
	// CriticalPath lists the spans that bound the trace's duration, in the
	// order their critical segments start: shorten one of them and the
	// request finishes sooner. The path runs to the end of the request's
	// asynchronous work (consumers of the messages it published), not
	// only to its root's end.
	CriticalPath []pcommon.SpanID
	// CriticalSegments are the path's stretches in time order: each
	// span's own time on it, and the time messages waited in a broker.
	CriticalSegments []PathSegment
	// Errors are the spans with an error status or an exception event, in
	// time order.
	Errors []PathError
	// Logs are the trace's log records that name no span of the trace.
	Logs []LogEntry
	// Completeness says whether spans may be missing (RequestPath sets it
	// at the time of the read; BuildRequestPath leaves it zero).
	Completeness Completeness
}

// PathSpan is one span in the tree.
type PathSpan struct {
	Span     ptrace.Span
	Resource pcommon.Resource
	Scope    pcommon.InstrumentationScope
	Service  string
	Depth    int
	// Offset is the start relative to the trace's start.
	Offset   time.Duration
	Duration time.Duration
	// SelfTime is Duration minus the time covered by the span's children
	// (their union, clipped to the span).
	SelfTime       time.Duration
	OnCriticalPath bool
	// QueueDelay is, for a consumer span under its producer, how long the
	// message waited: the consumer's start − the producer's start (the
	// time of the publish). 0 for other spans.
	QueueDelay time.Duration
	Children   []*PathSpan
	Logs       []LogEntry

	parent *PathSpan
}

// PathError is one failed span.
type PathError struct {
	SpanID    pcommon.SpanID
	Service   string
	Operation string
	Message   string // status message, else the exception's message
	Exception string // exception.type, when an exception event says it
	Time      time.Time
}

// RequestPath reads a trace and its logs and rebuilds the request's path.
func (s *Service) RequestPath(ctx context.Context, id pcommon.TraceID) (*RequestPath, error) {
	td, err := s.GetTrace(ctx, id)
	if err != nil {
		return nil, err
	}
	start, end := traceBounds(td)
	logs, err := s.TraceLogs(ctx, id, TimeRange{Start: start.Add(-traceLogSlack), End: end.Add(traceLogSlack)})
	if err != nil {
		return nil, err
	}
	rp := BuildRequestPath(td, logs)
	rp.Completeness = s.Completeness(td)
	return rp, nil
}

// traceLogSlack widens a trace's time range when looking for its logs:
// records are often stamped a little before or after their span.
const traceLogSlack = time.Minute

func traceBounds(td ptrace.Traces) (start, end time.Time) {
	var lo, hi pcommon.Timestamp
	forEachSpan(td, func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, sp ptrace.Span) {
		if lo == 0 || sp.StartTimestamp() < lo {
			lo = sp.StartTimestamp()
		}
		if e := max(sp.EndTimestamp(), sp.StartTimestamp()); e > hi {
			hi = e
		}
	})
	return lo.AsTime(), hi.AsTime()
}

func forEachSpan(td ptrace.Traces, fn func(ptrace.ResourceSpans, ptrace.ScopeSpans, ptrace.Span)) {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				fn(rs, ss, ss.Spans().At(k))
			}
		}
	}
}

func serviceOf(res pcommon.Resource) string {
	if v, ok := res.Attributes().Get("service.name"); ok {
		return v.AsString()
	}
	return ""
}

// BuildRequestPath is the pure part of RequestPath: td is one trace, logs
// its log records (any order).
func BuildRequestPath(td ptrace.Traces, logs []LogEntry) *RequestPath {
	rp := &RequestPath{Services: []string{}, Roots: []*PathSpan{}, CriticalPath: []pcommon.SpanID{}, CriticalSegments: []PathSegment{},
		Errors: []PathError{}, Logs: []LogEntry{}}
	start, end := traceBounds(td)
	rp.Start, rp.Duration = start, end.Sub(start)

	byID := map[pcommon.SpanID]*PathSpan{}
	var all []*PathSpan
	services := map[string]bool{}
	forEachSpan(td, func(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, sp ptrace.Span) {
		rp.TraceID = sp.TraceID()
		n := &PathSpan{Span: sp, Resource: rs.Resource(), Scope: ss.Scope(), Service: serviceOf(rs.Resource()),
			Offset: sp.StartTimestamp().AsTime().Sub(start), Children: []*PathSpan{}, Logs: []LogEntry{}}
		if sp.EndTimestamp() > sp.StartTimestamp() {
			n.Duration = time.Duration(sp.EndTimestamp() - sp.StartTimestamp())
		}
		if _, dup := byID[sp.SpanID()]; !dup {
			byID[sp.SpanID()] = n
		}
		all = append(all, n)
		services[n.Service] = true
	})
	rp.Spans = len(all)
	for s := range services {
		rp.Services = append(rp.Services, s)
	}
	sort.Strings(rp.Services)

	sortSpans(all)
	for _, n := range all {
		parent, ok := byID[n.Span.ParentSpanID()]
		if n.Span.ParentSpanID().IsEmpty() || !ok || parent == n {
			rp.Roots = append(rp.Roots, n)
			continue
		}
		parent.Children = append(parent.Children, n)
		n.parent = parent
	}
	var walk func(n *PathSpan, depth int)
	walk = func(n *PathSpan, depth int) {
		n.Depth = depth
		n.SelfTime = selfTime(n)
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	for _, r := range rp.Roots {
		walk(r, 0)
	}

	if root := mainRoot(rp.Roots); root != nil {
		var segs []segment
		rp.CriticalPath, segs = criticalPath(root)
		for _, id := range rp.CriticalPath {
			byID[id].OnCriticalPath = true
		}
		for _, sg := range segs {
			rp.CriticalSegments = append(rp.CriticalSegments, PathSegment{SpanID: sg.span.Span.SpanID(),
				From: sg.from.AsTime().Sub(start), To: sg.to.AsTime().Sub(start), Queue: sg.queue})
		}
	}
	for _, n := range all {
		if p := n.parent; p != nil && isAsync(n) {
			if d := n.Span.StartTimestamp().AsTime().Sub(p.Span.StartTimestamp().AsTime()); d > 0 {
				n.QueueDelay = d
			}
		}
	}

	for _, n := range all {
		if e, ok := spanError(n); ok {
			rp.Errors = append(rp.Errors, e)
		}
	}

	sortLogs(logs)
	for _, l := range logs {
		if n, ok := byID[l.Record.SpanID()]; ok && !l.Record.SpanID().IsEmpty() {
			n.Logs = append(n.Logs, l)
		} else {
			rp.Logs = append(rp.Logs, l)
		}
	}
	return rp
}

// sortSpans orders by start, then longer first (a parent before a child
// starting at the same instant), then span id.
func sortSpans(spans []*PathSpan) {
	sort.SliceStable(spans, func(i, j int) bool {
		a, b := spans[i].Span, spans[j].Span
		if a.StartTimestamp() != b.StartTimestamp() {
			return a.StartTimestamp() < b.StartTimestamp()
		}
		if spans[i].Duration != spans[j].Duration {
			return spans[i].Duration > spans[j].Duration
		}
		ai, bi := a.SpanID(), b.SpanID()
		return hex.EncodeToString(ai[:]) < hex.EncodeToString(bi[:])
	})
}

func sortLogs(logs []LogEntry) {
	sort.SliceStable(logs, func(i, j int) bool {
		return logs[i].Record.Timestamp() < logs[j].Record.Timestamp()
	})
}

type interval struct{ from, to pcommon.Timestamp }

func spanInterval(n *PathSpan) interval {
	s := n.Span.StartTimestamp()
	return interval{s, s + pcommon.Timestamp(n.Duration)}
}

// selfTime is the span's duration minus the union of its children's
// intervals clipped to the span.
func selfTime(n *PathSpan) time.Duration {
	own := spanInterval(n)
	var ivs []interval
	for _, c := range n.Children {
		iv := spanInterval(c)
		iv.from, iv.to = max(iv.from, own.from), min(iv.to, own.to)
		if iv.to > iv.from {
			ivs = append(ivs, iv)
		}
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].from < ivs[j].from })
	var covered pcommon.Timestamp
	var cur interval
	for i, iv := range ivs {
		if i == 0 || iv.from > cur.to {
			covered += cur.to - cur.from
			cur = iv
			continue
		}
		cur.to = max(cur.to, iv.to)
	}
	covered += cur.to - cur.from
	return n.Duration - time.Duration(covered)
}

// mainRoot is the span the critical path starts from: the earliest true
// root (no parent id), else the earliest span without a parent in the trace.
func mainRoot(roots []*PathSpan) *PathSpan {
	for _, r := range roots {
		if r.Span.ParentSpanID().IsEmpty() {
			return r
		}
	}
	if len(roots) > 0 {
		return roots[0]
	}
	return nil
}

// PathSegment is a stretch of the critical path: time a span spent on its
// own work, or (Queue) time a message waited in a broker before the
// consumer span SpanID began (from its producer's end, or from the end of
// the delivery before it), which is no span's own time. From and To are
// offsets from the trace's start.
type PathSegment struct {
	SpanID   pcommon.SpanID
	From, To time.Duration
	Queue    bool
}

type segment struct {
	span     *PathSpan
	from, to pcommon.Timestamp
	queue    bool
}

// isAsync says whether a span is a hop through a broker from its parent:
// a CONSUMER span (its parent is the producer span whose context the
// message carried). Its parent does not wait for it, so it may start and
// end after its parent has ended.
func isAsync(n *PathSpan) bool { return n.Span.Kind() == ptrace.SpanKindConsumer }

// asyncEnds computes, for every span, when the asynchronous work under it
// ends (its consumers and theirs, through any depth of synchronous spans),
// 0 when there is none. The request is not done before that: a checkout
// whose order is shipped by a worker after the response ends there.
func asyncEnds(root *PathSpan) map[*PathSpan]pcommon.Timestamp {
	out := map[*PathSpan]pcommon.Timestamp{}
	// Children before parents, without recursion (deep traces).
	var order []*PathSpan
	stack := []*PathSpan{root}
	for len(stack) > 0 && len(order) < 1_000_000 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		order = append(order, n)
		stack = append(stack, n.Children...)
	}
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		var ext pcommon.Timestamp
		for _, c := range n.Children {
			e := out[c]
			if isAsync(c) {
				e = max(e, spanInterval(c).to)
			}
			ext = max(ext, e)
		}
		out[n] = ext
	}
	return out
}

// criticalPath walks back from the end of the request: the child that
// finished last before the cursor is on the path, the cursor moves to
// that child's start, and so on; the time no child covers is the span's
// own. A synchronous child is clipped to its parent, so work running past
// its parent without being awaited (fire and forget) does not stretch the
// path. An asynchronous hop (a consumer span under its producer) is the
// exception: the consumer's work, and whatever it leads to, extends the
// path past its producer and past the producer's ancestors, since the
// request is not done until it is. The time between the producer's end
// (or the previous delivery of the message) and the consumer's start is a
// queue segment of its own, not the producer's self time: the message
// waited in the broker, and no span was working.
func criticalPath(root *PathSpan) ([]pcommon.SpanID, []segment) {
	ext := asyncEnds(root)
	// reach is when a child's work, as its parent n waits for it (or as
	// the request does, through an async hop), ends.
	reach := func(n, c *PathSpan) pcommon.Timestamp {
		end := spanInterval(c).to
		if !isAsync(c) {
			end = min(end, spanInterval(n).to)
		}
		return max(end, ext[c])
	}
	var segs []segment
	// own adds [from, to) of n: its own time up to its end, queue time of
	// waiting (the consumer that began at to) after it.
	own := func(n, waiting *PathSpan, from, to pcommon.Timestamp) {
		if to <= from {
			return
		}
		end := spanInterval(n).to
		if waiting != nil && to > end {
			if from < end {
				segs = append(segs, segment{span: n, from: from, to: end})
			}
			segs = append(segs, segment{span: waiting, from: max(from, end), to: to, queue: true})
			return
		}
		segs = append(segs, segment{span: n, from: from, to: to})
	}
	var walk func(n *PathSpan, bound interval, depth int)
	walk = func(n *PathSpan, bound interval, depth int) {
		cursor := bound.to
		var prev *PathSpan // the async child last put on the path
		for {
			var best *PathSpan
			var bestEnd pcommon.Timestamp
			for _, c := range n.Children {
				if c.Span.StartTimestamp() >= cursor {
					continue
				}
				r := reach(n, c)
				if r <= bound.from {
					continue
				}
				end := min(r, cursor)
				if best == nil || end > bestEnd {
					best, bestEnd = c, end
				}
			}
			if best == nil || depth > 10_000 {
				break
			}
			own(n, prev, bestEnd, cursor)
			from := max(best.Span.StartTimestamp(), bound.from)
			walk(best, interval{from, bestEnd}, depth+1)
			cursor = from
			prev = nil
			if isAsync(best) {
				prev = best
			}
			if cursor <= bound.from {
				break
			}
		}
		own(n, prev, bound.from, cursor)
	}
	rootIv := spanInterval(root)
	walk(root, interval{rootIv.from, max(rootIv.to, ext[root])}, 0)
	if len(segs) == 0 {
		return []pcommon.SpanID{root.Span.SpanID()}, nil
	}
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].from < segs[j].from })
	seen := map[pcommon.SpanID]bool{}
	out := []pcommon.SpanID{}
	for _, s := range segs {
		id := s.span.Span.SpanID()
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, segs
}

func spanError(n *PathSpan) (PathError, bool) {
	sp := n.Span
	e := PathError{SpanID: sp.SpanID(), Service: n.Service, Operation: sp.Name(), Message: sp.Status().Message(), Time: sp.StartTimestamp().AsTime()}
	failed := sp.Status().Code() == ptrace.StatusCodeError
	for i := 0; i < sp.Events().Len(); i++ {
		ev := sp.Events().At(i)
		if ev.Name() != "exception" {
			continue
		}
		failed = true
		if v, ok := ev.Attributes().Get("exception.type"); ok && e.Exception == "" {
			e.Exception = v.AsString()
		}
		if v, ok := ev.Attributes().Get("exception.message"); ok && e.Message == "" {
			e.Message = v.AsString()
		}
	}
	return e, failed
}
