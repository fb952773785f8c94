package writer

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Rejection counts items that can never be stored, with the first reason.
type Rejection struct {
	Count  int
	Reason string
}

func (r *Rejection) add(n int, reason string) {
	if r.Count == 0 {
		r.Reason = reason
	}
	r.Count += n
}

// Why items are rejected before any INSERT.
const (
	reasonSpanTime = "span start time is after 2262-04-11, the last instant DateTime64(9) can hold"
	reasonLogTime  = "log timestamp is after 2262-04-11, the last instant DateTime64(9) can hold"
)

func storableSpan(s ptrace.Span) bool { return s.StartTimestamp() <= maxTimestamp }

func storableRecord(r plog.LogRecord) bool {
	return r.Timestamp() <= maxTimestamp && r.ObservedTimestamp() <= maxTimestamp
}

// StorableTraces returns td without the spans that can never be stored
// (they start after 2262-04-11: DateTime64(9) cannot hold that), and how
// many it left out and why. When every span can be stored it returns td
// itself; otherwise a copy, td is not changed. The exporter calls it
// before queueing a request, so that what it queues, counts as sent and
// acknowledges is what can be stored; the writer calls it again for any
// other caller.
func StorableTraces(td ptrace.Traces) (ptrace.Traces, Rejection) {
	var rej Rejection
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if !storableSpan(s) {
					rej.add(1, reasonSpanTime)
				}
			}
		}
	}
	if rej.Count == 0 {
		return td, rej
	}
	return copyTraces(td, func(_ int, s ptrace.Span) bool { return storableSpan(s) }), rej
}

// StorableLogs is StorableTraces for log records: a record whose timestamp
// or observed timestamp is after 2262-04-11 cannot be stored. It also
// gives a record that has neither its ObservedTimestamp now (in the copy):
// it is stored at that time, so that time-range searches find it, and the
// time is part of the record from then on, so a retry or a replay from a
// persistent queue stores the same row, which its deduplication token
// recognises (a time taken at each INSERT would make each retry a new row).
func StorableLogs(ld plog.Logs, now time.Time) (plog.Logs, Rejection) {
	var rej Rejection
	untimed := 0
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				switch {
				case !storableRecord(r):
					rej.add(1, reasonLogTime)
				case r.Timestamp() == 0 && r.ObservedTimestamp() == 0:
					untimed++
				}
			}
		}
	}
	if rej.Count == 0 && untimed == 0 {
		return ld, rej
	}
	out := copyLogs(ld, func(_ int, r plog.LogRecord) bool { return storableRecord(r) })
	if untimed > 0 {
		observed := pcommon.NewTimestampFromTime(now)
		for _, rl := range out.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, r := range sl.LogRecords().All() {
					if r.Timestamp() == 0 && r.ObservedTimestamp() == 0 {
						r.SetObservedTimestamp(observed)
					}
				}
			}
		}
	}
	return out, rej
}

// copyTraces copies the spans of td that keep accepts (called with each
// span's position in td, counting from 0), under copies of their resource
// and scope; resources and scopes left without spans are left out.
func copyTraces(td ptrace.Traces, keep func(i int, s ptrace.Span) bool) ptrace.Traces {
	out := ptrace.NewTraces()
	i := 0
	for _, rs := range td.ResourceSpans().All() {
		var outRS ptrace.ResourceSpans
		hasRS := false
		for _, ss := range rs.ScopeSpans().All() {
			var outSS ptrace.ScopeSpans
			hasSS := false
			for _, s := range ss.Spans().All() {
				if keep(i, s) {
					if !hasRS {
						outRS = out.ResourceSpans().AppendEmpty()
						rs.Resource().CopyTo(outRS.Resource())
						outRS.SetSchemaUrl(rs.SchemaUrl())
						hasRS = true
					}
					if !hasSS {
						outSS = outRS.ScopeSpans().AppendEmpty()
						ss.Scope().CopyTo(outSS.Scope())
						outSS.SetSchemaUrl(ss.SchemaUrl())
						hasSS = true
					}
					s.CopyTo(outSS.Spans().AppendEmpty())
				}
				i++
			}
		}
	}
	return out
}

// copyLogs is copyTraces for log records.
func copyLogs(ld plog.Logs, keep func(i int, r plog.LogRecord) bool) plog.Logs {
	out := plog.NewLogs()
	i := 0
	for _, rl := range ld.ResourceLogs().All() {
		var outRL plog.ResourceLogs
		hasRL := false
		for _, sl := range rl.ScopeLogs().All() {
			var outSL plog.ScopeLogs
			hasSL := false
			for _, r := range sl.LogRecords().All() {
				if keep(i, r) {
					if !hasRL {
						outRL = out.ResourceLogs().AppendEmpty()
						rl.Resource().CopyTo(outRL.Resource())
						outRL.SetSchemaUrl(rl.SchemaUrl())
						hasRL = true
					}
					if !hasSL {
						outSL = outRL.ScopeLogs().AppendEmpty()
						sl.Scope().CopyTo(outSL.Scope())
						outSL.SetSchemaUrl(sl.SchemaUrl())
						hasSL = true
					}
					r.CopyTo(outSL.LogRecords().AppendEmpty())
				}
				i++
			}
		}
	}
	return out
}

// tracesRange copies the spans at positions [lo, hi) of td.
func tracesRange(td ptrace.Traces, lo, hi int) ptrace.Traces {
	return copyTraces(td, func(i int, _ ptrace.Span) bool { return i >= lo && i < hi })
}

// logsRange copies the log records at positions [lo, hi) of ld.
func logsRange(ld plog.Logs, lo, hi int) plog.Logs {
	return copyLogs(ld, func(i int, _ plog.LogRecord) bool { return i >= lo && i < hi })
}
