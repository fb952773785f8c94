// Package tracestore maps OpenTelemetry pdata to Tracehouse's ClickHouse rows
// and back: Writer turns ptrace.Traces and plog.Logs straight into columnar
// Native batches (plus the service-graph edges they complete), Reader
// rebuilds pdata from the rows. The table layout is storage/schema's; ingest
// writes through this package and query reads through it, so neither imports
// the other.
//
// What is stored exactly and what is normalised:
//   - every OTLP field of spans and log records round-trips, with attribute
//     value types (see schema.AttrColumns), except:
//   - strings with invalid UTF-8 are stored with U+FFFD in place of the bad
//     bytes (WriteStats.Sanitized);
//   - maps/slices nested deeper than Options.MaxValueDepth keep the subtree
//     below as OTLP/JSON text in a string value (WriteStats.Truncated);
//   - a span ending before it starts is stored with duration 0, span kinds,
//     status codes and severity numbers outside their enums as 0
//     (WriteStats.Clamped);
//   - a log record without Timestamp gets its ObservedTimestamp (or the
//     write time) as Timestamp;
//   - spans or records with a time after 2262-04-11 cannot be stored
//     (DateTime64(9)) and are rejected (RejectedError);
//   - a span's or record's own attributes come back grouped by type and
//     sorted by key within each (they live in five typed maps); resource,
//     scope, event and link attributes keep their order (attributes JSON);
//   - resource entity refs (experimental in pdata) are not stored.
package tracestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/schema"
)

// Options tune a Writer. The zero value is usable.
type Options struct {
	// Database holds the Tracehouse tables; empty means "default".
	Database string
	// EdgeCacheSize is how many spans the writer remembers to find
	// parent/child pairs across batches (service-graph edges). 0 means
	// DefaultEdgeCacheSize; a negative value turns edges off.
	EdgeCacheSize int
	// EdgeCacheTTL is how long a span is remembered for that (at least half
	// of it, at most all of it). 0 means DefaultEdgeCacheTTL.
	EdgeCacheTTL time.Duration
	// MaxValueDepth bounds nested attribute values and bodies stored as
	// structure; 0 means DefaultMaxValueDepth.
	MaxValueDepth int
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// NativeProtocol says the connection speaks ClickHouse's native
	// protocol (clickhouse://): the writer then sends through clickhouse-go's
	// batch API. Over HTTP (false: the embedded engine, http:// DSNs) it
	// encodes each batch into a Native block it keeps, which costs less CPU
	// (see block.go).
	NativeProtocol bool
}

// Defaults of Options.
const (
	DefaultEdgeCacheSize = 200_000
	DefaultEdgeCacheTTL  = 2 * time.Minute
)

// WriteStats says what one write stored and what it had to change.
type WriteStats struct {
	// Rows is the number of spans or log records written.
	Rows int
	// Bytes is the size of the INSERT bodies sent over HTTP (statements and
	// Native blocks, edges included). Over the native protocol it is 0:
	// clickhouse-go's batches do not say.
	Bytes int
	// Edges is the number of service_edge_events rows written.
	Edges int
	// Rejected items can never be stored and were skipped; RejectReason is
	// the first reason.
	Rejected     int
	RejectReason string
	// Sanitized counts strings stored with U+FFFD for invalid UTF-8.
	Sanitized int
	// Truncated counts values nested deeper than MaxValueDepth (the deep
	// part is kept as text).
	Truncated int
	// Clamped counts fields outside their range stored as the nearest
	// storable value (negative durations, unknown enum values).
	Clamped int
}

func (s *WriteStats) reject(reason string) {
	if s.Rejected == 0 {
		s.RejectReason = reason
	}
	s.Rejected++
}

// ErrInvalidData marks errors for data that can never be written as it is:
// retrying the same data cannot succeed.
var ErrInvalidData = errors.New("data cannot be stored")

// RejectedError reports items that were skipped because they can never be
// stored; everything else in the write was stored. errors.Is(err,
// ErrInvalidData) holds.
type RejectedError struct {
	Signal string // "spans" or "log records"
	Count  int
	Reason string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("%d %s rejected (the others were stored): %s", e.Count, e.Signal, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidData) true.
func (e *RejectedError) Is(target error) bool { return target == ErrInvalidData }

// EdgesError reports that spans were stored but the service-graph edges they
// completed were not. Retrying the write would store the spans twice.
type EdgesError struct {
	Edges int
	Err   error
}

func (e *EdgesError) Error() string {
	return fmt.Sprintf("spans stored, but %d service-graph edges were not: %v", e.Edges, e.Err)
}

func (e *EdgesError) Unwrap() error { return e.Err }

// Writer writes pdata to ClickHouse. It is safe for concurrent use; each
// write is one INSERT of Native columns (and one more for the edges it
// completes), built in buffers reused across writes.
type Writer struct {
	conn           driver.Conn
	nativeProtocol bool
	now            func() time.Time
	maxDepth       int

	spans, logs, edges tableInsert

	spanPool freeList[*spanColumns]
	logPool  freeList[*logColumns]

	// converts: the server converts column types on Native input (see
	// wireType); asked once. noConvert: it refused to.
	converts     bool
	convertsOnce sync.Once
	noConvert    atomic.Bool

	edgeCache *edgeCache // nil when edges are off
	services  *interner
}

// tableInsert is one table's INSERT statement and, after the first batch,
// its column types, so later batches skip the DESCRIBE TABLE round trip that
// clickhouse-go makes over HTTP.
type tableInsert struct {
	database, name string // unquoted
	table          string // quoted, qualified
	query          string // INSERT INTO … (columns)
	statement      string // the query as the body of a Native block
	types          atomic.Pointer[insertTypes]
}

// insertTypes are the column types a batch declares.
type insertTypes struct {
	cols []clickhouse.ColumnNameAndType
	// converted: some differ from the table's (see Writer.wireType).
	converted bool
}

func newTableInsert(db, table string, columns []string) tableInsert {
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = "`" + c + "`"
	}
	qualified := quoteIdent(db) + "." + table
	query := "INSERT INTO " + qualified + " (" + strings.Join(quoted, ", ") + ")"
	return tableInsert{
		database:  db,
		name:      table,
		table:     qualified,
		query:     query,
		statement: insertStatement(query),
	}
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// NewWriter returns a Writer on conn. The tables must exist
// (schema.Migrate).
func NewWriter(conn driver.Conn, opts Options) *Writer {
	if opts.Database == "" {
		opts.Database = schema.DefaultDatabase
	}
	if opts.EdgeCacheSize == 0 {
		opts.EdgeCacheSize = DefaultEdgeCacheSize
	}
	if opts.EdgeCacheTTL <= 0 {
		opts.EdgeCacheTTL = DefaultEdgeCacheTTL
	}
	if opts.MaxValueDepth <= 0 {
		opts.MaxValueDepth = DefaultMaxValueDepth
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := &Writer{
		conn:           conn,
		nativeProtocol: opts.NativeProtocol,
		now:            opts.Now,
		maxDepth:       opts.MaxValueDepth,
		spans:          newTableInsert(opts.Database, schema.SpansTable, schema.SpansColumns()),
		logs:           newTableInsert(opts.Database, schema.LogsTable, schema.LogsColumns()),
		edges:          newTableInsert(opts.Database, schema.ServiceEdgeEventsTable, schema.ServiceEdgeEventsColumns()),
		services:       newInterner(10_000),
	}
	if opts.EdgeCacheSize > 0 {
		w.edgeCache = newEdgeCache(opts.EdgeCacheSize, opts.EdgeCacheTTL, opts.Now)
	}
	w.spanPool.alloc = func() *spanColumns { return newSpanColumns(w.maxDepth) }
	w.logPool.alloc = func() *logColumns { return newLogColumns(w.maxDepth) }
	return w
}

// freeList keeps column buffers between writes. A sync.Pool would not do:
// it is emptied by every GC, and a collector holding a queue of pdata runs
// GC often enough that each batch grew its buffers from scratch again.
type freeList[T interface{ reset() }] struct {
	mu    sync.Mutex
	free  []T
	alloc func() T
}

// maxFreeBuffers bounds the buffers kept per signal: one per concurrent
// write (exporterhelper's num_consumers) is all that is ever reused.
const maxFreeBuffers = 4

func (f *freeList[T]) get() T {
	f.mu.Lock()
	if n := len(f.free); n > 0 {
		c := f.free[n-1]
		var zero T
		f.free[n-1] = zero
		f.free = f.free[:n-1]
		f.mu.Unlock()
		return c
	}
	f.mu.Unlock()
	return f.alloc()
}

func (f *freeList[T]) put(c T) {
	c.reset()
	f.mu.Lock()
	if len(f.free) < maxFreeBuffers {
		f.free = append(f.free, c)
	}
	f.mu.Unlock()
}

// maxPooledBytes is the most a pooled buffer may retain; one huge batch does
// not pin its memory for ever. A batch of 50k spans (the exporter's default
// largest) retains about 55 MiB (TestLargeBatchBuffersAreKept), too close
// to the earlier 64 MiB cap for richer spans; buffers dropped at the cap
// are grown again from nothing by the next batch.
const maxPooledBytes = 256 << 20

// WriteTraces stores every span of td. See WriteTracesStats.
func (w *Writer) WriteTraces(ctx context.Context, td ptrace.Traces) error {
	_, err := w.WriteTracesStats(ctx, td)
	return err
}

// WriteTracesStats stores every span of td in one INSERT, then the
// service-graph edges the spans complete in a second one.
//
// Errors: a failed spans INSERT stores nothing (retry the whole write); a
// *RejectedError means the other spans were stored; an *EdgesError means
// all spans were stored but edges were lost. Errors wrapping ErrInvalidData
// cannot succeed on retry.
func (w *Writer) WriteTracesStats(ctx context.Context, td ptrace.Traces) (WriteStats, error) {
	var st WriteStats
	c := w.spanPool.get()
	defer func() {
		if c.retainedBytes() < maxPooledBytes {
			w.spanPool.put(c)
		}
	}()
	c.add(td, &st, w.services)
	if c.rows > 0 {
		sent, err := w.insert(ctx, &w.spans, c.rows, c.columns(), &c.block)
		if err != nil {
			st.Rows = 0
			return st, err
		}
		st.Bytes += sent
		if w.edgeCache != nil {
			rows := w.edgeCache.resolve(c.edges, nil)
			if len(rows) > 0 {
				sent, err := w.insert(ctx, &w.edges, len(rows), edgeColumns(rows), &c.edgeBlock)
				if err != nil {
					return st, &EdgesError{Edges: len(rows), Err: err}
				}
				st.Bytes += sent
				st.Edges = len(rows)
			}
		}
	}
	if st.Rejected > 0 {
		return st, &RejectedError{Signal: "spans", Count: st.Rejected, Reason: st.RejectReason}
	}
	return st, nil
}

// WriteLogs stores every log record of ld. See WriteLogsStats.
func (w *Writer) WriteLogs(ctx context.Context, ld plog.Logs) error {
	_, err := w.WriteLogsStats(ctx, ld)
	return err
}

// WriteLogsStats stores every log record of ld in one INSERT. Errors are as
// for WriteTracesStats.
func (w *Writer) WriteLogsStats(ctx context.Context, ld plog.Logs) (WriteStats, error) {
	var st WriteStats
	c := w.logPool.get()
	defer func() {
		if c.retainedBytes() < maxPooledBytes {
			w.logPool.put(c)
		}
	}()
	c.add(ld, &st, w.now())
	if c.rows > 0 {
		sent, err := w.insert(ctx, &w.logs, c.rows, c.columns(), &c.block)
		if err != nil {
			st.Rows = 0
			return st, err
		}
		st.Bytes += sent
	}
	if st.Rejected > 0 {
		return st, &RejectedError{Signal: "log records", Count: st.Rejected, Reason: st.RejectReason}
	}
	return st, nil
}

// insert writes one table's rows: every column appended whole, then sent as
// one Native block (see block.go for why the writer encodes it itself over
// HTTP). enc is the reusable block of the caller's buffers.
func (w *Writer) insert(ctx context.Context, t *tableInsert, rows int, cols []namedColumn, enc *blockEncoder) (sent int, err error) {
	if w.nativeProtocol {
		return 0, w.insertBatch(ctx, t, rows, cols)
	}
	types := t.types.Load()
	if types == nil {
		if types, err = w.describe(ctx, t, cols); err != nil {
			return 0, err
		}
		t.types.Store(types)
	}
	body, err := enc.encode(t.statement, types, rows, cols)
	if errors.Is(err, ErrInvalidData) {
		return 0, fmt.Errorf("%s: %w", t.table, err)
	}
	if err != nil {
		t.types.Store(nil)
		return 0, fmt.Errorf("insert into %s: %w", t.table, err)
	}
	if err := sendBlock(ctx, w.conn, body); err != nil {
		enc.forget()
		return 0, w.sendFailed(t, types, rows, err)
	}
	return len(body), nil
}

// describe asks the server for the types of the INSERT's columns, as the
// batch API does, and picks the types the writer declares for them
// (wireType).
func (w *Writer) describe(ctx context.Context, t *tableInsert, cols []namedColumn) (*insertTypes, error) {
	rows, err := w.conn.Query(ctx, "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {table:String}",
		clickhouse.Named("db", t.database), clickhouse.Named("table", t.name))
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", t.table, err)
	}
	defer rows.Close()
	have := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, fmt.Errorf("read the columns of %s: %w", t.table, err)
		}
		have[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", t.table, err)
	}
	types := &insertTypes{cols: make([]clickhouse.ColumnNameAndType, 0, len(cols))}
	for _, c := range cols {
		typ, ok := have[c.name]
		if !ok {
			return nil, fmt.Errorf("insert into %s: the table has no column %s (run the schema migrations: tracehouse migrate)", t.table, c.name)
		}
		wire := w.wireType(typ)
		types.converted = types.converted || wire != typ
		types.cols = append(types.cols, clickhouse.ColumnNameAndType{Name: c.name, Type: wire})
	}
	return types, nil
}

// insertBatch is insert through clickhouse-go's batch API, for the native
// protocol.
func (w *Writer) insertBatch(ctx context.Context, t *tableInsert, rows int, cols []namedColumn) error {
	known := t.types.Load()
	prepCtx := ctx
	if known != nil {
		prepCtx = clickhouse.Context(ctx, clickhouse.WithColumnNamesAndTypes(known.cols))
	}
	batch, err := w.conn.PrepareBatch(prepCtx, t.query)
	if err != nil {
		t.types.Store(nil)
		return fmt.Errorf("prepare insert into %s: %w", t.table, err)
	}
	defer batch.Close()
	driverCols := batch.Columns()
	if len(driverCols) != len(cols) {
		_ = batch.Abort()
		t.types.Store(nil)
		return fmt.Errorf("insert into %s: the driver has %d columns for the %d of the INSERT", t.table, len(driverCols), len(cols))
	}
	if err := appendColumns(driverCols, cols); err != nil {
		_ = batch.Abort()
		return fmt.Errorf("%w: %s: %v", ErrInvalidData, t.table, err)
	}
	if known == nil {
		types := &insertTypes{cols: make([]clickhouse.ColumnNameAndType, 0, len(cols))}
		for _, col := range driverCols {
			typ := w.wireType(string(col.Type()))
			types.converted = types.converted || typ != string(col.Type())
			types.cols = append(types.cols, clickhouse.ColumnNameAndType{Name: col.Name(), Type: typ})
		}
		t.types.Store(types)
	}
	if err := batch.Send(); err != nil {
		return w.sendFailed(t, known, rows, err)
	}
	return nil
}

// sendFailed is the error of an INSERT the server did not take. The table
// is described again next time (it may have changed).
func (w *Writer) sendFailed(t *tableInsert, declared *insertTypes, rows int, err error) error {
	t.types.Store(nil)
	var ex *clickhouse.Exception
	if declared != nil && declared.converted && errors.As(err, &ex) {
		// The server refused a block declaring converted types: it may
		// not convert (a profile can turn the setting off). Declare the
		// table's own types from now on, and do not let the error look
		// permanent: the retry sends the same rows without conversion.
		w.noConvert.Store(true)
		return fmt.Errorf("insert %d rows into %s (declaring plain String attribute values, which is now turned off): %v", rows, t.table, err)
	}
	return fmt.Errorf("insert %d rows into %s: %w", rows, t.table, err)
}

// appendColumns fills the driver's columns, in order, with the buffered ones.
func appendColumns(driverCols []column.Interface, cols []namedColumn) error {
	for i, c := range cols {
		var err error
		if a, ok := c.values.(columnAppender); ok {
			err = a.appendTo(driverCols[i])
		} else {
			_, err = driverCols[i].Append(c.values)
		}
		if err != nil {
			return fmt.Errorf("column %s: %v", c.name, err)
		}
	}
	return nil
}

// wireType is the type a column is declared with in the Native blocks of
// later batches (over HTTP; the native protocol ignores declared types and
// uses the server's). Attribute string values go as plain String into
// their Map(…, LowCardinality(String)) columns: the server converts them
// (input_format_native_allow_types_conversion, on by default), building the
// dictionary in C++, where clickhouse-go would build it in a Go map keyed
// by interface values, one entry per distinct value: for ids, nearly one per
// row, the largest allocation of a batch. Keys and the per-resource columns
// stay LowCardinality: few distinct values, a small block.
func (w *Writer) wireType(t string) string {
	if t != lcStringMap {
		return t
	}
	w.convertsOnce.Do(func() {
		v, err := w.conn.ServerVersion()
		w.converts = err == nil && v.Version.Major >= 24
	})
	if !w.converts || w.noConvert.Load() {
		return t
	}
	return plainValuesMap
}

const (
	lcStringMap    = "Map(LowCardinality(String), LowCardinality(String))"
	plainValuesMap = "Map(LowCardinality(String), String)"
)

func edgeColumns(rows []edgeRow) []namedColumn {
	ts := make([]time.Time, len(rows))
	parent := make([]string, len(rows))
	child := make([]string, len(rows))
	duration := make([]uint64, len(rows))
	isError := make([]bool, len(rows))
	for i, r := range rows {
		ts[i] = time.Unix(0, r.start)
		parent[i], child[i] = r.parent, r.child
		duration[i], isError[i] = r.duration, r.isError
	}
	return []namedColumn{
		{"Timestamp", ts}, {"ParentService", parent}, {"ChildService", child},
		{"Duration", duration}, {"IsError", isError},
	}
}
