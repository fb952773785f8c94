package query

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Completeness says whether a trace as stored may be missing spans. Spans
// of one request reach storage separately: each service exports its own,
// in batches, and a caller's span ends (and is sent) after its callees'.
// So a trace read while the request runs, or right after, holds some of
// its spans: 4 of what later are 10, often without its root.
type Completeness struct {
	// RootMissing: every span has a parent, none of them in the trace, so
	// the request's first span is not there (not arrived yet, lost, or
	// never sent by a caller that does not report spans).
	RootMissing bool
	// MissingParents counts the spans whose parent span is not in the
	// trace.
	MissingParents int
	// Arriving: the newest span ended less than ArrivalWindow before now,
	// so more spans of the request may still be on their way.
	Arriving bool
	// NewestEnd is when the newest span ended.
	NewestEnd time.Time
}

// Complete is true when nothing says a span is missing.
func (c Completeness) Complete() bool {
	return !c.RootMissing && c.MissingParents == 0 && !c.Arriving
}

// Reasons say, one sentence each, why the trace may be incomplete.
func (c Completeness) Reasons() []string {
	var out []string
	if c.Arriving {
		out = append(out, fmt.Sprintf("its newest span ended less than %s ago: spans may still be arriving", ArrivalWindow))
	}
	if c.RootMissing {
		out = append(out, "its root span is missing: not arrived yet, lost, or not sent by the caller")
	}
	if n := c.MissingParents; n > 0 && !(c.RootMissing && n == 1) {
		out = append(out, fmt.Sprintf("%d span%s' parent span is not in the trace", n, plural(n)))
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// CheckCompleteness looks at a trace's spans at time now.
func CheckCompleteness(td ptrace.Traces, now time.Time) Completeness {
	ids := map[pcommon.SpanID]bool{}
	forEachSpan(td, func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, sp ptrace.Span) { ids[sp.SpanID()] = true })
	var c Completeness
	roots := 0
	var newest pcommon.Timestamp
	forEachSpan(td, func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, sp ptrace.Span) {
		newest = max(newest, sp.EndTimestamp(), sp.StartTimestamp())
		switch p := sp.ParentSpanID(); {
		case p.IsEmpty():
			roots++
		case !ids[p]:
			c.MissingParents++
		}
	})
	if len(ids) == 0 {
		return c
	}
	c.RootMissing = roots == 0
	c.NewestEnd = newest.AsTime()
	c.Arriving = now.Sub(c.NewestEnd) < ArrivalWindow
	return c
}

// Completeness looks at a trace's spans now.
func (s *Service) Completeness(td ptrace.Traces) Completeness {
	return CheckCompleteness(td, s.now())
}
