package reader

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/chsql"
	"github.com/tracehouse/tracehouse/storage/logquery"
)

// LogPos is a record's place in time order: its timestamp, then a hash of
// the record that is stable across merges (unlike a part offset), so that
// a position stays valid between requests.
type LogPos struct {
	UnixNano int64
	Tiebreak uint64
}

// logTiebreak orders records with the same timestamp (LogPos.Tiebreak).
const logTiebreak = "cityHash64(ServiceName, TraceId, SpanId, ObservedTimestamp, Body)"

// LogEntry is one log record with the resource and scope it came from.
type LogEntry struct {
	Resource pcommon.Resource
	Scope    pcommon.InstrumentationScope
	Record   plog.LogRecord
	Pos      LogPos
}

// compileLogQuery turns query text (storage/logquery) into a condition;
// language errors are *logquery.Error.
func compileLogQuery(q string) (string, *chsql.Params, error) {
	_, cond, p, err := parseLogQuery(q)
	return cond, p, err
}

// parseLogQuery is compileLogQuery that keeps the parsed query too.
func parseLogQuery(q string) (logquery.Expr, string, *chsql.Params, error) {
	e, err := logquery.Parse(q)
	if err != nil {
		return nil, "", nil, err
	}
	p := chsql.NewParams("q")
	cond, err := logquery.Compile(q, e, p)
	return e, cond, p, err
}

// LogSearch selects a page of log records, newest first.
type LogSearch struct {
	// Query is in the logquery language; empty matches every record.
	Query string
	// Start and End bound Timestamp: [Start, End).
	Start, End time.Time
	// Limit is the page size.
	Limit int
	// Before, when set, continues a search: only records older than it.
	Before *LogPos
}

// logSearchSQL is the statement of a whole search: Limit+1 rows, the last
// only telling that there is a next page. SearchLogs reads the same rows in
// windows (logWindowSQL); this one statement is what they must equal.
func (r *Reader) logSearchSQL(s LogSearch) (string, []any, error) {
	cond, qp, err := compileLogQuery(s.Query)
	if err != nil {
		return "", nil, err
	}
	sql, args := r.logWindowSQL(s, cond, qp.Args(), s.Start, s.End, s.Limit+1)
	return sql, args, nil
}

// logWindowSQL is the statement of the search's window [start, end): its
// newest limit records. cond and condArgs are the search's query, compiled
// once for all its windows (compileLogQuery).
func (r *Reader) logWindowSQL(s LogSearch, cond string, condArgs []any, start, end time.Time, limit int) (string, []any) {
	p := chsql.NewParams("p")
	where := []string{
		"Timestamp >= " + p.Add("DateTime64(9)", start),
		"Timestamp < " + p.Add("DateTime64(9)", end),
	}
	if s.Before != nil {
		ts := p.Add("DateTime64(9)", time.Unix(0, s.Before.UnixNano).UTC())
		where = append(where, "(Timestamp < "+ts+" OR (Timestamp = "+ts+" AND "+logTiebreak+" < "+p.Add("UInt64", s.Before.Tiebreak)+"))")
	}
	if cond != "1" {
		where = append(where, "("+cond+")")
	}
	sql := "SELECT " + r.logCols + ", " + logTiebreak + " AS Tiebreak\nFROM " + r.t.logs + "\nWHERE " + strings.Join(where, "\n  AND ") +
		"\nORDER BY Timestamp DESC, Tiebreak DESC\nLIMIT " + p.Add("UInt32", uint32(limit))
	return sql, append(p.Args(), condArgs...)
}

// LogRows is a page of a search as ClickHouse returns it: the statements
// of its windows, one after the other.
type LogRows struct {
	r      *Reader
	ctx    context.Context
	search LogSearch
	// cond and condArgs are the search's query, compiled once.
	cond     string
	condArgs []any
	windows  *searchWindows
	from     time.Time // the start of the window being read
	rows     interface {
		Next() bool
		Err() error
		Scan(...any) error
	}
	done     func()
	classify func(error) error
	limit    int
	n        int
	row      logRow
	dest     []any
	cur      LogEntry
	more     bool
	err      error
}

// SearchLogs starts a search; read it with Next/Entry and Close it. It
// reads the range in windows from the newest (searchWindows): a query that
// many records match (a common phrase, a busy service's errors) fills the
// page from the newest minutes instead of reading the whole range, which
// the logs' sort key (ServiceName, Timestamp) would otherwise make it
// read. The first window's statement is sent before SearchLogs returns, so
// an engine that cannot answer is an error here.
func (r *Reader) SearchLogs(ctx context.Context, s LogSearch) (*LogRows, error) {
	// What the query requires of every match tells whether it searches for
	// a rare attribute value (rareLogSearch).
	q, cond, qp, err := parseLogQuery(s.Query)
	if err != nil {
		return nil, err
	}
	end := s.End
	if s.Before != nil {
		// Nothing at or after the cursor's instant but the cursor's own
		// instant can be on this page.
		if b := time.Unix(0, s.Before.UnixNano).Add(time.Nanosecond); b.Before(end) {
			end = b
		}
	}
	lr := &LogRows{r: r, ctx: ctx, search: s, cond: cond, condArgs: qp.Args(), windows: newSearchWindows(s.Start, end), limit: s.Limit}
	lr.dest = lr.row.dest(true)
	rare, err := r.rareLogSearch(ctx, q, s.Start, end, s.Limit+1)
	if err != nil {
		return nil, err
	}
	if rare {
		lr.windows.readAtOnce()
	}
	if err := lr.openWindow(); err != nil {
		return nil, err
	}
	return lr, nil
}

// openWindow sends the next window's statement, asking for what the page
// still needs (and the one row that says there is more); rows stays nil
// when the range is read.
func (lr *LogRows) openWindow() error {
	from, to, _, ok := lr.windows.window()
	if !ok {
		return nil
	}
	sql, args := lr.r.logWindowSQL(lr.search, lr.cond, lr.condArgs, from, to, lr.limit+1-lr.n)
	rows, done, classify, err := lr.r.open(lr.ctx, nil, sql, args)
	if err != nil {
		return err
	}
	lr.from, lr.rows, lr.done, lr.classify = from, rows, done, classify
	return nil
}

// Next advances to the next entry.
func (lr *LogRows) Next() bool {
	for lr.err == nil && lr.rows != nil {
		if !lr.rows.Next() {
			if err := lr.rows.Err(); err != nil {
				lr.err = lr.classify(err)
				return false
			}
			// The window is read: on to the next, older one, unless the
			// page (and its extra row) is full or the range is read.
			lr.Close()
			lr.rows = nil
			lr.windows.advance(lr.from, lr.n, lr.limit+1)
			lr.err = lr.openWindow()
			continue
		}
		if lr.n == lr.limit {
			lr.more = true // the extra row only says there is a next page
			return false
		}
		if err := lr.rows.Scan(lr.dest...); err != nil {
			lr.err = fmt.Errorf("read log row: %w", err)
			return false
		}
		lr.n++
		lr.cur = lr.row.entry()
		return true
	}
	return false
}

// Entry is the current entry.
func (lr *LogRows) Entry() LogEntry { return lr.cur }

// Err is the error that stopped Next, if any.
func (lr *LogRows) Err() error { return lr.err }

// More tells, once Next has returned false, that records older than the
// last entry match too.
func (lr *LogRows) More() bool { return lr.more }

// Close frees the statement; safe to call twice.
func (lr *LogRows) Close() {
	if lr.done != nil {
		lr.done()
		lr.done = nil
	}
}

// HistogramBucket counts the records of one step; Errors counts records of
// level error and above.
type HistogramBucket struct {
	Start  time.Time
	Count  uint64
	Errors uint64
}

// LogHistogram counts the records query matches in [start, end) per step
// (whole seconds). Empty steps are absent.
func (r *Reader) LogHistogram(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]HistogramBucket, error) {
	cond, qp, err := compileLogQuery(query)
	if err != nil {
		return nil, err
	}
	p := chsql.NewParams("p")
	stepSec := p.Add("UInt32", uint32(step/time.Second))
	sql := "SELECT toStartOfInterval(Timestamp, toIntervalSecond(" + stepSec + ")) AS bucket, count(), countIf(SeverityNumber >= 17)\nFROM " + r.t.logs +
		"\nWHERE Timestamp >= " + p.Add("DateTime64(9)", start) + " AND Timestamp < " + p.Add("DateTime64(9)", end) +
		"\n  AND (" + cond + ")\nGROUP BY bucket ORDER BY bucket"
	var out []HistogramBucket
	err = r.query(ctx, nil, sql, append(p.Args(), qp.Args()...), func(rows driverRows) error {
		var b HistogramBucket
		if err := rows.Scan(&b.Start, &b.Count, &b.Errors); err != nil {
			return err
		}
		out = append(out, b)
		return nil
	})
	return out, err
}

// CountLogs counts the records query matches in [start, end).
func (r *Reader) CountLogs(ctx context.Context, query string, start, end time.Time) (uint64, error) {
	cond, qp, err := compileLogQuery(query)
	if err != nil {
		return 0, err
	}
	p := chsql.NewParams("p")
	sql := "SELECT count() FROM " + r.t.logs +
		"\nWHERE Timestamp >= " + p.Add("DateTime64(9)", start) + " AND Timestamp < " + p.Add("DateTime64(9)", end) +
		"\n  AND (" + cond + ")"
	var n uint64
	err = r.query(ctx, nil, sql, append(p.Args(), qp.Args()...), func(rows driverRows) error { return rows.Scan(&n) })
	return n, err
}

// TailLogs returns the records query matches after pos and up to until,
// oldest first: at most limit of them, and more is true when there were
// more than that.
func (r *Reader) TailLogs(ctx context.Context, query string, pos LogPos, until time.Time, limit int) (entries []LogEntry, more bool, err error) {
	cond, qp, err := compileLogQuery(query)
	if err != nil {
		return nil, false, err
	}
	p := chsql.NewParams("p")
	ts := p.Add("DateTime64(9)", time.Unix(0, pos.UnixNano).UTC())
	sql := "SELECT " + r.logCols + ", " + logTiebreak + " AS Tiebreak\nFROM " + r.t.logs +
		"\nWHERE Timestamp >= " + ts + " AND Timestamp <= " + p.Add("DateTime64(9)", until) +
		"\n  AND (Timestamp > " + ts + " OR " + logTiebreak + " > " + p.Add("UInt64", pos.Tiebreak) + ")" +
		"\n  AND (" + cond + ")\nORDER BY Timestamp, Tiebreak\nLIMIT " + p.Add("UInt32", uint32(limit+1))
	entries = []LogEntry{}
	var row logRow
	dest := row.dest(true)
	err = r.query(ctx, nil, sql, append(p.Args(), qp.Args()...), func(rows driverRows) error {
		if len(entries) == limit {
			more = true
			return nil
		}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("read log row: %w", err)
		}
		entries = append(entries, row.entry())
		return nil
	})
	return entries, more, err
}

// LogFilter selects log records for GetLogs. Zero fields do not filter.
type LogFilter struct {
	// TraceID selects the records of one trace. Without Start/End the
	// trace's time range (from trace_index, widened by LogSlack) bounds the
	// search.
	TraceID pcommon.TraceID
	// ServiceName selects one service's records.
	ServiceName string
	// Start and End bound Timestamp: [Start, End).
	Start, End time.Time
	// Limit caps the records returned (oldest first); 0 means 1000.
	Limit int
}

// LogSlack widens a trace's time range when looking for its logs: records
// are often written just before a span starts or after it ends.
const LogSlack = time.Minute

// GetLogs returns the records that match f, oldest first, grouped by
// resource and scope.
func (r *Reader) GetLogs(ctx context.Context, f LogFilter) (plog.Logs, error) {
	params := clickhouse.Parameters{}
	var where []string
	if !f.TraceID.IsEmpty() {
		params["trace_id"] = storage.HexParam(f.TraceID[:])
		where = append(where, "TraceId = "+traceIDParam)
		if f.Start.IsZero() && f.End.IsZero() {
			start, end, found, err := r.traceRange(ctx, f.TraceID)
			if err != nil {
				return plog.Logs{}, err
			}
			if found {
				f.Start, f.End = start.Add(-LogSlack), end.Add(time.Second+LogSlack)
			}
		}
	}
	if f.ServiceName != "" {
		params["service"] = f.ServiceName
		where = append(where, "ServiceName = {service:String}")
	}
	if !f.Start.IsZero() {
		params["start"] = strconv.FormatInt(f.Start.UnixNano(), 10)
		where = append(where, "Timestamp >= fromUnixTimestamp64Nano({start:Int64})")
	}
	if !f.End.IsZero() {
		params["end"] = strconv.FormatInt(f.End.UnixNano(), 10)
		where = append(where, "Timestamp < fromUnixTimestamp64Nano({end:Int64})")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	sql := "SELECT " + r.logCols + " FROM " + r.t.logs
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY Timestamp LIMIT " + strconv.Itoa(limit)

	ld := plog.NewLogs()
	groups := newGrouper()
	var row logRow
	dest := row.dest(false)
	err := r.query(clickhouse.Context(ctx, clickhouse.WithParameters(params)), nil, sql, nil, func(rows driverRows) error {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("read logs: %w", err)
		}
		row.fill(groups.records(ld, &row.common).AppendEmpty())
		return nil
	})
	if err != nil {
		return plog.Logs{}, err
	}
	return ld, nil
}

// entry is the row as a LogEntry of its own (a search result). A resource
// without service.name gets the row's ServiceName, which the writer
// derived from it.
func (r *logRow) entry() LogEntry {
	res := pcommon.NewResource()
	anyvalue.PutAttributes(r.common.Resource, res.Attributes())
	if _, ok := res.Attributes().Get("service.name"); !ok && r.common.ServiceName != "" {
		res.Attributes().PutStr("service.name", r.common.ServiceName)
	}
	res.SetDroppedAttributesCount(r.common.ResDropped)
	scope := pcommon.NewInstrumentationScope()
	setScope(scope, &r.common)
	rec := plog.NewLogRecord()
	r.fill(rec)
	return LogEntry{Resource: res, Scope: scope, Record: rec, Pos: LogPos{r.Timestamp.UnixNano(), r.Tiebreak}}
}
