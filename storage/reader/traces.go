package reader

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage"
)

// ErrTraceNotFound is returned by GetTrace when no span of the trace is
// stored.
var ErrTraceNotFound = errors.New("trace not found")

// traceIDParam is the binary trace id from its hex text parameter (binary
// parameters do not survive every transport).
const traceIDParam = "toFixedString(unhex({trace_id:String}), 16)"

// traceByIDQuery is the read documented in migrations/0002_trace_index.sql:
// the trace's time range from trace_index, then one primary-key range of
// spans, bounded by DateTime64 values (compared with a DateTime, the
// engine's part pruning drops spans that are not on a whole second).
func traceByIDQuery(t tables, spanCols string) string {
	return "WITH (SELECT (min(Start), max(End)) FROM " + t.traceIndex +
		" WHERE TraceKey = cityHash64(" + traceIDParam + ")) AS trace_range" +
		" SELECT " + spanCols + " FROM " + t.spans +
		" WHERE TraceId = " + traceIDParam +
		" AND Timestamp >= toDateTime64(trace_range.1, 9) AND Timestamp < toDateTime64(trace_range.2 + 1, 9)" +
		" ORDER BY Timestamp"
}

// traceReadSettings are the settings of reading whole traces: more spans
// than Limits.MaxTraceSpans fail in ClickHouse (TooLargeError) instead of
// being read whole, and one thread reads them — a trace read takes a few
// granules out of a few parts, too little to share between threads (see
// internal/bench/README.md for the measurement).
func (r *Reader) traceReadSettings() clickhouse.Settings {
	return clickhouse.Settings{"max_result_rows": r.limits.MaxTraceSpans, "max_threads": 1}
}

// GetTrace returns every span of the trace, grouped by resource and scope,
// oldest first. Exact redeliveries of a span (same span id, parent, start,
// duration, service and name — what at-least-once delivery produces) are
// returned once. No span: ErrTraceNotFound.
func (r *Reader) GetTrace(ctx context.Context, traceID pcommon.TraceID) (ptrace.Traces, error) {
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"trace_id": storage.HexParam(traceID[:]),
	}))
	b := newTraceBuilder()
	var row spanRow
	dest := row.dest()
	err := r.query(ctx, r.traceReadSettings(), r.traceQuery, nil, func(rows driverRows) error {
		row.clearSlices()
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("read trace %s: %w", traceID, err)
		}
		b.add(&row)
		return nil
	})
	if err != nil {
		return ptrace.Traces{}, err
	}
	if b.td.SpanCount() == 0 {
		return b.td, ErrTraceNotFound
	}
	return b.td, nil
}

// GetTraces reads several traces in one statement instead of two per
// trace: a subquery reads their time ranges from trace_index and turns
// each into the trace's (minute, TraceId) primary keys, and the read of
// spans is narrowed to those keys' granules (the IN's set is built before
// the primary key is analysed, so it selects parts and granules as a list
// of literal keys would). A set lookup filters the rows read, instead of a
// condition per trace evaluated on every row. Traces that are not found
// are absent from the result. All the traces together are bounded by
// Limits.MaxTraceSpans.
//
// On a cluster the subquery must read the distributed trace_index once, on
// the node that received the query, and ship the set to every shard: a
// plain IN would run it on each shard, through the distributed table
// again, which ClickHouse refuses. distributed_product_mode = 'global'
// makes the IN a GLOBAL IN there; on one node, where a GLOBAL IN would
// copy the set into a temporary table for nothing (1–4 ms measured at 10M
// spans), it leaves a plain IN.
func (r *Reader) GetTraces(ctx context.Context, ids []pcommon.TraceID) (map[pcommon.TraceID]ptrace.Traces, error) {
	if len(ids) == 0 {
		return map[pcommon.TraceID]ptrace.Traces{}, nil
	}
	hexIDs := make([]string, len(ids))
	for i, id := range ids {
		hexIDs[i] = storage.HexParam(id[:])
	}
	return r.readTraces(ctx, r.tracesQuery, []any{clickhouse.Named("ids", hexIDs)}, nil, nil)
}

// readTraces runs a statement of whole spans whose IN subquery selects
// traces through trace_index (tracesByIDQuery, searchTracesQuery), and
// builds one trace per TraceId. Columns after spanCols are scanned into
// extra; first, when set, is called with a trace's id when its first span
// is read (extra then holds that row's values).
func (r *Reader) readTraces(ctx context.Context, sql string, args []any, extra []any, first func(pcommon.TraceID)) (map[pcommon.TraceID]ptrace.Traces, error) {
	builders := make(map[pcommon.TraceID]*traceBuilder)
	var row spanRow
	dest := append(row.dest(), extra...)
	settings := r.traceReadSettings()
	settings["distributed_product_mode"] = "global" // see GetTraces
	err := r.query(ctx, settings, sql, args, func(rows driverRows) error {
		row.clearSlices()
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("read traces: %w", err)
		}
		b := builders[row.TraceID]
		if b == nil {
			b = newTraceBuilder()
			builders[row.TraceID] = b
			if first != nil {
				first(row.TraceID)
			}
		}
		b.add(&row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[pcommon.TraceID]ptrace.Traces, len(builders))
	for id, b := range builders {
		out[id] = b.td
	}
	return out, nil
}

// tracesByIDQuery is GetTraces' statement. The subquery pairs each id with
// its trace_index rows (the ids whose cityHash64 is the row's TraceKey, so
// a hash collision reads both traces' minutes for each) and lists every
// minute from the trace's first span start to its last span end: every
// span starts in [Start, End + 1s) and End is a whole second, so the last
// minute is End's.
func tracesByIDQuery(t tables, spanCols string) string {
	return "SELECT " + spanCols + " FROM " + t.spans +
		" WHERE (toStartOfMinute(Timestamp), TraceId) IN (" +
		"WITH arrayMap(h -> toFixedString(unhex(h), 16), {ids:Array(String)}) AS ids " + traceKeysOf(t) + ")" +
		" ORDER BY Timestamp"
}

// traceKeysOf is the subquery of the (minute, TraceId) keys of the traces
// whose ids the array ids holds (an Array(FixedString(16)) the statement
// defines).
func traceKeysOf(t tables) string {
	return "SELECT arrayJoin(timeSlots(min(Start), toUInt32(max(End) - min(Start)), 60)), id" +
		" FROM " + t.traceIndex +
		" ARRAY JOIN arrayFilter(x -> cityHash64(x) = TraceKey, ids) AS id" +
		// has(), not IN: an IN of an array expression does not select
		// trace_index's granules by its key.
		" WHERE has(arrayMap(x -> cityHash64(x), ids), TraceKey)" +
		" GROUP BY TraceKey, id"
}

// traceRange is the trace's [first span start, last span end] in whole
// seconds, from trace_index.
func (r *Reader) traceRange(ctx context.Context, traceID pcommon.TraceID) (start, end time.Time, found bool, err error) {
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"trace_id": storage.HexParam(traceID[:]),
	}))
	var n uint64
	err = r.query(ctx, nil, "SELECT min(Start), max(End), count() FROM "+r.t.traceIndex+
		" WHERE TraceKey = cityHash64("+traceIDParam+")", nil, func(rows driverRows) error {
		return rows.Scan(&start, &end, &n)
	})
	if err != nil {
		return start, end, false, fmt.Errorf("read time range of trace %s: %w", traceID, err)
	}
	return start, end, n > 0, nil
}

// traceBuilder assembles one trace's spans as they are read, grouped by
// resource and scope. Exact redeliveries of a span (same span id, parent,
// start, duration, service and name — what at-least-once delivery produces)
// are kept once.
type traceBuilder struct {
	td     ptrace.Traces
	groups *grouper
	seen   map[spanIdentity]struct{}
}

func newTraceBuilder() *traceBuilder {
	return &traceBuilder{td: ptrace.NewTraces(), groups: newGrouper(), seen: map[spanIdentity]struct{}{}}
}

func (b *traceBuilder) add(row *spanRow) {
	id := spanIdentity{row.SpanID, row.ParentSpanID, row.Timestamp.UnixNano(), row.Duration, row.common.ServiceName, row.SpanName}
	if _, dup := b.seen[id]; dup {
		return
	}
	b.seen[id] = struct{}{}
	row.fill(b.groups.spans(b.td, &row.common).AppendEmpty())
}

type spanIdentity struct {
	spanID, parent pcommon.SpanID
	start          int64
	duration       uint64
	service, name  string
}
