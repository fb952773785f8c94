package query

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/reader"
)

// TraceReader reads spans.
type TraceReader interface {
	GetTrace(ctx context.Context, id pcommon.TraceID) (ptrace.Traces, error)
	GetTraces(ctx context.Context, ids []pcommon.TraceID) (map[pcommon.TraceID]ptrace.Traces, error)
	SearchTraces(ctx context.Context, s reader.TraceSearch) ([]pcommon.TraceID, map[pcommon.TraceID]ptrace.Traces, error)
	Services(ctx context.Context) ([]string, error)
	Operations(ctx context.Context, service string, kind *ptrace.SpanKind) ([]reader.Operation, error)
}

// LogReader reads log records.
type LogReader interface {
	SearchLogs(ctx context.Context, s reader.LogSearch) (*reader.LogRows, error)
	LogHistogram(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]reader.HistogramBucket, error)
	CountLogs(ctx context.Context, query string, start, end time.Time) (uint64, error)
	TailLogs(ctx context.Context, query string, after reader.LogPos, until time.Time, limit int) ([]reader.LogEntry, bool, error)
	GetLogs(ctx context.Context, f reader.LogFilter) (plog.Logs, error)
}

// MetricsReader reads the per-minute aggregates kept at ingest.
type MetricsReader interface {
	RED(ctx context.Context, f reader.REDFilter) ([]reader.REDRow, error)
	Instances(ctx context.Context, f reader.InstanceFilter) ([]reader.InstanceStats, error)
	ServiceGraph(ctx context.Context, start, end time.Time) (*reader.ServiceGraph, error)
	DataSpan(ctx context.Context, start, end time.Time) (reader.DataSpan, bool, error)
	Dependencies(ctx context.Context, start, end time.Time) ([]reader.Dependency, error)
}

// Store is everything the service reads from: storage/reader.Reader.
type Store interface {
	TraceReader
	LogReader
	MetricsReader
	AttributeReader
	PatternReader
	ViewReader
	// Ping tells whether the store answers and holds the schema.
	Ping(ctx context.Context) error
}

// Limits bound what one request may ask for. What one statement may cost
// (time, result size, spans of a trace) is the store's: reader.Limits.
type Limits struct {
	// MaxTimeRange is the widest time range over raw spans and logs.
	MaxTimeRange time.Duration
	// MaxAggregateRange is the widest range over the per-minute aggregates
	// (service map, RED metrics, dependencies).
	MaxAggregateRange time.Duration
	// MaxTraces caps the traces one search returns.
	MaxTraces int
	// MaxTraceIDs caps the distinct traces one request may ask for by id
	// (GetTraces); all of them together are bounded by the store's span
	// limit (reader.Limits.MaxTraceSpans).
	MaxTraceIDs int
	// MaxLogs caps the log records of one page.
	MaxLogs int
	// MaxSeriesPoints caps the points of a histogram or metrics series.
	MaxSeriesPoints int
	// MaxConcurrentQueries and QueueTimeout configure the Limiter.
	MaxConcurrentQueries int
	QueueTimeout         time.Duration
	// TailPollInterval is how often a live tail asks for new records,
	// TailMaxDuration how long one tail may run, TailMaxRecords how many
	// records one poll returns at most (more are skipped, and said so).
	TailPollInterval time.Duration
	TailMaxDuration  time.Duration
	TailMaxRecords   int
	// MaxTails caps the live tails running at once in the process: each
	// polls ClickHouse every TailPollInterval for as long as it runs, so
	// tails beyond it are refused (BusyError) rather than queued.
	MaxTails int
	// TailMaxLookback is how far back a tail may start: a tail's first poll
	// reads everything since its start, and an old start makes every tail
	// a scan of history (search older records with SearchLogsPage).
	TailMaxLookback time.Duration
}

// DefaultLimits suit one machine running the embedded ClickHouse.
func DefaultLimits() Limits {
	return Limits{
		MaxTimeRange:         7 * 24 * time.Hour,
		MaxAggregateRange:    31 * 24 * time.Hour,
		MaxTraces:            1500,
		MaxTraceIDs:          100,
		MaxLogs:              1000,
		MaxSeriesPoints:      1500,
		MaxConcurrentQueries: 8,
		QueueTimeout:         10 * time.Second,
		TailPollInterval:     time.Second,
		TailMaxDuration:      30 * time.Minute,
		TailMaxRecords:       500,
		MaxTails:             16,
		TailMaxLookback:      time.Hour,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	orDefault(&l.MaxTimeRange, d.MaxTimeRange)
	orDefault(&l.MaxAggregateRange, d.MaxAggregateRange)
	orDefault(&l.MaxTraces, d.MaxTraces)
	orDefault(&l.MaxTraceIDs, d.MaxTraceIDs)
	orDefault(&l.MaxLogs, d.MaxLogs)
	orDefault(&l.MaxSeriesPoints, d.MaxSeriesPoints)
	orDefault(&l.MaxConcurrentQueries, d.MaxConcurrentQueries)
	orDefault(&l.QueueTimeout, d.QueueTimeout)
	orDefault(&l.TailPollInterval, d.TailPollInterval)
	orDefault(&l.TailMaxDuration, d.TailMaxDuration)
	orDefault(&l.TailMaxRecords, d.TailMaxRecords)
	orDefault(&l.MaxTails, d.MaxTails)
	orDefault(&l.TailMaxLookback, d.TailMaxLookback)
	return l
}

func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Options configure a Service. The zero value is usable.
type Options struct {
	// Limits; zero fields take DefaultLimits.
	Limits Limits
	// Limiter is shared by every request of the service; nil makes one from
	// Limits.MaxConcurrentQueries and Limits.QueueTimeout.
	Limiter *Limiter
	// Now is the clock for default time ranges (tests); nil means time.Now.
	Now func() time.Time
	// Views stores saved views (storage/writer.Views); nil makes saving
	// and deleting fail (listing reads the Store).
	Views ViewWriter
}

// Service answers queries from a Store. It is safe for concurrent use.
type Service struct {
	store   Store
	limits  Limits
	limiter *Limiter
	now     func() time.Time
	views   ViewWriter
	// tails holds a token per running live tail (Limits.MaxTails).
	tails chan struct{}
}

// New returns a Service reading from store.
func New(store Store, opts Options) *Service {
	limits := opts.Limits.withDefaults()
	s := &Service{store: store, limits: limits, limiter: opts.Limiter, now: opts.Now, views: opts.Views, tails: make(chan struct{}, limits.MaxTails)}
	if s.limiter == nil {
		s.limiter = NewLimiter(limits.MaxConcurrentQueries, limits.QueueTimeout)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Limits are the service's limits, defaults applied.
func (s *Service) Limits() Limits { return s.limits }

// Limiter is the service's request limiter (for metrics).
func (s *Service) Limiter() *Limiter { return s.limiter }

// Tails is how many live tails run now (for metrics).
func (s *Service) Tails() int { return len(s.tails) }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// Ping checks that the store answers and that the schema is there.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

// TimeRange is a half-open interval [Start, End).
type TimeRange struct {
	Start, End time.Time
}

// checkRange validates a range against a limit.
func checkRange(r TimeRange, limit time.Duration) error {
	if r.Start.IsZero() || r.End.IsZero() {
		return inputError("start", "both start and end are needed")
	}
	if !r.End.After(r.Start) {
		return inputError("end", "end (%s) must be after start (%s)", r.End.UTC().Format(time.RFC3339Nano), r.Start.UTC().Format(time.RFC3339Nano))
	}
	if r.End.Sub(r.Start) > limit {
		return inputError("start", "the time range %s is longer than the limit of %s; narrow it", r.End.Sub(r.Start), limit)
	}
	return nil
}
