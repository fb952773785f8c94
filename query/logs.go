package query

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tracehouse/tracehouse/query/internal/chsql"
	"github.com/tracehouse/tracehouse/query/logquery"
	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/tracestore"
)

// LogEntry is one log record with the resource and scope it came from.
type LogEntry struct {
	Resource pcommon.Resource
	Scope    pcommon.InstrumentationScope
	Record   plog.LogRecord
	// Cursor is the entry's position: a search with this cursor continues
	// with the entries after (older than) it.
	Cursor string
}

// Service is the entry's service.name.
func (e LogEntry) Service() string { return serviceOf(e.Resource) }

// logColumns are the columns of logs that logRow scans, in order (a test
// checks them against schema.LogsColumns). Tiebreak, appended to the SELECT
// list, orders records with the same timestamp: a hash of the record,
// stable across merges (unlike a part offset), so cursors stay valid.
var logColumns = []string{
	"Timestamp", "ObservedTimestamp", "TraceId", "SpanId", "TraceFlags", "SeverityText", "SeverityNumber",
	"ServiceName", "Body", "BodyType", "EventName",
	"ResourceAttributes", "ResourceDroppedAttributesCount", "ResourceSchemaUrl",
	"ScopeName", "ScopeVersion", "ScopeAttributes", "ScopeDroppedAttributesCount", "ScopeSchemaUrl",
	"AttrStr", "AttrInt", "AttrFloat", "AttrBool", "AttrOther", "DroppedAttributesCount",
}

var logSelect = func() string {
	cols := make([]string, 0, len(logColumns)+1)
	for _, c := range logColumns {
		if c == "BodyType" {
			c = "CAST(BodyType, 'Int8')"
		}
		cols = append(cols, c)
	}
	return strings.Join(append(cols, logTiebreak+" AS Tiebreak"), ", ")
}()

const logTiebreak = "cityHash64(ServiceName, TraceId, SpanId, ObservedTimestamp, Body)"

type logRow struct {
	Timestamp, Observed time.Time
	TraceID, SpanID     string
	Flags               uint32
	SeverityText        string
	SeverityNumber      uint8
	Service             string
	Body                string
	BodyType            int8
	EventName           string
	Resource            string // attributes JSON
	ResourceDropped     uint32
	ResourceSchema      string
	ScopeName           string
	ScopeVersion        string
	Scope               string // attributes JSON
	ScopeDropped        uint32
	ScopeSchema         string
	Attrs               tracestore.AttrMaps
	Dropped             uint32
	Tiebreak            uint64
}

func (r *logRow) dest() []any {
	d := []any{&r.Timestamp, &r.Observed, &r.TraceID, &r.SpanID, &r.Flags, &r.SeverityText, &r.SeverityNumber,
		&r.Service, &r.Body, &r.BodyType, &r.EventName,
		&r.Resource, &r.ResourceDropped, &r.ResourceSchema, &r.ScopeName, &r.ScopeVersion, &r.Scope, &r.ScopeDropped, &r.ScopeSchema}
	d = append(d, r.Attrs.Dest()...)
	return append(d, &r.Dropped, &r.Tiebreak)
}

func (r *logRow) entry() LogEntry {
	res := pcommon.NewResource()
	anyvalue.PutAttributes(r.Resource, res.Attributes())
	if _, ok := res.Attributes().Get("service.name"); !ok && r.Service != "" {
		res.Attributes().PutStr("service.name", r.Service)
	}
	res.SetDroppedAttributesCount(r.ResourceDropped)
	scope := pcommon.NewInstrumentationScope()
	scope.SetName(r.ScopeName)
	scope.SetVersion(r.ScopeVersion)
	anyvalue.PutAttributes(r.Scope, scope.Attributes())
	scope.SetDroppedAttributesCount(r.ScopeDropped)

	rec := plog.NewLogRecord()
	rec.SetTimestamp(pcommon.NewTimestampFromTime(r.Timestamp))
	if r.Observed.UnixNano() != 0 {
		rec.SetObservedTimestamp(pcommon.NewTimestampFromTime(r.Observed))
	}
	rec.SetTraceID(traceIDFrom(r.TraceID))
	rec.SetSpanID(spanIDFrom(r.SpanID))
	rec.SetFlags(plog.LogRecordFlags(r.Flags))
	rec.SetSeverityText(r.SeverityText)
	rec.SetSeverityNumber(plog.SeverityNumber(r.SeverityNumber))
	rec.SetEventName(r.EventName)
	anyvalue.SetBody(rec.Body(), r.Body, pcommon.ValueType(r.BodyType))
	r.Attrs.PutInto(rec.Attributes())
	rec.SetDroppedAttributesCount(r.Dropped)
	return LogEntry{Resource: res, Scope: scope, Record: rec, Cursor: encodeCursor(logPos{r.Timestamp.UnixNano(), r.Tiebreak})}
}

func spanIDFrom(b string) pcommon.SpanID {
	var id pcommon.SpanID
	copy(id[:], b)
	return id
}

// logPos is a position in newest-first order: (timestamp, tiebreak).
type logPos struct {
	ns int64
	h  uint64
}

func encodeCursor(p logPos) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(p.ns))
	binary.BigEndian.PutUint64(b[8:], p.h)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (logPos, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return logPos{}, inputError("cursor", "the cursor is not one this service returned; start again without it")
	}
	return logPos{int64(binary.BigEndian.Uint64(b[:8])), binary.BigEndian.Uint64(b[8:])}, nil
}

// LogQuery searches logs, newest first.
type LogQuery struct {
	// Query is in the logquery language; empty matches every record.
	Query string
	Range TimeRange
	// Limit is the page size; 0 means DefaultLogLimit.
	Limit int
	// Cursor continues after the entry that returned it.
	Cursor string
}

// DefaultLogLimit is the page size of a log search.
const DefaultLogLimit = 100

// compileLogQuery turns the query text into a condition, reporting
// language errors as InputErrors on parameter q.
func compileLogQuery(q string, p *chsql.Params) (string, error) {
	cond, err := logquery.ParseAndCompile(q, p)
	var qe *logquery.Error
	if errors.As(err, &qe) {
		return "", &InputError{Param: "q", Msg: qe.Msg, Position: qe.Position}
	}
	return cond, err
}

func (s *Service) searchLogsSQL(q LogQuery) (string, []any, int, error) {
	if err := checkRange(q.Range, s.limits.MaxTimeRange); err != nil {
		return "", nil, 0, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLogLimit
	}
	if limit < 0 || limit > s.limits.MaxLogs {
		return "", nil, 0, inputError("limit", "limit must be between 1 and %d", s.limits.MaxLogs)
	}
	p := chsql.NewParams("p")
	where := []string{
		"Timestamp >= " + p.Add("DateTime64(9)", q.Range.Start),
		"Timestamp < " + p.Add("DateTime64(9)", q.Range.End),
	}
	if q.Cursor != "" {
		pos, err := decodeCursor(q.Cursor)
		if err != nil {
			return "", nil, 0, err
		}
		ts := p.Add("DateTime64(9)", time.Unix(0, pos.ns).UTC())
		where = append(where, "(Timestamp < "+ts+" OR (Timestamp = "+ts+" AND "+logTiebreak+" < "+p.Add("UInt64", pos.h)+"))")
	}
	qp := chsql.NewParams("q")
	cond, err := compileLogQuery(q.Query, qp)
	if err != nil {
		return "", nil, 0, err
	}
	if cond != "1" {
		where = append(where, "("+cond+")")
	}
	sql := "SELECT " + logSelect + "\nFROM " + s.t.logs + "\nWHERE " + strings.Join(where, "\n  AND ") +
		"\nORDER BY Timestamp DESC, Tiebreak DESC\nLIMIT " + p.Add("UInt32", uint32(limit+1))
	return sql, append(p.Args(), qp.Args()...), limit, nil
}

// LogStream reads a page of log entries as ClickHouse returns them.
type LogStream struct {
	rows     driver.Rows
	done     func()
	classify func(error) error
	limit    int
	n        int
	cur      LogEntry
	more     bool
	err      error
}

// SearchLogs starts a search; read it with Next/Entry and Close it.
func (s *Service) SearchLogs(ctx context.Context, q LogQuery) (*LogStream, error) {
	sql, args, limit, err := s.searchLogsSQL(q)
	if err != nil {
		return nil, err
	}
	rows, done, classify, err := s.open(ctx, nil, sql, args)
	if err != nil {
		return nil, err
	}
	return &LogStream{rows: rows, done: done, classify: classify, limit: limit}, nil
}

// Next advances to the next entry.
func (st *LogStream) Next() bool {
	if st.err != nil || st.rows == nil {
		return false
	}
	if !st.rows.Next() {
		st.err = st.classify(st.rows.Err())
		return false
	}
	if st.n == st.limit {
		st.more = true // the extra row only says there is a next page
		return false
	}
	var r logRow
	if err := st.rows.Scan(r.dest()...); err != nil {
		st.err = fmt.Errorf("read log row: %w", err)
		return false
	}
	st.n++
	st.cur = r.entry()
	return true
}

// Entry is the current entry.
func (st *LogStream) Entry() LogEntry { return st.cur }

// Err is the error that stopped Next, if any.
func (st *LogStream) Err() error { return st.err }

// NextCursor continues the search after this page; empty when this page is
// the last. Valid once Next has returned false.
func (st *LogStream) NextCursor() string {
	if !st.more {
		return ""
	}
	return st.cur.Cursor
}

// Close frees the query; safe to call twice.
func (st *LogStream) Close() {
	if st.done != nil {
		st.done()
		st.done = nil
	}
}

// LogPage is a page of a search.
type LogPage struct {
	Entries    []LogEntry
	NextCursor string
}

// SearchLogsPage reads a whole page.
func (s *Service) SearchLogsPage(ctx context.Context, q LogQuery) (*LogPage, error) {
	st, err := s.SearchLogs(ctx, q)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	page := &LogPage{Entries: []LogEntry{}}
	for st.Next() {
		page.Entries = append(page.Entries, st.Entry())
	}
	if err := st.Err(); err != nil {
		return nil, err
	}
	page.NextCursor = st.NextCursor()
	return page, nil
}

// TraceLogs returns the log records of a trace within r, oldest first
// (tracestore.Reader), at most Limits.MaxLogs of them.
func (s *Service) TraceLogs(ctx context.Context, id pcommon.TraceID, r TimeRange) ([]LogEntry, error) {
	ctx, done, err := s.slot(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer done()
	ld, err := s.reader.GetLogs(ctx, tracestore.LogFilter{TraceID: id, Start: r.Start, End: r.End, Limit: s.limits.MaxLogs})
	if err != nil {
		return nil, s.classifyIn(ctx, err)
	}
	out := make([]LogEntry, 0, ld.LogRecordCount())
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			sl := rl.ScopeLogs().At(j)
			for k := 0; k < sl.LogRecords().Len(); k++ {
				out = append(out, LogEntry{Resource: rl.Resource(), Scope: sl.Scope(), Record: sl.LogRecords().At(k)})
			}
		}
	}
	return out, nil
}

// Histogram counts matching records per time bucket.
type Histogram struct {
	Step    time.Duration
	Buckets []HistogramBucket
}

// HistogramBucket is one bucket; Errors counts records of level error and
// above.
type HistogramBucket struct {
	Start  time.Time
	Count  uint64
	Errors uint64
}

// histogramSteps are the bucket widths a histogram picks from.
var histogramSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// HistogramBuckets is about how many buckets a histogram has.
const HistogramBuckets = 60

func histogramStep(r TimeRange) time.Duration {
	want := r.End.Sub(r.Start) / HistogramBuckets
	for _, s := range histogramSteps {
		if s >= want {
			return s
		}
	}
	return histogramSteps[len(histogramSteps)-1]
}

// alignDown rounds t down to a multiple of step since the Unix epoch.
func alignDown(t time.Time, step time.Duration) time.Time {
	ns := t.UnixNano()
	r := ns % int64(step)
	if r < 0 {
		r += int64(step)
	}
	return time.Unix(0, ns-r).UTC()
}

// LogHistogram counts the records a query matches over its range (the
// cursor and limit are ignored).
func (s *Service) LogHistogram(ctx context.Context, q LogQuery) (*Histogram, error) {
	if err := checkRange(q.Range, s.limits.MaxTimeRange); err != nil {
		return nil, err
	}
	step := histogramStep(q.Range)
	p := chsql.NewParams("p")
	qp := chsql.NewParams("q")
	cond, err := compileLogQuery(q.Query, qp)
	if err != nil {
		return nil, err
	}
	stepSec := p.Add("UInt32", uint32(step/time.Second))
	sql := "SELECT toStartOfInterval(Timestamp, toIntervalSecond(" + stepSec + ")) AS bucket, count(), countIf(SeverityNumber >= 17)\nFROM " + s.t.logs +
		"\nWHERE Timestamp >= " + p.Add("DateTime64(9)", q.Range.Start) + " AND Timestamp < " + p.Add("DateTime64(9)", q.Range.End) +
		"\n  AND (" + cond + ")\nGROUP BY bucket ORDER BY bucket"
	counts := map[int64]HistogramBucket{}
	err = s.query(ctx, sql, append(p.Args(), qp.Args()...), func(rows driver.Rows) error {
		var b HistogramBucket
		if err := rows.Scan(&b.Start, &b.Count, &b.Errors); err != nil {
			return err
		}
		counts[b.Start.Unix()] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	h := &Histogram{Step: step, Buckets: []HistogramBucket{}}
	for t := alignDown(q.Range.Start, step); t.Before(q.Range.End); t = t.Add(step) {
		b, ok := counts[t.Unix()]
		if !ok {
			b = HistogramBucket{}
		}
		b.Start = t
		h.Buckets = append(h.Buckets, b)
	}
	return h, nil
}

// TailQuery follows new log records.
type TailQuery struct {
	Query string
	// Start is the earliest timestamp to show; zero means now.
	Start time.Time
}

// TailBatch is what one poll of a tail found. Skipped is true when more
// records arrived than one poll shows (Limits.TailMaxRecords): the tail
// then jumps to the newest records instead of falling behind.
type TailBatch struct {
	Entries []LogEntry
	Skipped bool
}

// TailLogs polls for new records every Limits.TailPollInterval, oldest
// first, and hands every poll's batch (empty ones too, so the caller can
// tell a quiet tail from a vanished client) to emit, until ctx ends, emit
// fails or Limits.TailMaxDuration has passed (then it returns nil).
func (s *Service) TailLogs(ctx context.Context, q TailQuery, emit func(TailBatch) error) error {
	qp := chsql.NewParams("q")
	cond, err := compileLogQuery(q.Query, qp)
	if err != nil {
		return err
	}
	start := q.Start
	if start.IsZero() {
		start = s.now()
	}
	// The position is the last record shown, in ascending order.
	pos := logPos{start.UnixNano() - 1, math.MaxUint64}
	ctx, cancel := context.WithTimeout(ctx, s.limits.TailMaxDuration)
	defer cancel()
	ticker := time.NewTicker(s.limits.TailPollInterval)
	defer ticker.Stop()
	for {
		until := s.now()
		batch, next, err := s.tailPoll(ctx, cond, qp.Args(), pos, until)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		pos = next
		if err := emit(batch); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (s *Service) tailPoll(ctx context.Context, cond string, qargs []any, pos logPos, until time.Time) (TailBatch, logPos, error) {
	p := chsql.NewParams("p")
	ts := p.Add("DateTime64(9)", time.Unix(0, pos.ns).UTC())
	sql := "SELECT " + logSelect + "\nFROM " + s.t.logs +
		"\nWHERE Timestamp >= " + ts + " AND Timestamp <= " + p.Add("DateTime64(9)", until) +
		"\n  AND (Timestamp > " + ts + " OR " + logTiebreak + " > " + p.Add("UInt64", pos.h) + ")" +
		"\n  AND (" + cond + ")\nORDER BY Timestamp, Tiebreak\nLIMIT " + p.Add("UInt32", uint32(s.limits.TailMaxRecords+1))
	batch := TailBatch{Entries: []LogEntry{}}
	next := pos
	err := s.query(ctx, sql, append(p.Args(), qargs...), func(rows driver.Rows) error {
		if len(batch.Entries) == s.limits.TailMaxRecords {
			batch.Skipped = true
			return nil
		}
		var r logRow
		if err := rows.Scan(r.dest()...); err != nil {
			return fmt.Errorf("read log row: %w", err)
		}
		batch.Entries = append(batch.Entries, r.entry())
		next = logPos{r.Timestamp.UnixNano(), r.Tiebreak}
		return nil
	})
	if batch.Skipped {
		next = logPos{until.UnixNano(), math.MaxUint64}
	}
	return batch, next, err
}

// ValidateLogQuery reports a query that would not compile, as SearchLogs
// and TailLogs would.
func (s *Service) ValidateLogQuery(q string) error {
	_, err := compileLogQuery(q, chsql.NewParams("q"))
	return err
}
