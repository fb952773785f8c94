package query

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"math"
	"sync"
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

// LogPage is a page of a search.
type LogPage struct {
	Entries    []LogEntry
	NextCursor string
}

// SearchLogsPage reads a whole page, newest first. The page is read into
// memory (Limits.MaxLogs bounds it) and the query slot is free before it
// returns: a caller that writes the page to a slow client holds no slot
// while it does.
func (s *Service) SearchLogsPage(ctx context.Context, q LogQuery) (*LogPage, error) {
	search, err := s.logSearch(q)
	if err != nil {
		return nil, err
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := s.store.SearchLogs(ctx, search)
	if err != nil {
		return nil, classify(err, nil)
	}
	defer rows.Close()
	page := &LogPage{Entries: make([]LogEntry, 0, search.Limit)}
	for rows.Next() {
		page.Entries = append(page.Entries, entryOf(rows.Entry()))
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err, nil)
	}
	if rows.More() && len(page.Entries) > 0 {
		page.NextCursor = page.Entries[len(page.Entries)-1].Cursor
	}
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
	// Start is the earliest timestamp to show; zero means now. It may be
	// at most Limits.TailMaxLookback before now.
	Start time.Time
}

// TailBatch is what one poll of a tail found. Skipped is true when more
// records arrived than one poll shows (Limits.TailMaxRecords): the tail
// then jumps to the newest records instead of falling behind.
type TailBatch struct {
	Entries []LogEntry
	Skipped bool
}

// Tail is a live tail admitted by OpenTail: it holds one of the
// Limits.MaxTails places until Run returns (or Close, when it never runs).
type Tail struct {
	svc   *Service
	q     TailQuery
	start time.Time
	once  sync.Once
}

// tailRetryAfter is the hint given with a refused tail: tails last minutes,
// so a place rarely frees within a second.
const tailRetryAfter = 15 * time.Second

// OpenTail checks a tail (query, start) and takes a place for it among the
// Limits.MaxTails running tails, without waiting: at the cap it fails with
// BusyError (Tails). Run the tail with Run; Close it if it never runs.
func (s *Service) OpenTail(q TailQuery) (*Tail, error) {
	if err := s.ValidateLogQuery(q.Query); err != nil {
		return nil, err
	}
	now := s.now()
	start := q.Start
	if start.IsZero() {
		start = now
	}
	if oldest := now.Add(-s.limits.TailMaxLookback); start.Before(oldest) {
		return nil, inputError("start", "a live tail starts at most %s back (start %s is before %s); search older records with /api/v1/logs",
			s.limits.TailMaxLookback, start.UTC().Format(time.RFC3339Nano), oldest.UTC().Format(time.RFC3339))
	}
	select {
	case s.tails <- struct{}{}:
	default:
		return nil, &BusyError{RetryAfter: tailRetryAfter, Limit: cap(s.tails), Tails: true}
	}
	return &Tail{svc: s, q: q, start: start}, nil
}

// Close frees the tail's place; Run calls it. Safe to call twice.
func (t *Tail) Close() { t.once.Do(func() { <-t.svc.tails }) }

// Run polls for new records every Limits.TailPollInterval, oldest first,
// and hands every poll's batch (empty ones too, so the caller can tell a
// quiet tail from a vanished client) to emit, until ctx ends, emit fails or
// Limits.TailMaxDuration has passed (then it returns nil). No query slot is
// held while emit runs, so a slow client delays only its own tail.
func (t *Tail) Run(ctx context.Context, emit func(TailBatch) error) error {
	defer t.Close()
	s := t.svc
	// The position is the last record shown, in ascending order.
	pos := reader.LogPos{UnixNano: t.start.UnixNano() - 1, Tiebreak: math.MaxUint64}
	ctx, cancel := context.WithTimeout(ctx, s.limits.TailMaxDuration)
	defer cancel()
	ticker := time.NewTicker(s.limits.TailPollInterval)
	defer ticker.Stop()
	for {
		batch, next, err := s.tailPoll(ctx, t.q.Query, pos, s.now())
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

// TailLogs is OpenTail followed by Run.
func (s *Service) TailLogs(ctx context.Context, q TailQuery, emit func(TailBatch) error) error {
	t, err := s.OpenTail(q)
	if err != nil {
		return err
	}
	return t.Run(ctx, emit)
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
