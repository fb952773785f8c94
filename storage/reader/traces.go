package reader

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/go-faster/city"
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

// GetTraces reads several traces in two statements instead of two per
// trace: their time ranges from trace_index, then one read of spans by
// primary key, narrowed to each trace's own granules. A trace within
// maxKeyMinutes minutes is looked up by its (minute, TraceId) keys with
// one IN, so the rows are filtered by a set lookup instead of a condition
// per trace evaluated on every row read; longer traces OR their (time
// range, id) instead. Traces that are not found are absent from the result.
// All the traces together are bounded by Limits.MaxTraceSpans.
func (r *Reader) GetTraces(ctx context.Context, ids []pcommon.TraceID) (map[pcommon.TraceID]ptrace.Traces, error) {
	out := make(map[pcommon.TraceID]ptrace.Traces, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	byKey := make(map[uint64][]pcommon.TraceID, len(ids))
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		k := traceKey(id)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, strconv.FormatUint(k, 10))
		}
		byKey[k] = append(byKey[k], id)
	}
	params := clickhouse.Parameters{}
	var pkeys, branches []string
	found := 0
	err := r.query(ctx, r.traceReadSettings(), "SELECT TraceKey, min(Start), max(End) FROM "+r.t.traceIndex+
		" WHERE TraceKey IN ("+strings.Join(keys, ", ")+") GROUP BY TraceKey", nil, func(rows driverRows) error {
		var k uint64
		var start, end time.Time
		if err := rows.Scan(&k, &start, &end); err != nil {
			return fmt.Errorf("read time ranges of %d traces: %w", len(ids), err)
		}
		// Every span starts in [start, end + 1s); end is a whole second, so
		// the last minute is end's.
		first, last := start.Truncate(time.Minute), end.Truncate(time.Minute)
		for _, id := range byKey[k] {
			n := strconv.Itoa(found)
			found++
			params["t"+n] = storage.HexParam(id[:])
			tid := "toFixedString(unhex({t" + n + ":String}), 16)"
			if last.Sub(first) < maxKeyMinutes*time.Minute {
				for m := first; !m.After(last); m = m.Add(time.Minute) {
					p := "m" + strconv.Itoa(len(pkeys))
					params[p] = strconv.FormatInt(m.UnixNano(), 10)
					pkeys = append(pkeys, "(toStartOfMinute(fromUnixTimestamp64Nano({"+p+":Int64})), "+tid+")")
				}
				continue
			}
			params["s"+n] = strconv.FormatInt(start.UnixNano(), 10)
			params["e"+n] = strconv.FormatInt(end.Add(time.Second).UnixNano(), 10)
			branches = append(branches, "(TraceId = "+tid+
				" AND Timestamp >= fromUnixTimestamp64Nano({s"+n+":Int64}) AND Timestamp < fromUnixTimestamp64Nano({e"+n+":Int64}))")
		}
		return nil
	})
	if err != nil || found == 0 {
		return out, err
	}
	if len(pkeys) > 0 {
		// The primary key's own expression, so the IN selects granules.
		branches = append(branches, "(toStartOfMinute(Timestamp), TraceId) IN ("+strings.Join(pkeys, ", ")+")")
	}
	builders := make(map[pcommon.TraceID]*traceBuilder, len(branches))
	var row spanRow
	dest := row.dest()
	err = r.query(clickhouse.Context(ctx, clickhouse.WithParameters(params)), r.traceReadSettings(),
		"SELECT "+r.spanCols+" FROM "+r.t.spans+" WHERE "+strings.Join(branches, " OR ")+" ORDER BY Timestamp", nil,
		func(rows driverRows) error {
			row.clearSlices()
			if err := rows.Scan(dest...); err != nil {
				return fmt.Errorf("read %d traces: %w", len(ids), err)
			}
			b := builders[row.TraceID]
			if b == nil {
				b = newTraceBuilder()
				builders[row.TraceID] = b
			}
			b.add(&row)
			return nil
		})
	if err != nil {
		return nil, err
	}
	for id, b := range builders {
		out[id] = b.td
	}
	return out, nil
}

// maxKeyMinutes is how many minutes a trace may cover and still be read by
// its (minute, TraceId) primary keys in GetTraces.
const maxKeyMinutes = 10

// traceKey is trace_index's key of a trace id: ClickHouse's cityHash64 of
// the 16 bytes (schema.TraceKeyExpr).
func traceKey(id pcommon.TraceID) uint64 { return city.CH64(id[:]) }

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
