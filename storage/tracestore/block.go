package tracestore

import (
	"context"
	"fmt"
	"unsafe"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// Over HTTP the writer does not use clickhouse-go's batch API for its
// inserts. A batch (PrepareBatch … Send) builds a new block for every
// INSERT, so each of its columns grows from nothing: in CPU profiles of the
// collector that growth (growslice, memmove, and the GC of the garbage it
// leaves) was about 30% of all collector CPU. clickhouse-go's HTTP batch
// cannot be reused (Send marks it sent), and Flush does nothing over HTTP.
//
// So the writer keeps its block and writes it itself: a blockEncoder
// encodes each batch into a buffer it keeps. Most columns write their own
// Native encoding from the writer's flat buffers (native.go); the rest (the
// nested event and link arrays) go through clickhouse-go's own column types
// (lib/proto, lib/column: the code the batch encodes with), kept in a
// proto.Block built once for a table's column types and reset, which keeps
// every column's capacity, after each batch. The bytes go out through
// clickhouse-go's Exec as the body of an HTTP request: the INSERT
// statement, then the Native block (revision 0, as the batch encodes it),
// which ClickHouse's HTTP interface reads as the statement's data.
//
// The native protocol (clickhouse://) has no such request, so there the
// writer uses the batch API (Options.NativeProtocol).

// blockEncoder is one table's reusable Native block and its encoded bytes.
// It is not safe for concurrent use; the writer pools one per batch buffer.
type blockEncoder struct {
	types *insertTypes // what block was built for
	block *proto.Block
	buf   chproto.Buffer
	// the size of the last block, to size the buffer for a larger one
	lastBytes, lastRows int
}

// blockFor returns the block for types, empty: the one of the last batch
// when the types are the same, so its columns keep their capacity. Reset
// it once its rows are encoded.
func (e *blockEncoder) blockFor(types *insertTypes) (*proto.Block, error) {
	if e.types == types {
		return e.block, nil
	}
	block := proto.NewBlock()
	for _, c := range types.cols {
		if err := block.AddColumn(c.Name, column.Type(c.Type)); err != nil {
			return nil, fmt.Errorf("column %s of type %s: %w", c.Name, c.Type, err)
		}
	}
	e.types, e.block = types, block
	return block, nil
}

// encode writes statement ("INSERT … FORMAT Native\n") and then rows of
// cols as one Native block: the body of an INSERT over HTTP (revision 0: no
// block info). Columns that can encode themselves (nativeEncoder,
// encodePlain) do; the others are appended to the driver's column of the
// block and encoded by it. The bytes are valid until the next encode. An
// error wraps ErrInvalidData when values do not fit their column.
func (e *blockEncoder) encode(statement string, types *insertTypes, rows int, cols []namedColumn) ([]byte, error) {
	block, err := e.blockFor(types)
	if err != nil {
		return nil, err
	}
	if len(block.Columns) != len(cols) {
		return nil, fmt.Errorf("the INSERT has %d columns for %d types", len(cols), len(block.Columns))
	}
	defer block.Reset()
	e.buf.Reset()
	// A block larger than any before grows the buffer once, to about its
	// size (from the last block's bytes per row), not in append's steps.
	perRow := 512
	if e.lastRows > 0 {
		perRow = e.lastBytes/e.lastRows + 1
	}
	if want := len(statement) + rows*perRow*9/8; cap(e.buf.Buf) < want {
		e.buf.Buf = make([]byte, 0, want)
	}
	defer func() { e.lastBytes, e.lastRows = len(e.buf.Buf), rows }()
	e.buf.Buf = append(e.buf.Buf, statement...)
	e.buf.PutUVarInt(uint64(len(cols)))
	e.buf.PutUVarInt(uint64(rows))
	for i, c := range cols {
		col := block.Columns[i]
		typ := string(col.Type())
		e.buf.PutString(c.name)
		e.buf.PutString(typ)
		if n, ok := c.values.(nativeEncoder); ok && n.encodesNative(typ, rows) {
			n.encodeNative(&e.buf, typ)
			continue
		}
		if encodePlain(&e.buf, typ, rows, c.values) {
			continue
		}
		if err := appendColumns([]column.Interface{col}, cols[i:i+1]); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidData, err)
		}
		if col.Rows() != rows {
			return nil, fmt.Errorf("%w: column %s has %d rows, want %d", ErrInvalidData, c.name, col.Rows(), rows)
		}
		if prefix, ok := col.(column.CustomSerialization); ok {
			if err := prefix.WriteStatePrefix(&e.buf); err != nil {
				return nil, fmt.Errorf("%w: column %s: %v", ErrInvalidData, c.name, err)
			}
		}
		col.Encode(&e.buf)
	}
	return e.buf.Buf, nil
}

// retainedBytes is about what the encoder holds on to: the encoded bytes,
// and at most as much again in the block's driver columns.
func (e *blockEncoder) retainedBytes() int { return 2 * cap(e.buf.Buf) }

// forget drops the buffers, after a send that failed: the HTTP client may
// still be reading the body of a request it gave up on.
func (e *blockEncoder) forget() { *e = blockEncoder{} }

// sendBlock sends the body of an INSERT (its statement and a Native block)
// through clickhouse-go's Exec, which posts it as is. (The statement cannot
// go in the URL's query parameter through Exec's settings: when Exec opens a
// new connection, its hello query carries the same settings.) The body is
// handed over as a string without copying; it is not read after Exec
// returns successfully (the server answers an INSERT only after reading
// all of it), and on failure the caller forgets the buffer.
func sendBlock(ctx context.Context, conn driver.Conn, body []byte) error {
	return conn.Exec(ctx, unsafe.String(unsafe.SliceData(body), len(body)))
}

// insertStatement is what precedes the block in the body.
func insertStatement(insert string) string { return insert + " FORMAT Native\n" }
