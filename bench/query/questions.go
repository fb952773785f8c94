package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/query"
)

// input is what one round asks: the same for every layout in the round.
type input struct {
	s      sample
	op     string // an operation of order, for the service+operation search
	phrase string
	now    time.Time
}

// ask runs one question on one layout and says how many items (spans,
// traces or log records) came back.
type ask func(ctx context.Context, in input) (int, error)

// question is a row of the table: the same question asked of each layout
// with that layout's best query; nil where the layout cannot answer it.
type question struct {
	name string
	// want checks the answer's size (every layout holds the same data).
	want func(n int) error
	by   map[string]ask
	// why says, per layout, why it has no answer.
	why map[string]string
}

const (
	lTracehouse = "Tracehouse"
	lContrib    = "contrib"
	lJaeger     = "Jaeger v2"
	lEngine     = "engine"
)

var layouts = []string{lTracehouse, lContrib, lJaeger}

// Rows of the table, in order; the floor rows use the engine "layout".
const (
	qTrace    = "trace by id"
	qOp       = "search service+operation, last 1h, 20 traces"
	qAttr     = "search attribute user.id, last 24h, 20 traces"
	qLogs     = "logs phrase, last 24h, 100 records"
	qFloor    = "floor: one span by its primary key"
	qSelect1  = "SELECT 1"
	notInJgr  = "FindTraces is not implemented in v1.75.0's ClickHouse reader (it panics)"
	noLogsJgr = "Jaeger stores no logs"
)

func exactly(want int) func(int) error {
	return func(n int) error {
		if n != want {
			return fmt.Errorf("got %d, want %d", n, want)
		}
		return nil
	}
}

func atLeast(want int) func(int) error {
	return func(n int) error {
		if n < want {
			return fmt.Errorf("got %d, want at least %d", n, want)
		}
		return nil
	}
}

// readers are the three layouts' read paths, each on its own database of
// the one engine, through clickhouse-go connections opened alike.
type readers struct {
	th                *query.Service
	thConn            driver.Conn
	contrib, jaeger   driver.Conn
	jaegerOn, explain bool
}

func questions(r *readers) []question {
	lastHour := func(in input) query.TimeRange {
		return query.TimeRange{Start: in.now.Add(-time.Hour), End: in.now.Add(time.Minute)}
	}
	lastDay := func(in input) query.TimeRange {
		return query.TimeRange{Start: in.now.Add(-24 * time.Hour), End: in.now.Add(time.Minute)}
	}
	qs := []question{
		{name: qTrace, want: exactly(spansPerTrace), by: map[string]ask{
			// Tracehouse: the query service's GetTrace in-process (what
			// /api/traces/{id} calls, without HTTP and JSON).
			lTracehouse: func(ctx context.Context, in input) (int, error) {
				td, err := r.th.GetTrace(ctx, in.s.traceID)
				if err != nil {
					return 0, err
				}
				return td.SpanCount(), nil
			},
			lContrib: func(ctx context.Context, in input) (int, error) {
				return scanQuery(ctx, r.contrib, contribTraceByID, clickhouse.Parameters{"trace_id": hexID(in.s)})
			},
		}, why: map[string]string{}},
		{name: qOp, want: atLeast(1), by: map[string]ask{
			lTracehouse: func(ctx context.Context, in input) (int, error) {
				tds, err := r.th.FindTraces(ctx, query.TraceQuery{Service: "order", Operation: in.op, Range: lastHour(in), Limit: 20})
				return len(tds), err
			},
			lContrib: func(ctx context.Context, in input) (int, error) {
				tr := lastHour(in)
				return contribSearch(ctx, r.contrib, contribSearchOp, clickhouse.Parameters{
					"service": "order", "operation": in.op, "start": nanos(tr.Start), "end": nanos(tr.End)})
			},
		}, why: map[string]string{lJaeger: notInJgr}},
		{name: qAttr, want: atLeast(1), by: map[string]ask{
			lTracehouse: func(ctx context.Context, in input) (int, error) {
				tds, err := r.th.FindTraces(ctx, query.TraceQuery{Service: "gateway", Attributes: map[string]string{"user.id": in.s.user}, Range: lastDay(in), Limit: 20})
				return len(tds), err
			},
			lContrib: func(ctx context.Context, in input) (int, error) {
				tr := lastDay(in)
				return contribSearch(ctx, r.contrib, contribSearchAttr, clickhouse.Parameters{
					"service": "gateway", "key": "user.id", "value": in.s.user, "start": nanos(tr.Start), "end": nanos(tr.End)})
			},
		}, why: map[string]string{lJaeger: notInJgr}},
		{name: qLogs, want: exactly(100), by: map[string]ask{
			lTracehouse: func(ctx context.Context, in input) (int, error) {
				page, err := r.th.SearchLogsPage(ctx, query.LogQuery{Query: strconv.Quote(in.phrase), Range: lastDay(in), Limit: 100})
				if err != nil {
					return 0, err
				}
				return len(page.Entries), nil
			},
			lContrib: func(ctx context.Context, in input) (int, error) {
				tr := lastDay(in)
				return scanQuery(ctx, r.contrib, contribLogsPhrase, clickhouse.Parameters{
					"phrase": strings.ToLower(in.phrase), "start": nanos(tr.Start), "end": nanos(tr.End)})
			},
		}, why: map[string]string{lJaeger: noLogsJgr}},
		{name: qFloor, want: exactly(1), by: map[string]ask{
			lEngine: func(ctx context.Context, in input) (int, error) {
				return scanQuery(ctx, r.thConn, floorPointRead, clickhouse.Parameters{
					"ts": strconv.FormatInt(in.s.rootStart, 10), "trace_id": hexID(in.s), "span_id": hex.EncodeToString(in.s.rootID[:])})
			},
		}},
		{name: qSelect1, want: exactly(1), by: map[string]ask{
			lEngine: func(ctx context.Context, in input) (int, error) {
				var one uint8
				err := r.thConn.QueryRow(ctx, "SELECT 1").Scan(&one)
				return int(one), err
			},
		}},
	}
	if r.jaegerOn {
		qs[0].by[lJaeger] = func(ctx context.Context, in input) (int, error) {
			// Jaeger's reader binds the id with "?" (client-side).
			return scanQuery(ctx, r.jaeger, jaegerSelectSpansByTraceID, nil, hexID(in.s))
		}
	} else {
		for i := range qs[:4] {
			if qs[i].why != nil {
				if _, ok := qs[i].why[lJaeger]; !ok {
					qs[i].why[lJaeger] = "not run (-jaeger=false or it did not build/start)"
				}
			}
		}
	}
	return qs
}

func hexID(s sample) string { return hex.EncodeToString(s.traceID[:]) }

func nanos(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// scanQuery runs q and reads every row into values of the columns' own Go
// types (what a reader does before building its model), and returns the
// number of rows.
func scanQuery(ctx context.Context, conn driver.Conn, q string, params clickhouse.Parameters, args ...any) (int, error) {
	if params != nil {
		ctx = clickhouse.Context(ctx, clickhouse.WithParameters(params))
	}
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cts := rows.ColumnTypes()
	dest := make([]any, len(cts))
	for i, ct := range cts {
		dest[i] = reflect.New(ct.ScanType()).Interface()
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// contribSearch is a trace search on contrib's layout as Jaeger's search
// semantics ask (whole traces, most recent match first): the matching trace
// ids, then those traces' spans through the trace_id_ts lookup as its README
// reads one trace. It returns the number of traces read.
func contribSearch(ctx context.Context, conn driver.Conn, idQuery string, params clickhouse.Parameters) (int, error) {
	rows, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithParameters(params)), idQuery)
	if err != nil {
		return 0, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = "'" + id + "'" // hex: nothing to escape
	}
	spans, err := scanQuery(ctx, conn, contribTracesByIDs, clickhouse.Parameters{"ids": "[" + strings.Join(quoted, ",") + "]"})
	if err != nil {
		return 0, err
	}
	if spans < len(ids)*spansPerTrace {
		return 0, fmt.Errorf("%d traces found but only %d spans read", len(ids), spans)
	}
	return len(ids), nil
}

// contribColumns are every column of otel_traces: a whole span, as
// Tracehouse's GetTrace returns it (the README's example selects a subset
// and toString()s the maps).
const contribColumns = `Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
       ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage,
       Events.Timestamp, Events.Name, Events.Attributes,
       Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes`

// contribTraceByID is the README's "Find traces with traceID (using time
// primary index and TraceID skip index)", with every column and the id as
// a query parameter.
const contribTraceByID = `WITH
    {trace_id:String} AS trace_id,
    (SELECT min(Start) FROM otel_traces_trace_id_ts WHERE TraceId = trace_id) AS start,
    (SELECT max(End) + 1 FROM otel_traces_trace_id_ts WHERE TraceId = trace_id) AS end
SELECT ` + contribColumns + `
FROM otel_traces
WHERE TraceId = trace_id
  AND Timestamp >= start
  AND Timestamp <= end
LIMIT 100`

// contribTracesByIDs reads several traces the README's way: one time range
// from trace_id_ts for all of them, then TraceId IN (…) through the bloom
// filter.
const contribTracesByIDs = `WITH
    (SELECT min(Start) FROM otel_traces_trace_id_ts WHERE TraceId IN {ids:Array(String)}) AS start,
    (SELECT max(End) + 1 FROM otel_traces_trace_id_ts WHERE TraceId IN {ids:Array(String)}) AS end
SELECT ` + contribColumns + `
FROM otel_traces
WHERE TraceId IN {ids:Array(String)}
  AND Timestamp >= start
  AND Timestamp <= end`

// contribSearchOp finds the newest traces with a span of service and
// operation: the sort key's prefix (ServiceName, SpanName,
// toDateTime(Timestamp)), read newest first.
const contribSearchOp = `SELECT TraceId
FROM otel_traces
WHERE ServiceName = {service:String}
  AND SpanName = {operation:String}
  AND Timestamp >= fromUnixTimestamp64Nano({start:Int64})
  AND Timestamp <= fromUnixTimestamp64Nano({end:Int64})
ORDER BY toDateTime(Timestamp) DESC, Timestamp DESC
LIMIT 1 BY TraceId
LIMIT 20`

// contribSearchAttr is the README's "Find spans with specific attribute"
// (ServiceName, SpanAttributes['key'] = value, time range: the map value
// bloom filter), as trace ids, newest first.
const contribSearchAttr = `SELECT TraceId
FROM otel_traces
WHERE ServiceName = {service:String}
  AND SpanAttributes[{key:String}] = {value:String}
  AND Timestamp >= fromUnixTimestamp64Nano({start:Int64})
  AND Timestamp <= fromUnixTimestamp64Nano({end:Int64})
ORDER BY toDateTime(Timestamp) DESC, Timestamp DESC
LIMIT 1 BY TraceId
LIMIT 20`

// contribLogsPhrase is the README's log search by body ("Find log with body
// contain string token", toStartOfFiveMinutes bounds and order for the sort
// key) with the phrase through its body index, a text index on lower(Body)
// (ClickHouse 26.2 and later; bloom filter tokens before), and the columns
// of a log entry.
const contribLogsPhrase = `SELECT Timestamp, TraceId, SpanId, SeverityText, SeverityNumber, ServiceName, Body,
       ResourceAttributes, ScopeName, ScopeVersion, LogAttributes
FROM otel_logs
WHERE hasPhrase(lower(Body), {phrase:String})
  AND toStartOfFiveMinutes(Timestamp) >= toStartOfFiveMinutes(fromUnixTimestamp64Nano({start:Int64}))
  AND Timestamp >= fromUnixTimestamp64Nano({start:Int64})
  AND Timestamp < fromUnixTimestamp64Nano({end:Int64})
ORDER BY (toStartOfFiveMinutes(Timestamp), Timestamp) DESC
LIMIT 100`

// floorPointRead is the cheapest read of one stored span: every column of
// one row of Tracehouse's spans, found by its whole sort key
// (toStartOfMinute(Timestamp), TraceId, Timestamp) and span id.
const floorPointRead = `SELECT *
FROM spans
WHERE toStartOfMinute(Timestamp) = toStartOfMinute(fromUnixTimestamp64Nano({ts:Int64}))
  AND TraceId = unhex({trace_id:String})
  AND Timestamp = fromUnixTimestamp64Nano({ts:Int64})
  AND SpanId = unhex({span_id:String})
LIMIT 1`

// jaegerSelectSpansByTraceID is Jaeger v1.75.0's reader query
// (internal/storage/v2/clickhouse/sql/queries.go, SelectSpansByTraceID),
// copied as it is: its reader is an internal package.
const jaegerSelectSpansByTraceID = `
SELECT
    id,
    trace_id,
    trace_state,
    parent_span_id,
    name,
    kind,
    start_time,
    status_code,
    status_message,
    duration,
    bool_attributes.key,
    bool_attributes.value,
    double_attributes.key,
    double_attributes.value,
    int_attributes.key,
    int_attributes.value,
    str_attributes.key,
    str_attributes.value,
    complex_attributes.key,
    complex_attributes.value,
    events.name,
    events.timestamp,
    events.bool_attributes.key,
    events.bool_attributes.value,
    events.double_attributes.key,
    events.double_attributes.value,
    events.int_attributes.key,
    events.int_attributes.value,
    events.str_attributes.key,
    events.str_attributes.value,
    events.complex_attributes.key,
    events.complex_attributes.value,
    links.trace_id,
    links.span_id,
    links.trace_state,
    links.bool_attributes.key,
    links.bool_attributes.value,
    links.double_attributes.key,
    links.double_attributes.value,
    links.int_attributes.key,
    links.int_attributes.value,
    links.str_attributes.key,
    links.str_attributes.value,
    links.complex_attributes.key,
    links.complex_attributes.value,
    service_name,
    resource_bool_attributes.key,
    resource_bool_attributes.value,
    resource_double_attributes.key,
    resource_double_attributes.value,
    resource_int_attributes.key,
    resource_int_attributes.value,
    resource_str_attributes.key,
    resource_str_attributes.value,
    resource_complex_attributes.key,
    resource_complex_attributes.value,
    scope_name,
    scope_version,
    scope_bool_attributes.key,
    scope_bool_attributes.value,
    scope_double_attributes.key,
    scope_double_attributes.value,
    scope_int_attributes.key,
    scope_int_attributes.value,
    scope_str_attributes.key,
    scope_str_attributes.value,
    scope_complex_attributes.key,
    scope_complex_attributes.value,
FROM
    spans
WHERE
    trace_id = ?
`
