package writer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/nativeblock"
	"github.com/tracehouse/tracehouse/storage/servicegraph"
)

// A batch can be converted long before it is written: Encode turns it into
// an Encoded, the Native block of its rows (what an INSERT over HTTP sends)
// in compression frames, with its deduplication token and the facts its
// service-graph edges are found from; WriteEncoded INSERTs it later, as
// often as it has to. The exporter encodes a batch when it enters its
// sending queue: a persistent queue holds (and its file stores) the
// compressed block, about a sixth of the batch as OTLP, and the batch is
// never decoded from OTLP again; a queue in memory holds the block plain
// (EncodeOptions) instead of pdata (ingest/tracehouseexporter/request.go).
//
// The bytes an Encoded holds were encoded for the column types the server
// had when it was made. Two cases need the rows themselves again, and get
// them by decoding the block with clickhouse-go's own column types
// (recode): a batch ClickHouse refuses because of some of its rows is split
// around them (bisect.go), and a batch that declared converted types to a
// server that turned out not to convert them (wireType) is re-declared
// with the table's own types.
//
// Over the native protocol there is no block to keep (clickhouse-go's
// batches send the rows): Encode says ErrNativeProtocol.

// Encoded is one batch of spans or log records encoded for its INSERT.
type Encoded struct {
	spans     bool // spans (with edge facts), else log records
	rows      int
	token     string
	converted bool // the block declares converted types (wireType)
	// stored is what the batch adds to WriteStats when it is stored
	// whole; rejected, what conversion left out.
	stored       WriteStats
	rejected     int
	rejectReason string
	facts        []servicegraph.Span // one per row, spans only
	plainLen     int                 // the block's size uncompressed
	// held is the Native block as the Encoded holds it: in LZ4
	// compression frames, or, when plain, inside the whole body its
	// INSERT sends: the statement, then the block.
	held      []byte
	plain     bool
	statement string // plain: the statement in front of the block in held
}

// EncodeOptions say how an Encoded holds its block.
type EncodeOptions struct {
	// Plain holds the block as the INSERT sends it, not in LZ4 frames:
	// for a queue in memory, which never stores it. Compressing a block
	// only to decompress it before its INSERT was about 7% of a
	// collector's CPU with the memory queue (bench/ingest, -cpuprofile).
	// Held plain, a batch takes about seven times the bytes of its LZ4
	// frames, about its size as OTLP on the wire and a fraction of its
	// pdata; the collector's peak RSS did not grow. AppendBinary
	// compresses a plain block, so what a queue stores is the same either
	// way.
	Plain bool
}

// Rows is the number of spans or log records the batch stores.
func (e *Encoded) Rows() int { return e.rows }

// Items is Rows and the items conversion rejected.
func (e *Encoded) Items() int { return e.rows + e.rejected }

// Size is the batch's size as held: the block (compressed unless plain)
// and the facts.
func (e *Encoded) Size() int { return len(e.held) + len(e.facts)*factSize }

// factSize is about what one edge fact takes, held or stored.
const factSize = 40

// ErrNativeProtocol is Encode's answer over the native protocol.
var ErrNativeProtocol = errors.New("batches are encoded ahead only over HTTP")

// storedFrames compress what an Encoded keeps: LZ4, the cheapest of
// ClickHouse's codecs, and the one a DSN with compress=lz4 sends.
var storedFrames = nativeblock.NewFrames(compress.LZ4)

// EncodeTraces converts td into an Encoded. It needs the spans table's
// column types, which it asks the server for once (it fails, with nothing
// lost, while ClickHouse cannot answer). Spans that can never be stored are
// left out and counted (StorableTraces).
func (w *Writer) EncodeTraces(ctx context.Context, td ptrace.Traces, opts EncodeOptions) (*Encoded, error) {
	if w.nativeProtocol {
		return nil, ErrNativeProtocol
	}
	td, rej := StorableTraces(td)
	e := &Encoded{spans: true, rejected: rej.Count, rejectReason: rej.Reason, plain: opts.Plain}
	if td.SpanCount() == 0 {
		return e, nil
	}
	c := w.spanPool.get()
	defer w.releaseSpans(c)
	c.add(td, &e.stored, w.services)
	p, err := w.prepare(ctx, &w.spans, c.rows, c.columns(), &c.block, "")
	if err != nil {
		return nil, err
	}
	if err := e.keep(p); err != nil {
		return nil, err
	}
	e.facts = slices.Clone(c.edges)
	return e, nil
}

// EncodeLogs is EncodeTraces for log records (StorableLogs).
func (w *Writer) EncodeLogs(ctx context.Context, ld plog.Logs, opts EncodeOptions) (*Encoded, error) {
	if w.nativeProtocol {
		return nil, ErrNativeProtocol
	}
	ld, rej := StorableLogs(ld, w.now())
	e := &Encoded{rejected: rej.Count, rejectReason: rej.Reason, plain: opts.Plain}
	if ld.LogRecordCount() == 0 {
		return e, nil
	}
	c := w.logPool.get()
	defer w.releaseLogs(c)
	c.add(ld, &e.stored)
	p, err := w.prepare(ctx, &w.logs, c.rows, c.columns(), &c.block, "")
	if err != nil {
		return nil, err
	}
	return e, e.keep(p)
}

// keep takes the prepared block (not its statement) into LZ4 frames, or,
// when plain, a copy of the whole body, statement included (the encoder
// reuses its buffer): the INSERT then sends that copy as it is, instead of
// copying the block once more behind the statement.
func (e *Encoded) keep(p preparedInsert) error {
	block := p.body[len(p.t.statement):]
	var held []byte
	var err error
	if e.plain {
		held = slices.Clone(p.body)
		e.statement = p.t.statement
	} else if held, err = storedFrames.Append(nil, block); err != nil {
		return err
	}
	e.rows, e.token, e.converted = p.rows, p.token, p.types.converted
	e.plainLen, e.held = len(block), held
	return nil
}

// plainBlock is the block of a plain Encoded, behind its statement.
func (e *Encoded) plainBlock() []byte { return e.held[len(e.statement):] }

// WriteEncoded stores the rows of e, with the service-graph edges they
// complete, as WriteTracesStats or WriteLogsStats would have stored the
// batch e was encoded from, with the same errors. Writing the same e
// again stores nothing twice (its token). Rows stored after a split
// around refused rows count in Rows, not in Sanitized, Truncated or
// Clamped (the batch's changes are known only as a whole).
func (w *Writer) WriteEncoded(ctx context.Context, e *Encoded) (WriteStats, error) {
	var st WriteStats
	st.reject(e.rejected, e.rejectReason)
	signal := "log records"
	if e.spans {
		signal = "spans"
	}
	if e.rows > 0 {
		if err := w.writeEncoded(ctx, e, &st); err != nil {
			return st, err
		}
	}
	return st, st.outcome(signal)
}

func (w *Writer) writeEncoded(ctx context.Context, e *Encoded, st *WriteStats) error {
	t := &w.logs
	if e.spans {
		t = &w.spans
		if edges, ok := w.pending.take(e.token); ok {
			// An earlier attempt stored the spans: only their edges are
			// missing.
			return w.writeEncodedEdges(ctx, e.token, edges, st)
		}
	}
	body, err := e.body(t)
	if err != nil {
		return err
	}
	block := body[len(t.statement):]
	// The block's rows, decoded at most once however often they are
	// encoded again.
	var decoded *proto.Block
	recode := func(lo, hi int) ([]byte, error) {
		if decoded == nil {
			d, err := decodeBlock(block)
			if err != nil {
				return nil, err
			}
			decoded = d
		}
		return w.recode(ctx, t, decoded, lo, hi)
	}
	token, converted := e.token, e.converted
	if converted && w.noConvert.Load() {
		// The server refused the types this block declares (an earlier
		// attempt, or another batch): declare the table's own.
		if block, err = recode(0, e.rows); err != nil {
			return err
		}
		token, converted = blockTokenOf(block), false
		body = t.bodyOf(block)
	}
	sent, err := w.sendBody(ctx, t, token, body, e.rows, converted)
	stored := e.facts
	switch {
	case err == nil:
		st.addStored(e.stored)
		st.Bytes += sent
	case storage.IsPermanent(err):
		stored = nil
		err = bisect(e.rows, err, st, func(lo, hi int) error {
			part, err := recode(lo, hi)
			if err != nil {
				return err
			}
			sent, err := w.sendPlain(ctx, t, blockTokenOf(part), part, hi-lo, false)
			if err == nil {
				st.Rows += hi - lo
				st.Bytes += sent
				if e.spans {
					stored = append(stored, e.facts[lo:hi]...)
				}
			}
			return err
		})
		if err != nil {
			return err
		}
	default:
		return err
	}
	if !e.spans || w.edgeCache == nil || len(stored) == 0 {
		return nil
	}
	// The facts come from a queue, not from this writer's conversion:
	// intern their names, which the edge cache keeps.
	facts := make([]servicegraph.Span, len(stored))
	for i, f := range stored {
		f.Service = w.services.Intern(f.Service)
		f.Messaging.System = w.services.Intern(f.Messaging.System)
		f.Messaging.Destination = w.services.Intern(f.Messaging.Destination)
		facts[i] = f
	}
	edges := w.edgeCache.Resolve(facts, nil)
	if len(edges) == 0 {
		return nil
	}
	return w.writeEncodedEdges(ctx, e.token, edges, st)
}

func (w *Writer) writeEncodedEdges(ctx context.Context, key string, edges []servicegraph.Edge, st *WriteStats) error {
	c := w.edgePool.get()
	defer w.edgePool.put(c)
	return w.writeEdges(ctx, c, key, edges, st)
}

// body is the body of e's INSERT into t: t's statement, then e's Native
// block, decompressed. A plain Encoded holds it (keep); a compressed one is
// decompressed straight behind the statement, so that a send from a
// persistent queue holds one copy of its block, not two. The caller may
// change only the statement's token (sendBody).
func (e *Encoded) body(t *tableInsert) ([]byte, error) {
	if e.plain {
		if e.statement == t.statement {
			return e.held, nil
		}
		// Another table's statement (not done by the writer, which sends
		// an Encoded to the table it was encoded for).
		return t.bodyOf(e.plainBlock()), nil
	}
	body := make([]byte, len(t.statement)+e.plainLen)
	copy(body, t.statement)
	if _, err := io.ReadFull(compress.NewReader(bytes.NewReader(e.held)), body[len(t.statement):]); err != nil {
		return nil, fmt.Errorf("%w: a queued batch does not decompress: %v", ErrInvalidData, err)
	}
	return body, nil
}

// blockTokenOf is the deduplication token of a block sent on its own.
func blockTokenOf(block []byte) string {
	var tok [tokenHexLen]byte
	putBlockToken(tok[:], block, "")
	return string(tok[:])
}

// sendPlain INSERTs block (rows rows, declaring converted types or not)
// with token, compressed when the DSN asks for it.
func (w *Writer) sendPlain(ctx context.Context, t *tableInsert, token string, block []byte, rows int, converted bool) (int, error) {
	return w.sendBody(ctx, t, token, t.bodyOf(block), rows, converted)
}

// bodyOf is an INSERT's body for block: t's statement, then the block.
func (t *tableInsert) bodyOf(block []byte) []byte {
	body := make([]byte, 0, len(t.statement)+len(block))
	return append(append(body, t.statement...), block...)
}

// sendBody is sendPlain for a body that holds t's statement and a block:
// it writes token into the statement and sends the body.
func (w *Writer) sendBody(ctx context.Context, t *tableInsert, token string, body []byte, rows int, converted bool) (int, error) {
	copy(body[t.tokenAt:], token)
	if w.frames != nil {
		framed, err := w.frames.Append(nil, body)
		if err != nil {
			return 0, fmt.Errorf("insert into %s: %w", t.table, err)
		}
		body, ctx = framed, storage.CompressedExec(ctx)
	}
	if err := sendBlock(ctx, w.conn, body); err != nil {
		return 0, w.sendFailed(t, &insertTypes{converted: converted}, rows, err)
	}
	return len(body), nil
}

// recode encodes rows [lo, hi) of a decoded block (decodeBlock) again,
// declaring the table's current types: the rows as the writer would
// encode them now.
func (w *Writer) recode(ctx context.Context, t *tableInsert, src *proto.Block, lo, hi int) ([]byte, error) {
	types := t.types.Load()
	if types == nil {
		var err error
		if types, err = w.describe(ctx, t, namesOf(src.ColumnsNames())); err != nil {
			return nil, err
		}
		t.types.Store(types)
	}
	return recodeRows(src, types.cols, lo, hi)
}

// recodeRows is rows [lo, hi) of a decoded block, declared as types.
func recodeRows(src *proto.Block, types []clickhouse.ColumnNameAndType, lo, hi int) ([]byte, error) {
	if len(src.Columns) != len(types) || hi > src.Rows() || lo < 0 || lo > hi {
		return nil, fmt.Errorf("%w: a queued block has %d columns and %d rows; want %d columns and rows %d..%d", ErrInvalidData, len(src.Columns), src.Rows(), len(types), lo, hi)
	}
	dst := proto.NewBlock()
	for i, c := range types {
		if src.Columns[i].Name() != c.Name {
			return nil, fmt.Errorf("%w: a queued block has column %s where the table has %s", ErrInvalidData, src.Columns[i].Name(), c.Name)
		}
		if err := dst.AddColumn(c.Name, column.Type(c.Type)); err != nil {
			return nil, err
		}
	}
	for i, from := range src.Columns {
		to := dst.Columns[i]
		m, isMap := from.(*column.Map)
		for r := lo; r < hi; r++ {
			v := from.Row(r, false)
			if isMap {
				// A Go map would lose the keys' order.
				om := &orderedMap{}
				if err := m.ScanRow(om, r); err != nil {
					return nil, fmt.Errorf("%w: column %s: %v", ErrInvalidData, from.Name(), err)
				}
				v = om
			}
			if err := to.AppendRow(v); err != nil {
				return nil, fmt.Errorf("%w: column %s: %v", ErrInvalidData, from.Name(), err)
			}
		}
	}
	var buf chproto.Buffer
	if err := dst.Encode(&buf, 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidData, err)
	}
	return buf.Buf, nil
}

// decodeBlock reads a Native block (revision 0, as HTTP sends it) into
// clickhouse-go's columns.
func decodeBlock(block []byte) (*proto.Block, error) {
	src := proto.NewBlock()
	src.ServerContext.Timezone = time.UTC
	if err := src.Decode(chproto.NewReader(bytes.NewReader(block)), 0); err != nil {
		return nil, fmt.Errorf("%w: a queued block does not decode: %v", ErrInvalidData, err)
	}
	return src, nil
}

// orderedMap is a map row in its order (clickhouse-go's
// IterableOrderedMap).
type orderedMap struct {
	keys, values []any
	at           int
}

func (m *orderedMap) Put(k, v any) { m.keys, m.values = append(m.keys, k), append(m.values, v) }

func (m *orderedMap) Iterator() column.MapIterator { m.at = -1; return m }
func (m *orderedMap) Next() bool                   { m.at++; return m.at < len(m.keys) }
func (m *orderedMap) Key() any                     { return m.keys[m.at] }
func (m *orderedMap) Value() any                   { return m.values[m.at] }

// The binary form of an Encoded (AppendBinary, UnmarshalEncoded).
const encodedFormat = 1

// AppendBinary appends e's binary form to dst: what a persistent queue
// stores. A plain block is stored compressed.
func (e *Encoded) AppendBinary(dst []byte) ([]byte, error) {
	frames := e.held
	if e.plain {
		var err error
		if frames, err = storedFrames.Append(nil, e.plainBlock()); err != nil {
			return nil, err
		}
	}
	var flags byte
	if e.spans {
		flags |= 1
	}
	if e.converted {
		flags |= 2
	}
	dst = append(dst, encodedFormat, flags)
	for _, n := range []int{e.rows, e.rejected, e.stored.Rows, e.stored.Sanitized, e.stored.Truncated, e.stored.Clamped, e.plainLen, len(frames)} {
		dst = binary.AppendUvarint(dst, uint64(n))
	}
	dst = appendString(dst, e.token)
	dst = appendString(dst, e.rejectReason)
	dst = appendFacts(dst, e.facts)
	return append(dst, frames...), nil
}

// UnmarshalEncoded reads an Encoded back from its binary form. It keeps
// pointers into data.
func UnmarshalEncoded(data []byte) (*Encoded, error) {
	r := byteReader{b: data}
	if r.byte() != encodedFormat {
		return nil, errNotEncoded
	}
	flags := r.byte()
	e := &Encoded{spans: flags&1 != 0, converted: flags&2 != 0}
	var n [8]int
	for i := range n {
		n[i] = r.int()
	}
	e.rows, e.rejected, e.stored.Rows, e.stored.Sanitized, e.stored.Truncated, e.stored.Clamped, e.plainLen = n[0], n[1], n[2], n[3], n[4], n[5], n[6]
	e.token = r.string()
	e.rejectReason = r.string()
	e.facts = r.facts()
	e.held = r.bytes(n[7])
	if r.err != nil || len(r.b) != 0 || (e.rows > 0 && len(e.token) != tokenHexLen) || (e.spans && len(e.facts) != e.rows) {
		return nil, errNotEncoded
	}
	return e, nil
}

var errNotEncoded = errors.New("not an encoded Tracehouse batch")

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// appendFacts writes the edge facts, their names once each.
func appendFacts(dst []byte, facts []servicegraph.Span) []byte {
	index := map[string]int{}
	var names []string
	name := func(s string) int {
		i, ok := index[s]
		if !ok {
			i = len(names)
			index[s] = i
			names = append(names, s)
		}
		return i
	}
	type ref struct{ service, system, dest int }
	refs := make([]ref, len(facts))
	for i, f := range facts {
		refs[i] = ref{name(f.Service), name(f.Messaging.System), name(f.Messaging.Destination)}
	}
	dst = binary.AppendUvarint(dst, uint64(len(names)))
	for _, s := range names {
		dst = appendString(dst, s)
	}
	// Starts go as the difference from the previous one: a batch's spans
	// are grouped by trace, so that is a few bytes, where the time is 8.
	dst = binary.AppendUvarint(dst, uint64(len(facts)))
	var prevStart int64
	for i, f := range facts {
		flags := byte(f.Kind) << 3
		if f.HasParent {
			flags |= 1
		}
		if f.IsError {
			flags |= 2
		}
		if f.Redelivery {
			flags |= 4
		}
		dst = binary.LittleEndian.AppendUint64(dst, uint64(f.Key))
		dst = append(dst, flags)
		if f.HasParent {
			dst = binary.LittleEndian.AppendUint64(dst, uint64(f.Parent))
		}
		dst = binary.AppendVarint(dst, f.Start-prevStart)
		prevStart = f.Start
		dst = binary.AppendUvarint(dst, f.Duration)
		dst = binary.AppendUvarint(dst, uint64(refs[i].service))
		if f.Kind != servicegraph.KindOther {
			dst = binary.AppendUvarint(dst, uint64(refs[i].system))
			dst = binary.AppendUvarint(dst, uint64(refs[i].dest))
		}
	}
	return dst
}

// byteReader reads the binary form; the first error sticks.
type byteReader struct {
	b   []byte
	err error
}

func (r *byteReader) fail() { r.err, r.b = errNotEncoded, nil }

func (r *byteReader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *byteReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *byteReader) int() int {
	v := r.uvarint()
	if v > math.MaxInt32 {
		r.fail()
		return 0
	}
	return int(v)
}

func (r *byteReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *byteReader) u64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *byteReader) bytes(n int) []byte {
	if n > len(r.b) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *byteReader) string() string { return string(r.bytes(r.int())) }

func (r *byteReader) facts() []servicegraph.Span {
	names := make([]string, min(r.int(), len(r.b)))
	for i := range names {
		names[i] = r.string()
	}
	name := func() string {
		i := r.int()
		if i >= len(names) {
			r.fail()
			return ""
		}
		return names[i]
	}
	n := r.int()
	if n > len(r.b)/12 { // a fact takes at least 12 bytes
		r.fail()
		return nil
	}
	facts := make([]servicegraph.Span, n)
	var prevStart int64
	for i := range facts {
		f := &facts[i]
		f.Key = servicegraph.SpanKey(r.u64())
		flags := r.byte()
		f.HasParent, f.IsError, f.Redelivery, f.Kind = flags&1 != 0, flags&2 != 0, flags&4 != 0, servicegraph.Kind(flags>>3)
		if f.HasParent {
			f.Parent = servicegraph.SpanKey(r.u64())
		}
		f.Start = prevStart + r.varint()
		prevStart = f.Start
		f.Duration = r.uvarint()
		f.Service = name()
		if f.Kind != servicegraph.KindOther {
			f.Messaging.System, f.Messaging.Destination = name(), name()
		}
		if r.err != nil {
			return nil
		}
	}
	return facts
}

// namesOf are columns with names only, for describe.
func namesOf(names []string) []nativeblock.Column {
	cols := make([]nativeblock.Column, len(names))
	for i, n := range names {
		cols[i].Name = n
	}
	return cols
}
