package query

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tracehouse/tracehouse/storage/logquery"
	"github.com/tracehouse/tracehouse/storage/reader"
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

func entryOf(e reader.LogEntry) LogEntry {
	return LogEntry{Resource: e.Resource, Scope: e.Scope, Record: e.Record, Cursor: encodeCursor(e.Pos)}
}

func encodeCursor(p reader.LogPos) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(p.UnixNano))
	binary.BigEndian.PutUint64(b[8:], p.Tiebreak)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (reader.LogPos, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return reader.LogPos{}, inputError("cursor", "the cursor is not one this service returned; start again without it")
	}
	return reader.LogPos{UnixNano: int64(binary.BigEndian.Uint64(b[:8])), Tiebreak: binary.BigEndian.Uint64(b[8:])}, nil
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

func (s *Service) logSearch(q LogQuery) (reader.LogSearch, error) {
	if err := checkRange(q.Range, s.limits.MaxTimeRange); err != nil {
		return reader.LogSearch{}, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLogLimit
	}
	if limit < 0 || limit > s.limits.MaxLogs {
		return reader.LogSearch{}, inputError("limit", "limit must be between 1 and %d", s.limits.MaxLogs)
	}
	search := reader.LogSearch{Query: q.Query, Start: q.Range.Start, End: q.Range.End, Limit: limit}
	if q.Cursor != "" {
		pos, err := decodeCursor(q.Cursor)
		if err != nil {
			return reader.LogSearch{}, err
		}
		search.Before = &pos
	}
	return search, nil
}

// LogStream reads a page of log entries as the store returns them.
type LogStream struct {
	rows    *reader.LogRows
	release func()
	cur     LogEntry
	err     error
}

// SearchLogs starts a search; read it with Next/Entry and Close it.
func (s *Service) SearchLogs(ctx context.Context, q LogQuery) (*LogStream, error) {
	search, err := s.logSearch(q)
	if err != nil {
		return nil, err
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.SearchLogs(ctx, search)
	if err != nil {
		release()
		return nil, classify(err, nil)
	}
	return &LogStream{rows: rows, release: release}, nil
}

// Next advances to the next entry.
func (st *LogStream) Next() bool {
	if st.err != nil || st.rows == nil {
		return false
	}
	if !st.rows.Next() {
		st.err = classify(st.rows.Err(), nil)
		return false
	}
	st.cur = entryOf(st.rows.Entry())
	return true
}

// Entry is the current entry.
func (st *LogStream) Entry() LogEntry { return st.cur }

// Err is the error that stopped Next, if any.
func (st *LogStream) Err() error { return st.err }

// NextCursor continues the search after this page; empty when this page is
// the last. Valid once Next has returned false.
func (st *LogStream) NextCursor() string {
	if !st.rows.More() {
		return ""
	}
	return st.cur.Cursor
}

// Close frees the query; safe to call twice.
func (st *LogStream) Close() {
	if st.release != nil {
		st.rows.Close()
		st.release()
		st.release = nil
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

// TraceLogs returns the log records of a trace within r, oldest first, at
// most Limits.MaxLogs of them.
func (s *Service) TraceLogs(ctx context.Context, id pcommon.TraceID, r TimeRange) ([]LogEntry, error) {
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	ld, err := s.store.GetLogs(ctx, reader.LogFilter{TraceID: id, Start: r.Start, End: r.End, Limit: s.limits.MaxLogs})
	if err != nil {
		return nil, classify(err, nil)
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
	// Total is every matching record of the range: the buckets' sum.
	Total uint64
}

// HistogramBucket is one bucket; Errors counts records of level error and
// above. A Partial bucket is cut by the range's start or end, or ends less
// than ArrivalWindow ago (records may still arrive): its count is not
// comparable with its neighbours'.
type HistogramBucket struct {
	Start   time.Time
	Count   uint64
	Errors  uint64
	Partial bool
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
	if err := s.ValidateLogQuery(q.Query); err != nil {
		return nil, err
	}
	step := histogramStep(q.Range)
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := s.store.LogHistogram(ctx, q.Query, q.Range.Start, q.Range.End, step)
	if err != nil {
		return nil, classify(err, nil)
	}
	counts := make(map[int64]reader.HistogramBucket, len(rows))
	for _, b := range rows {
		counts[b.Start.Unix()] = b
	}
	h := &Histogram{Step: step, Buckets: []HistogramBucket{}}
	settled := s.now().Add(-ArrivalWindow)
	for t := alignDown(q.Range.Start, step); t.Before(q.Range.End); t = t.Add(step) {
		c := counts[t.Unix()]
		end := t.Add(step)
		h.Buckets = append(h.Buckets, HistogramBucket{Start: t, Count: c.Count, Errors: c.Errors,
			Partial: t.Before(q.Range.Start) || end.After(q.Range.End) || end.After(settled)})
		h.Total += c.Count
	}
	return h, nil
}

// CountLogs counts the records a query matches over its range (the cursor
// and limit are ignored).
func (s *Service) CountLogs(ctx context.Context, q LogQuery) (uint64, error) {
	if err := checkRange(q.Range, s.limits.MaxTimeRange); err != nil {
		return 0, err
	}
	if err := s.ValidateLogQuery(q.Query); err != nil {
		return 0, err
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	n, err := s.store.CountLogs(ctx, q.Query, q.Range.Start, q.Range.End)
	return n, classify(err, nil)
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
	if err := s.ValidateLogQuery(q.Query); err != nil {
		return err
	}
	start := q.Start
	if start.IsZero() {
		start = s.now()
	}
	// The position is the last record shown, in ascending order.
	pos := reader.LogPos{UnixNano: start.UnixNano() - 1, Tiebreak: math.MaxUint64}
	ctx, cancel := context.WithTimeout(ctx, s.limits.TailMaxDuration)
	defer cancel()
	ticker := time.NewTicker(s.limits.TailPollInterval)
	defer ticker.Stop()
	for {
		batch, next, err := s.tailPoll(ctx, q.Query, pos, s.now())
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

func (s *Service) tailPoll(ctx context.Context, query string, pos reader.LogPos, until time.Time) (TailBatch, reader.LogPos, error) {
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return TailBatch{}, pos, err
	}
	defer release()
	entries, more, err := s.store.TailLogs(ctx, query, pos, until, s.limits.TailMaxRecords)
	if err != nil {
		return TailBatch{}, pos, classify(err, nil)
	}
	batch := TailBatch{Entries: make([]LogEntry, 0, len(entries)), Skipped: more}
	for _, e := range entries {
		batch.Entries = append(batch.Entries, entryOf(e))
		pos = e.Pos
	}
	if more {
		pos = reader.LogPos{UnixNano: until.UnixNano(), Tiebreak: math.MaxUint64}
	}
	return batch, pos, nil
}

// ValidateLogQuery reports a query that would not compile, as SearchLogs
// and TailLogs would.
func (s *Service) ValidateLogQuery(q string) error {
	return classify(logquery.Check(q), nil)
}
