package query

import (
	"context"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TraceDiff compares two traces by structure: each span is named by its
// operation path from the root ("gateway:GET /checkout/order:charge/…"),
// and the paths of A and B are matched.
type TraceDiff struct {
	A, B TraceSummary
	// Paths has every path of either trace in execution order: depth
	// first, a path's children by when they first started (in A or B,
	// from their trace's start).
	Paths []PathDiff
	// Added are the paths only B has, Missing the ones only A has.
	Added, Missing []string
}

// TraceSummary describes one side of a comparison.
type TraceSummary struct {
	TraceID  pcommon.TraceID
	Root     string // the root span's service:operation
	Duration time.Duration
	Spans    int
	Errors   int
}

// PathDiff compares one path. Durations add up all spans on the path.
type PathDiff struct {
	Path     string
	Segments []string // the path's service:operation steps
	CountA   int
	CountB   int
	// DurationA/B are the total durations, SelfA/B the total self times.
	DurationA, DurationB time.Duration
	SelfA, SelfB         time.Duration
	// Delta is DurationB − DurationA.
	Delta time.Duration
	// Change is "added", "missing", "count" (both have it, different number
	// of times) or "" (same count).
	Change           string
	ErrorsA, ErrorsB int
}

// CompareTraces reads two traces and diffs them.
func (s *Service) CompareTraces(ctx context.Context, a, b pcommon.TraceID) (*TraceDiff, error) {
	ta, err := s.GetTrace(ctx, a)
	if err != nil {
		return nil, err
	}
	tb, err := s.GetTrace(ctx, b)
	if err != nil {
		return nil, err
	}
	return DiffTraces(ta, tb), nil
}

type pathStats struct {
	segments       []string
	count, errors  int
	duration, self time.Duration
	first          time.Duration // the earliest start of a span on the path, from the trace's start
}

func tracePaths(td ptrace.Traces) (TraceSummary, map[string]*pathStats) {
	rp := BuildRequestPath(td, nil)
	sum := TraceSummary{TraceID: rp.TraceID, Duration: rp.Duration, Spans: rp.Spans, Errors: len(rp.Errors)}
	if root := mainRoot(rp.Roots); root != nil {
		sum.Root = root.Service + ":" + root.Span.Name()
	}
	paths := map[string]*pathStats{}
	var walk func(n *PathSpan, prefix []string)
	walk = func(n *PathSpan, prefix []string) {
		segs := append(append([]string(nil), prefix...), n.Service+":"+n.Span.Name())
		key := strings.Join(segs, "/")
		ps := paths[key]
		if ps == nil {
			ps = &pathStats{segments: segs, first: n.Offset}
			paths[key] = ps
		}
		ps.first = min(ps.first, n.Offset)
		ps.count++
		ps.duration += n.Duration
		ps.self += n.SelfTime
		if n.Span.Status().Code() == ptrace.StatusCodeError {
			ps.errors++
		}
		for _, c := range n.Children {
			walk(c, segs)
		}
	}
	for _, r := range rp.Roots {
		walk(r, nil)
	}
	return sum, paths
}

// DiffTraces is the pure part of CompareTraces.
func DiffTraces(a, b ptrace.Traces) *TraceDiff {
	sa, pa := tracePaths(a)
	sb, pb := tracePaths(b)
	d := &TraceDiff{A: sa, B: sb, Paths: []PathDiff{}, Added: []string{}, Missing: []string{}}
	keys := map[string]bool{}
	for k := range pa {
		keys[k] = true
	}
	for k := range pb {
		keys[k] = true
	}
	for _, k := range executionOrder(keys, pa, pb) {
		x, y := pa[k], pb[k]
		pd := PathDiff{Path: k}
		if x != nil {
			pd.Segments = x.segments
			pd.CountA, pd.DurationA, pd.SelfA, pd.ErrorsA = x.count, x.duration, x.self, x.errors
		}
		if y != nil {
			pd.Segments = y.segments
			pd.CountB, pd.DurationB, pd.SelfB, pd.ErrorsB = y.count, y.duration, y.self, y.errors
		}
		pd.Delta = pd.DurationB - pd.DurationA
		switch {
		case x == nil:
			pd.Change = "added"
			d.Added = append(d.Added, k)
		case y == nil:
			pd.Change = "missing"
			d.Missing = append(d.Missing, k)
		case x.count != y.count:
			pd.Change = "count"
		}
		d.Paths = append(d.Paths, pd)
	}
	return d
}

// executionOrder lists the paths depth first, each path's children by the
// earliest start of a span on them in either trace (then by name), so the
// comparison reads in the order the request ran.
func executionOrder(keys map[string]bool, pa, pb map[string]*pathStats) []string {
	first := func(k string) time.Duration {
		x, y := pa[k], pb[k]
		switch {
		case x == nil:
			return y.first
		case y == nil:
			return x.first
		}
		return min(x.first, y.first)
	}
	segments := func(k string) []string {
		if x := pa[k]; x != nil {
			return x.segments
		}
		return pb[k].segments
	}
	children := map[string][]string{}
	for k := range keys {
		segs := segments(k)
		parent := strings.Join(segs[:len(segs)-1], "/")
		if !keys[parent] {
			parent = ""
		}
		children[parent] = append(children[parent], k)
	}
	for _, kids := range children {
		sort.Slice(kids, func(i, j int) bool {
			if fi, fj := first(kids[i]), first(kids[j]); fi != fj {
				return fi < fj
			}
			return kids[i] < kids[j]
		})
	}
	out := make([]string, 0, len(keys))
	var walk func(parent string)
	walk = func(parent string) {
		for _, k := range children[parent] {
			out = append(out, k)
			walk(k)
		}
	}
	walk("")
	return out
}
