package query

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/storage/schema"
	"github.com/tracehouse/tracehouse/storage/tracestore"
)

// Limits bound what one request may cost.
type Limits struct {
	// MaxTimeRange is the widest time range over raw spans and logs.
	MaxTimeRange time.Duration
	// MaxAggregateRange is the widest range over the per-minute aggregates
	// (service map, RED metrics, dependencies).
	MaxAggregateRange time.Duration
	// MaxTraces caps the traces one search returns.
	MaxTraces int
	// MaxSpans caps the spans of one trace, and of all traces of a search.
	MaxSpans int
	// MaxLogs caps the log records of one page.
	MaxLogs int
	// MaxSeriesPoints caps the points of a histogram or metrics series.
	MaxSeriesPoints int
	// MaxExecutionTime stops any one ClickHouse query (max_execution_time).
	MaxExecutionTime time.Duration
	// MaxResultBytes and MaxResultRows cap what any one query may return
	// (max_result_bytes, max_result_rows; exceeding them is an error, never a
	// silently cut result).
	MaxResultBytes int64
	MaxResultRows  int64
	// MaxConcurrentQueries and QueueTimeout configure the Limiter.
	MaxConcurrentQueries int
	QueueTimeout         time.Duration
	// TailPollInterval is how often a live tail asks for new records,
	// TailMaxDuration how long one tail may run, TailMaxRecords how many
	// records one poll returns at most (more are skipped, and said so).
	TailPollInterval time.Duration
	TailMaxDuration  time.Duration
	TailMaxRecords   int
}

// DefaultLimits suit one machine running the embedded ClickHouse.
func DefaultLimits() Limits {
	return Limits{
		MaxTimeRange:         7 * 24 * time.Hour,
		MaxAggregateRange:    31 * 24 * time.Hour,
		MaxTraces:            1500,
		MaxSpans:             100_000,
		MaxLogs:              1000,
		MaxSeriesPoints:      1500,
		MaxExecutionTime:     30 * time.Second,
		MaxResultBytes:       256 << 20,
		MaxResultRows:        1_000_000,
		MaxConcurrentQueries: 8,
		QueueTimeout:         10 * time.Second,
		TailPollInterval:     time.Second,
		TailMaxDuration:      30 * time.Minute,
		TailMaxRecords:       500,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxTimeRange, d.MaxTimeRange)
	set(&l.MaxAggregateRange, d.MaxAggregateRange)
	setInt(&l.MaxTraces, d.MaxTraces)
	setInt(&l.MaxSpans, d.MaxSpans)
	setInt(&l.MaxLogs, d.MaxLogs)
	setInt(&l.MaxSeriesPoints, d.MaxSeriesPoints)
	set(&l.MaxExecutionTime, d.MaxExecutionTime)
	if l.MaxResultBytes <= 0 {
		l.MaxResultBytes = d.MaxResultBytes
	}
	if l.MaxResultRows <= 0 {
		l.MaxResultRows = d.MaxResultRows
	}
	setInt(&l.MaxConcurrentQueries, d.MaxConcurrentQueries)
	set(&l.QueueTimeout, d.QueueTimeout)
	set(&l.TailPollInterval, d.TailPollInterval)
	set(&l.TailMaxDuration, d.TailMaxDuration)
	setInt(&l.TailMaxRecords, d.TailMaxRecords)
	return l
}

// Options configure a Service. The zero value is usable.
type Options struct {
	// Database holds the Tracehouse tables; empty means "default" (as for
	// storage/tracestore). `tracehouse query` passes the DSN's database.
	Database string
	// Limits; zero fields take DefaultLimits.
	Limits Limits
	// Limiter is shared by every query of the service; nil makes one from
	// Limits.MaxConcurrentQueries and Limits.QueueTimeout.
	Limiter *Limiter
	// Now is the clock for default time ranges (tests); nil means time.Now.
	Now func() time.Time
}

// Service answers queries from ClickHouse. It is safe for concurrent use.
type Service struct {
	conn    driver.Conn
	reader  *tracestore.Reader
	limits  Limits
	limiter *Limiter
	now     func() time.Time
	db      string
	t       tables
}

// tables are the qualified table names.
type tables struct {
	spans, traceIndex, logs, red1m, edges1m string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// New returns a Service reading through conn.
func New(conn driver.Conn, opts Options) (*Service, error) {
	if opts.Database == "" {
		opts.Database = schema.DefaultDatabase
	}
	if !identRE.MatchString(opts.Database) {
		return nil, fmt.Errorf("query: database name %q is not a plain identifier", opts.Database)
	}
	limits := opts.Limits.withDefaults()
	s := &Service{conn: conn, reader: tracestore.NewReader(conn, opts.Database), limits: limits, limiter: opts.Limiter, now: opts.Now, db: opts.Database}
	if s.limiter == nil {
		s.limiter = NewLimiter(limits.MaxConcurrentQueries, limits.QueueTimeout)
	}
	if s.now == nil {
		s.now = time.Now
	}
	q := func(table string) string { return "`" + opts.Database + "`." + table }
	s.t = tables{
		spans:      q(schema.SpansTable),
		traceIndex: q(schema.TraceIndexTable),
		logs:       q(schema.LogsTable),
		red1m:      q(schema.RED1mTable),
		edges1m:    q(schema.ServiceEdges1mTable),
	}
	return s, nil
}

// Limits are the service's limits, defaults applied.
func (s *Service) Limits() Limits { return s.limits }

// Limiter is the service's query limiter (for metrics).
func (s *Service) Limiter() *Limiter { return s.limiter }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// Ping checks that ClickHouse answers and that the schema is there.
func (s *Service) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("ClickHouse does not answer: %w", err)
	}
	var n uint64
	err := s.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = {db:String} AND name IN ('spans', 'trace_index', 'logs', 'red_1m', 'service_edges_1m')",
		clickhouse.Named("db", s.db)).Scan(&n)
	if err != nil {
		return fmt.Errorf("ClickHouse schema check: %w", err)
	}
	if n < 5 {
		return fmt.Errorf("the Tracehouse tables are missing in ClickHouse (found %d of 5); run `tracehouse migrate`", n)
	}
	return nil
}

// settings are applied to every query. Exceeding a limit throws
// (timeout_overflow_mode and result_overflow_mode are "throw" by default;
// they are not sent, since every setting costs the embedded engine a SET and
// a reset per query).
func (s *Service) settings() clickhouse.Settings {
	return clickhouse.Settings{
		"max_execution_time": s.limits.MaxExecutionTime.Seconds(),
		"max_result_bytes":   s.limits.MaxResultBytes,
		"max_result_rows":    s.limits.MaxResultRows,
	}
}

// slot takes a query slot, with a context that carries the
// per-query settings. That context has no deadline on purpose: clickhouse-go
// turns a context deadline into its own max_execution_time, replacing ours.
// The client still gives up (cancels) MaxExecutionTime plus a grace period
// after the start, when a server never answers. done must be called once.
func (s *Service) slot(parent context.Context, extra clickhouse.Settings) (ctx context.Context, done func(), err error) {
	release, err := s.limiter.Acquire(parent)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	stopParent := context.AfterFunc(parent, func() { cancel(context.Cause(parent)) })
	timer := time.AfterFunc(s.limits.MaxExecutionTime+10*time.Second, func() { cancel(errServerSilent) })
	settings := s.settings()
	for k, v := range extra {
		settings[k] = v
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(settings))
	return ctx, func() {
		timer.Stop()
		stopParent()
		cancel(nil)
		release()
	}, nil
}

// errServerSilent cancels a query whose server stopped answering.
var errServerSilent = errors.New("ClickHouse did not answer within the query time limit")

// classifyIn is classify for an error of a query run with ctx from slot.
func (s *Service) classifyIn(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), errServerSilent) {
		return &TimeoutError{Limit: s.limits.MaxExecutionTime}
	}
	return s.classify(err)
}

// open runs a query under the limiter and the per-query settings. The
// caller must call done exactly once (it closes rows and frees the slot)
// and pass errors of rows through classify.
func (s *Service) open(ctx context.Context, extra clickhouse.Settings, sql string, args []any) (rows driver.Rows, done func(), classify func(error) error, err error) {
	ctx, free, err := s.slot(ctx, extra)
	if err != nil {
		return nil, nil, nil, err
	}
	classify = func(err error) error { return s.classifyIn(ctx, err) }
	rows, err = s.conn.Query(ctx, sql, args...)
	if err != nil {
		err = classify(err)
		free()
		return nil, nil, nil, err
	}
	return rows, func() {
		rows.Close()
		free()
	}, classify, nil
}

// query runs a query and calls each for every row.
func (s *Service) query(ctx context.Context, sql string, args []any, each func(rows driver.Rows) error) error {
	return s.queryWith(ctx, nil, sql, args, each)
}

// queryWith is query with extra settings.
func (s *Service) queryWith(ctx context.Context, extra clickhouse.Settings, sql string, args []any, each func(rows driver.Rows) error) error {
	rows, done, classify, err := s.open(ctx, extra, sql, args)
	if err != nil {
		return err
	}
	defer done()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return classify(rows.Err())
}

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
