// Package writer stores OpenTelemetry pdata in Tracehouse's ClickHouse
// tables: Writer turns ptrace.Traces and plog.Logs straight into column
// buffers (storage/nativeblock) and INSERTs them, with the service-graph
// edges the spans complete (storage/servicegraph). Over HTTP each batch is
// one Native block the writer encodes itself; over the native protocol it
// goes through clickhouse-go's batches. The table layout is storage/schema's;
// the exporter writes through this package and never sees the driver.
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
//   - a span's or record's own attributes are stored in five maps, one per
//     value type, so they read back grouped by type and sorted by key
//     within each; resource, scope, event and link attributes keep their
//     order (attributes JSON, storage/anyvalue);
//   - resource entity refs (experimental in pdata) are not stored.
package writer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/schema"
	"github.com/tracehouse/tracehouse/storage/servicegraph"
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
	// structure; 0 means anyvalue.DefaultMaxValueDepth.
	MaxValueDepth int
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// NativeProtocol says the connection speaks ClickHouse's native
	// protocol (clickhouse://): the writer then sends through clickhouse-go's
	// batch API. Over HTTP (false: the embedded engine, http:// DSNs) it
	// encodes each batch into a Native block it keeps (nativeblock.Encoder),
	// which costs less CPU.
	NativeProtocol bool
}

// Defaults of Options.
const (
	DefaultEdgeCacheSize = servicegraph.DefaultCacheSize
	DefaultEdgeCacheTTL  = servicegraph.DefaultCacheTTL
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

	edgeCache *servicegraph.Cache // nil when edges are off
	services  *servicegraph.Interner
}

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
		opts.MaxValueDepth = anyvalue.DefaultMaxValueDepth
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
		services:       servicegraph.NewInterner(10_000),
	}
	if opts.EdgeCacheSize > 0 {
		w.edgeCache = servicegraph.NewCache(opts.EdgeCacheSize, opts.EdgeCacheTTL, opts.Now)
	}
	w.spanPool.alloc = func() *spanColumns { return newSpanColumns(w.maxDepth) }
	w.logPool.alloc = func() *logColumns { return newLogColumns(w.maxDepth) }
	return w
}

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
			rows := w.edgeCache.Resolve(c.edges, nil)
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
