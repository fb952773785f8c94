// Package reader answers every read of Tracehouse's tables: a trace by id,
// several traces at once, trace search, services and operations, log search,
// histogram and tail, the logs of a trace, RED series, the service map and
// the dependencies between services. It rebuilds pdata from the stored rows
// (rows.go) and writes the SQL: every value that comes from a user reaches
// ClickHouse as a query parameter ({name:Type}), never as SQL text.
//
// Every statement runs under Limits (max_execution_time, max_memory_usage,
// max_result_rows, max_result_bytes); a statement over one fails with
// *TimeoutError, *MemoryLimitError or *TooLargeError, never with a silently
// cut result. Admission (how many
// reads run at once) is the caller's: the query service's Limiter.
package reader

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// Limits bound what one statement may cost.
type Limits struct {
	// MaxExecutionTime stops any one statement (max_execution_time).
	MaxExecutionTime time.Duration
	// MaxMemoryUsage stops any one statement that needs more memory than
	// this many bytes on the server (max_memory_usage): a read must not take
	// the memory the server needs for inserts.
	MaxMemoryUsage int64
	// MaxResultBytes and MaxResultRows cap what one statement may return.
	MaxResultBytes int64
	MaxResultRows  int64
	// MaxTraceSpans caps the spans of one GetTrace, and of all the traces
	// of one GetTraces.
	MaxTraceSpans int
}

// DefaultLimits suit one machine running the embedded ClickHouse.
func DefaultLimits() Limits {
	return Limits{
		MaxExecutionTime: 30 * time.Second,
		MaxMemoryUsage:   1 << 30,
		MaxResultBytes:   256 << 20,
		MaxResultRows:    1_000_000,
		MaxTraceSpans:    100_000,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxExecutionTime <= 0 {
		l.MaxExecutionTime = d.MaxExecutionTime
	}
	if l.MaxMemoryUsage <= 0 {
		l.MaxMemoryUsage = d.MaxMemoryUsage
	}
	if l.MaxResultBytes <= 0 {
		l.MaxResultBytes = d.MaxResultBytes
	}
	if l.MaxResultRows <= 0 {
		l.MaxResultRows = d.MaxResultRows
	}
	if l.MaxTraceSpans <= 0 {
		l.MaxTraceSpans = d.MaxTraceSpans
	}
	return l
}

// Options configure a Reader. The zero value is usable.
type Options struct {
	// Database holds the Tracehouse tables; empty means "default".
	Database string
	// Limits; zero fields take DefaultLimits.
	Limits Limits
}

// Reader reads the Tracehouse tables of one database. It is safe for
// concurrent use.
type Reader struct {
	conn   driver.Conn
	db     string
	limits Limits
	t      tables

	traceQuery  string
	tracesQuery string
	spanCols    string
	logCols     string

	// rarity remembers the catalogue's figures of the keys searched
	// (rarity.go).
	rarity *rarityCache
}

// tables are the qualified table names.
type tables struct {
	spans, traceIndex, logs, red1m, edges1m, peerCalls1m string
	brokerEdges1m, publishes1m, redInstance1m            string
	attributes1h, savedViews                             string
}

// New returns a Reader of the tables in opts.Database through conn.
func New(conn driver.Conn, opts Options) (*Reader, error) {
	if opts.Database == "" {
		opts.Database = schema.DefaultDatabase
	}
	if err := storage.CheckIdent(opts.Database); err != nil {
		return nil, fmt.Errorf("reader: database: %w", err)
	}
	q := func(table string) string { return storage.QuoteIdent(opts.Database) + "." + table }
	r := &Reader{
		conn:   conn,
		db:     opts.Database,
		limits: opts.Limits.withDefaults(),
		t: tables{
			spans:         q(schema.SpansTable),
			traceIndex:    q(schema.TraceIndexTable),
			logs:          q(schema.LogsTable),
			red1m:         q(schema.RED1mTable),
			edges1m:       q(schema.ServiceEdges1mTable),
			peerCalls1m:   q(schema.PeerCalls1mTable),
			brokerEdges1m: q(schema.BrokerEdges1mTable),
			publishes1m:   q(schema.Publishes1mTable),
			redInstance1m: q(schema.REDInstance1mTable),
			attributes1h:  q(schema.Attributes1hTable),
			savedViews:    q(schema.SavedViewsTable),
		},
		rarity:   &rarityCache{},
		spanCols: selectList(schema.SpansColumns()),
		logCols:  selectList(schema.LogsColumns()),
	}
	r.traceQuery = traceByIDQuery(r.t, r.spanCols)
	r.tracesQuery = tracesByIDQuery(r.t, r.spanCols)
	return r, nil
}

// Limits are the reader's limits, defaults applied.
func (r *Reader) Limits() Limits { return r.limits }

// Ping checks that ClickHouse answers and that the schema is there.
func (r *Reader) Ping(ctx context.Context) error {
	if err := r.conn.Ping(ctx); err != nil {
		return fmt.Errorf("ClickHouse does not answer: %w", err)
	}
	var n uint64
	ctx, done := r.statement(ctx, nil)
	defer done()
	err := r.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = {db:String} AND name IN ('spans', 'trace_index', 'logs', 'red_1m', 'service_edges_1m', 'peer_calls_1m')",
		clickhouse.Named("db", r.db)).Scan(&n)
	if err != nil {
		return fmt.Errorf("ClickHouse schema check: %w", err)
	}
	if n < 6 {
		return fmt.Errorf("the Tracehouse tables are missing in ClickHouse (found %d of 6); run `tracehouse migrate`", n)
	}
	return nil
}

// TimeoutError is a statement stopped at its time limit.
type TimeoutError struct {
	Limit time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("the query ran longer than its limit of %s and was stopped; narrow the time range or add filters", e.Limit)
}

// TooLargeError is a result over max_result_rows or max_result_bytes (for
// trace reads, over Limits.MaxTraceSpans rows).
type TooLargeError struct {
	MaxRows  int64
	MaxBytes int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the result is larger than the limit of %d rows or %d MiB; narrow the time range, add filters or lower the limit", e.MaxRows, e.MaxBytes>>20)
}

// MemoryLimitError is a statement stopped because it needed more memory
// than Limits.MaxMemoryUsage.
type MemoryLimitError struct {
	Limit int64
}

func (e *MemoryLimitError) Error() string {
	return fmt.Sprintf("the query needed more than its memory limit of %s (max_memory_usage) and was stopped; narrow the time range or add filters", formatBytes(e.Limit))
}

// BusyError is a statement the server would not start now: too many run
// or wait (ClickHouse's TOO_MANY_SIMULTANEOUS_QUERIES; the embedded
// engine's read queue answers it when full or past its wait).
type BusyError struct {
	Msg string
}

func (e *BusyError) Error() string { return e.Msg }

// UnavailableError is a statement that never reached the server, or lost
// it mid-way: the connection was refused or reset (the server is down or
// restarting). The request is not at fault; a retry later may succeed.
type UnavailableError struct {
	Err error
}

func (e *UnavailableError) Error() string {
	return "ClickHouse cannot be reached (" + e.Err.Error() + ")"
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// unreachable says whether err is the server being away rather than an
// answer of it.
func unreachable(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		(errors.As(err, &op) && op.Op == "dial")
}

// formatBytes writes a size in the largest binary unit it is a whole
// multiple of, so that a limit reads as it was set.
func formatBytes(n int64) string {
	for _, u := range []struct {
		name  string
		shift uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// ClickHouse error codes of statements stopped at a limit.
const (
	codeMemoryLimitExceeded = 241
	codeTimeoutExceeded     = 159
	codeTooManyRows         = 158
	codeTooManyBytes        = 307
	codeTooManyRowsBytes    = 396
	codeTooManySimultaneous = 202
)

// settings are applied to every statement. Exceeding a limit throws
// (timeout_overflow_mode and result_overflow_mode are "throw" by default;
// they are not sent, since every setting costs the embedded engine a SET
// and a reset per statement).
func (r *Reader) settings(extra clickhouse.Settings) clickhouse.Settings {
	s := clickhouse.Settings{
		"max_execution_time": r.limits.MaxExecutionTime.Seconds(),
		"max_memory_usage":   r.limits.MaxMemoryUsage,
		"max_result_bytes":   r.limits.MaxResultBytes,
		"max_result_rows":    r.limits.MaxResultRows,
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

// errServerSilent cancels a statement whose server stopped answering.
var errServerSilent = errors.New("ClickHouse did not answer within the query time limit")

// statement returns the context a statement runs with: the per-statement
// settings, and no deadline on purpose — clickhouse-go turns a context
// deadline into its own max_execution_time, replacing ours. The client
// still gives up (cancels) MaxExecutionTime plus a grace period after the
// start when a server never answers, and when parent ends. done must be
// called once.
func (r *Reader) statement(parent context.Context, extra clickhouse.Settings) (ctx context.Context, done func()) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	stopParent := context.AfterFunc(parent, func() { cancel(context.Cause(parent)) })
	timer := time.AfterFunc(r.limits.MaxExecutionTime+10*time.Second, func() { cancel(errServerSilent) })
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(r.settings(extra)))
	return ctx, func() {
		timer.Stop()
		stopParent()
		cancel(nil)
	}
}

// classify turns driver errors of a statement run with ctx and extra
// settings (from statement) into TimeoutError and TooLargeError; others
// pass unchanged.
func (r *Reader) classify(ctx context.Context, extra clickhouse.Settings, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errServerSilent) || errors.Is(err, context.DeadlineExceeded) {
		return &TimeoutError{Limit: r.limits.MaxExecutionTime}
	}
	if unreachable(err) {
		return &UnavailableError{Err: err}
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		switch ex.Code {
		case codeTimeoutExceeded:
			return &TimeoutError{Limit: r.limits.MaxExecutionTime}
		case codeMemoryLimitExceeded:
			return &MemoryLimitError{Limit: r.limits.MaxMemoryUsage}
		case codeTooManySimultaneous:
			return &BusyError{Msg: ex.Message}
		case codeTooManyRows, codeTooManyBytes, codeTooManyRowsBytes:
			rows := r.limits.MaxResultRows
			if max, ok := extra["max_result_rows"].(int); ok {
				rows = int64(max)
			}
			return &TooLargeError{MaxRows: rows, MaxBytes: r.limits.MaxResultBytes}
		}
		return fmt.Errorf("clickhouse: %w", err)
	}
	return err
}

// open runs a statement. The caller must call done exactly once (it closes
// the rows) and pass the rows' errors through classify.
func (r *Reader) open(ctx context.Context, extra clickhouse.Settings, sql string, args []any) (rows driver.Rows, done func(), classify func(error) error, err error) {
	ctx, free := r.statement(ctx, extra)
	classify = func(err error) error { return r.classify(ctx, extra, err) }
	rows, err = r.conn.Query(ctx, sql, args...)
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

// query runs a statement and calls each for every row.
func (r *Reader) query(ctx context.Context, extra clickhouse.Settings, sql string, args []any, each func(rows driverRows) error) error {
	rows, done, classify, err := r.open(ctx, extra, sql, args)
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

// ceilSecond rounds up to a whole second: the aggregate tables' DateTime
// has second precision, and a bound must not drop the last partial second.
func ceilSecond(t time.Time) time.Time {
	if t.Truncate(time.Second).Equal(t) {
		return t
	}
	return t.Truncate(time.Second).Add(time.Second)
}

// driverRows is the part of driver.Rows a row callback uses.
type driverRows interface {
	Scan(dest ...any) error
}
