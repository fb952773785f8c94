package ingesttest

import (
	"encoding/binary"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// SpansPerTrace is the size of the traces NumberedTraces builds.
const SpansPerTrace = 4

// SpanID is the id of span number n: its number in the last 8 bytes, so
// stored spans can be counted and matched exactly
// (reinterpretAsUInt64(reverse(SpanId)) in SQL).
func SpanID(n uint64) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], n)
	return id
}

// TraceID is the trace of span number n.
func TraceID(n uint64) pcommon.TraceID {
	var id pcommon.TraceID
	id[0] = 0x7e
	binary.BigEndian.PutUint64(id[8:], n/SpansPerTrace+1)
	return id
}

// NumberedTraces is spans number first … first+n-1, in traces of
// SpansPerTrace spans that cross services (each span's parent is the
// previous span of its trace, in the previous service), started at now.
func NumberedTraces(first, n uint64, services []string, now time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	bySvc := make([]ptrace.SpanSlice, len(services))
	for i, s := range services {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", s)
		bySvc[i] = rs.ScopeSpans().AppendEmpty().Spans()
	}
	start := pcommon.NewTimestampFromTime(now)
	for k := first; k < first+n; k++ {
		s := bySvc[int(k%SpansPerTrace)%len(services)].AppendEmpty()
		s.SetTraceID(TraceID(k))
		s.SetSpanID(SpanID(k + 1)) // span ids are never zero
		if k%SpansPerTrace != 0 {
			s.SetParentSpanID(SpanID(k))
		}
		s.SetName("op")
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(start)
		s.SetEndTimestamp(start + pcommon.Timestamp(time.Millisecond))
		s.Attributes().PutInt("seq", int64(k))
	}
	return td
}

// NumberedLogs is records number first … first+n-1 of service.
func NumberedLogs(first, n uint64, service string, now time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for k := first; k < first+n; k++ {
		r := recs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(now))
		r.SetSeverityNumber(plog.SeverityNumberInfo)
		r.Body().SetStr("record")
		r.Attributes().PutInt("seq", int64(k))
	}
	return ld
}
