// Package writer stores OpenTelemetry pdata in Tracehouse's ClickHouse
// tables: Writer turns ptrace.Traces and plog.Logs straight into column
// buffers (storage/nativeblock) and INSERTs them, with the service-graph
// edges the spans complete (storage/servicegraph). Over HTTP each batch is
// one Native block the writer encodes itself; over the native protocol it
// goes through clickhouse-go's batches. The table layout is storage/schema's;
// the exporter writes through this package and never sees the driver.
//
// Writes are idempotent: every INSERT carries a deduplication token, the
// hash of its block, so writing the same batch again stores nothing twice,
// in the tables or their materialized views (token.go). A batch ClickHouse
// refuses because of some of its items is split until they are found;
// the rest is stored (bisect.go). Service-graph edges whose INSERT failed
// are kept and sent when the batch is written again (pendingEdges).
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
//   - a log record without Timestamp gets its ObservedTimestamp as
//     Timestamp;
//   - spans or records with a time after 2262-04-11 cannot be stored
//     (DateTime64(9)) and are rejected (StorableTraces, RejectedError);
//   - a log record with neither time gets its ObservedTimestamp at the
//     write (StorableLogs);
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

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/nativeblock"
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
	// which costs less CPU, and sends it compressed when the connection's
	// DSN asks for compress=lz4, lz4hc or zstd (storage.BodyCompression;
	// figures in README.md).
	NativeProtocol bool
}

// Defaults of Options.
const (
	DefaultEdgeCacheSize = servicegraph.DefaultCacheSize
	DefaultEdgeCacheTTL  = servicegraph.DefaultCacheTTL
)

// WriteStats says what one write stored and what it had to change.
type WriteStats struct {
	// Rows is the number of spans or log records this write stored.
	Rows int
	// Bytes is the size of the INSERT bodies sent over HTTP (statements and
	// Native blocks, edges included), compressed when they are sent
	// compressed. Over the native protocol it is 0: clickhouse-go's batches
	// do not say.
	Bytes int
	// Edges is the number of service_edge_events and broker_edge_events
	// rows written.
	Edges int
	// Rejected items can never be stored and were left out: their time
	// is out of range (StorableTraces), or ClickHouse refused each of them
	// on its own (bisect.go). RejectReason is the first reason.
	Rejected     int
	RejectReason string
	// Dropped items were left out without being proven bad: the batch kept
	// failing permanently after maxFailedSplits parts. DropReason says why.
	Dropped    int
	DropReason string
	// Sanitized counts strings stored with U+FFFD for invalid UTF-8.
	Sanitized int
	// Truncated counts values nested deeper than MaxValueDepth (the deep
	// part is kept as text).
	Truncated int
	// Clamped counts fields outside their range stored as the nearest
	// storable value (negative durations, unknown enum values).
	Clamped int
}

func (s *WriteStats) reject(n int, reason string) {
	if s.Rejected == 0 {
		s.RejectReason = reason
	}
	s.Rejected += n
}

func (s *WriteStats) drop(n int, reason string) {
	if s.Dropped == 0 {
		s.DropReason = reason
	}
	s.Dropped += n
}

// addStored adds the stats of a block that was stored.
func (s *WriteStats) addStored(b WriteStats) {
	s.Rows += b.Rows
	s.Sanitized += b.Sanitized
	s.Truncated += b.Truncated
	s.Clamped += b.Clamped
}

// outcome is the error of a write that stored what it could: a
// *RejectedError when items were rejected or dropped, else nil.
func (s *WriteStats) outcome(signal string) error {
	if s.Rejected == 0 && s.Dropped == 0 {
		return nil
	}
	return &RejectedError{Signal: signal, Count: s.Rejected, Reason: s.RejectReason, Dropped: s.Dropped, DropReason: s.DropReason}
}

// Writer writes pdata to ClickHouse. It is safe for concurrent use; each
// write is one INSERT of Native columns (and one more for the edges it
// completes), built in buffers reused across writes.
type Writer struct {
	conn           driver.Conn
	nativeProtocol bool
	// frames compress the INSERT bodies over HTTP; nil: they go plain.
	frames   *nativeblock.Frames
	now      func() time.Time
	maxDepth int

	spans, logs, edges, brokerEdges tableInsert

	spanPool freeList[*spanColumns]
	logPool  freeList[*logColumns]
	edgePool freeList[*edgeEncoders] // for batches from a queue

	// converts: the server converts column types on Native input (see
	// wireType); asked once. noConvert: it refused to.
	converts     bool
	convertsOnce sync.Once
	noConvert    atomic.Bool

	edgeCache *servicegraph.Cache // nil when edges are off
	services  *servicegraph.Interner
	pending   pendingEdges
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
		brokerEdges:    newTableInsert(opts.Database, schema.BrokerEdgeEventsTable, schema.BrokerEdgeEventsColumns()),
		services:       servicegraph.NewInterner(10_000),
	}
	if !opts.NativeProtocol {
		// Over the native protocol clickhouse-go compresses the blocks
		// it sends itself.
		w.frames = nativeblock.NewFrames(storage.BodyCompression(conn))
	}
	if opts.EdgeCacheSize > 0 {
		w.edgeCache = servicegraph.NewCache(opts.EdgeCacheSize, opts.EdgeCacheTTL, opts.Now)
	}
	w.spanPool.alloc = func() *spanColumns { return newSpanColumns(w.maxDepth) }
	w.logPool.alloc = func() *logColumns { return newLogColumns(w.maxDepth) }
	w.edgePool.alloc = func() *edgeEncoders { return &edgeEncoders{} }
	return w
}

// WriteTraces stores every span of td. See WriteTracesStats.
func (w *Writer) WriteTraces(ctx context.Context, td ptrace.Traces) error {
	_, err := w.WriteTracesStats(ctx, td)
	return err
}

// WriteTracesStats stores the spans of td in one INSERT, then the
// service-graph edges they complete in a second one. Both carry a
// deduplication token (token.go): writing the same td again, after an
// error or not, stores nothing twice.
//
// Errors:
//   - a *RejectedError: the spans that could be stored were stored, the
//     others were rejected or dropped (counted in the stats; bisect.go);
//     errors.Is(err, ErrInvalidData) holds;
//   - an *EdgesError: the spans were stored but their edges were not; when
//     it says Kept, writing the same td again sends only the edges;
//   - any other error: nothing new is known to be stored; write the same td
//     again (what was stored is not stored twice). Errors wrapping
//     ErrInvalidData cannot succeed on retry.
func (w *Writer) WriteTracesStats(ctx context.Context, td ptrace.Traces) (WriteStats, error) {
	var st WriteStats
	td, rej := StorableTraces(td)
	st.reject(rej.Count, rej.Reason)
	if td.SpanCount() > 0 {
		if err := w.writeSpans(ctx, td, &st); err != nil {
			return st, err
		}
	}
	return st, st.outcome("spans")
}

func (w *Writer) writeSpans(ctx context.Context, td ptrace.Traces, st *WriteStats) error {
	c := w.spanPool.get()
	defer w.releaseSpans(c)
	var block WriteStats
	c.add(td, &block, w.services)
	p, err := w.prepare(ctx, &w.spans, c.rows, c.columns(), &c.block, "")
	key := p.token // the batch's identity, for its edges
	if err == nil {
		if edges, ok := w.pending.take(key); ok {
			// An earlier attempt of this batch stored its spans: only its
			// edges are missing.
			return w.writeEdges(ctx, &c.edgeEncoders, key, edges, st)
		}
		var sent int
		sent, err = w.send(ctx, p, &c.block)
		st.Bytes += sent
	}
	stored := c.edges // what the edge cache learns from: the spans stored
	switch {
	case err == nil:
		st.addStored(block)
	case storage.IsPermanent(err):
		stored = nil
		var parts []byte // the tokens of the parts stored, when the batch has none
		err = bisect(td.SpanCount(), err, st, func(lo, hi int) error {
			part := w.spanPool.get()
			defer w.releaseSpans(part)
			var b WriteStats
			part.add(tracesRange(td, lo, hi), &b, w.services)
			sent, token, err := w.insert(ctx, &w.spans, part.rows, part.columns(), &part.block, "")
			if err == nil {
				st.addStored(b)
				st.Bytes += sent
				stored = append(stored, part.edges...)
				parts = append(parts, token...)
			}
			return err
		})
		if err != nil {
			return err
		}
		if key == "" && len(parts) > 0 {
			// The batch did not encode whole; the same batch splits the
			// same way, so its parts name it.
			key = blockToken(parts)
			if edges, ok := w.pending.take(key); ok {
				return w.writeEdges(ctx, &c.edgeEncoders, key, edges, st)
			}
		}
	default:
		return err
	}
	if w.edgeCache == nil || len(stored) == 0 {
		return nil
	}
	edges := w.edgeCache.Resolve(stored, nil)
	if len(edges) == 0 {
		return nil
	}
	return w.writeEdges(ctx, &c.edgeEncoders, key, edges, st)
}

// writeEdges inserts the edges of the batch whose spans are named by key
// (their token), which salts the edges' tokens: the calls into
// service_edge_events, the broker hops into broker_edge_events. When an
// INSERT fails for a reason worth retrying, all the edges are kept for the
// batch's retry (pendingEdges); a table that had stored its part skips it
// then by its token.
func (w *Writer) writeEdges(ctx context.Context, c *edgeEncoders, key string, edges []servicegraph.Edge, st *WriteStats) error {
	calls, broker := splitEdges(edges)
	var sent int
	var err error
	if len(calls) > 0 {
		sent, _, err = w.insert(ctx, &w.edges, len(calls), edgeColumns(calls), &c.edgeBlock, key)
	}
	if err == nil && len(broker) > 0 {
		var n int
		n, _, err = w.insert(ctx, &w.brokerEdges, len(broker), brokerEdgeColumns(broker), &c.brokerBlock, key)
		sent += n
	}
	if err != nil {
		kept := !storage.IsPermanent(err)
		if kept {
			w.pending.put(key, edges)
		}
		return &EdgesError{Edges: len(edges), Kept: kept, Err: err}
	}
	st.Bytes += sent
	st.Edges += len(edges)
	return nil
}

func (w *Writer) releaseSpans(c *spanColumns) {
	if c.retainedBytes() < maxPooledBytes {
		w.spanPool.put(c)
	}
}

// WriteLogs stores every log record of ld. See WriteLogsStats.
func (w *Writer) WriteLogs(ctx context.Context, ld plog.Logs) error {
	_, err := w.WriteLogsStats(ctx, ld)
	return err
}

// WriteLogsStats stores the log records of ld in one INSERT, with a
// deduplication token. Errors are as for WriteTracesStats (without edges).
func (w *Writer) WriteLogsStats(ctx context.Context, ld plog.Logs) (WriteStats, error) {
	var st WriteStats
	ld, rej := StorableLogs(ld, w.now())
	st.reject(rej.Count, rej.Reason)
	if ld.LogRecordCount() > 0 {
		if err := w.writeLogs(ctx, ld, &st); err != nil {
			return st, err
		}
	}
	return st, st.outcome("log records")
}

func (w *Writer) writeLogs(ctx context.Context, ld plog.Logs, st *WriteStats) error {
	store := func(ld plog.Logs) error {
		c := w.logPool.get()
		defer w.releaseLogs(c)
		var b WriteStats
		c.add(ld, &b)
		sent, _, err := w.insert(ctx, &w.logs, c.rows, c.columns(), &c.block, "")
		if err == nil {
			st.addStored(b)
			st.Bytes += sent
		}
		return err
	}
	err := store(ld)
	if err != nil && storage.IsPermanent(err) {
		return bisect(ld.LogRecordCount(), err, st, func(lo, hi int) error {
			return store(logsRange(ld, lo, hi))
		})
	}
	return err
}

func (w *Writer) releaseLogs(c *logColumns) {
	if c.retainedBytes() < maxPooledBytes {
		w.logPool.put(c)
	}
}
