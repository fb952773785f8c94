// Package nativeblock encodes INSERT data in ClickHouse's Native format:
// column buffers that a writer fills row by row without allocating per row
// (StrDict, LowCardStrings, MapColumn, Nested, FixedColumn, NestedFixed),
// and an Encoder that turns them into one Native block, reusing its memory
// from batch to batch.
//
// The same buffers also feed clickhouse-go's own columns (AppendColumns),
// for the native protocol, where inserts go through the driver's batches.
package nativeblock

import (
	"fmt"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/tracehouse/tracehouse/storage"
)

// Encoder is one table's reusable Native block and its encoded bytes: the
// body of an INSERT over ClickHouse's HTTP interface.
//
// clickhouse-go's batch API builds a new block for every INSERT, so each of
// its columns grows from nothing, and its HTTP batch cannot be reused (Send
// marks it sent; Flush does nothing over HTTP); that growth and its garbage
// cost more CPU than building the rows (figures in bench/ingest/README.md).
// So the Encoder keeps its block and writes it itself. Most columns write
// their own Native encoding from their flat buffers (native.go); the rest
// (the nested event and link arrays) go through clickhouse-go's own column
// types (lib/proto, lib/column: the code the batch encodes with), kept in a
// proto.Block built once for a table's column types and reset, which keeps
// every column's capacity, after each batch.
//
// An Encoder is not safe for concurrent use.
type Encoder struct {
	types []clickhouse.ColumnNameAndType // what block was built for
	block *proto.Block
	buf   chproto.Buffer
	// framed is the last body Compress put into compression frames.
	framed []byte
	// the size of the last block, to size the buffer for a larger one
	lastBytes, lastRows int
}

// sameTypes says whether a and b are the same slice (not equal contents):
// the caller hands the encoder the same slice for as long as the table's
// types do not change.
func sameTypes(a, b []clickhouse.ColumnNameAndType) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// Holds reports whether the encoder keeps a block built for types, as it
// does after encoding a batch declared with them.
func (e *Encoder) Holds(types []clickhouse.ColumnNameAndType) bool {
	return e.block != nil && sameTypes(e.types, types)
}

// blockFor returns the block for types, empty: the one of the last batch
// when the types are the same slice, so its columns keep their capacity.
// Reset it once its rows are encoded.
func (e *Encoder) blockFor(types []clickhouse.ColumnNameAndType) (*proto.Block, error) {
	if e.Holds(types) {
		return e.block, nil
	}
	block := proto.NewBlock()
	for _, c := range types {
		if err := block.AddColumn(c.Name, column.Type(c.Type)); err != nil {
			return nil, fmt.Errorf("column %s of type %s: %w", c.Name, c.Type, err)
		}
	}
	e.types, e.block = types, block
	return block, nil
}

// Encode writes statement (e.g. "INSERT … FORMAT Native\n") and then rows
// of cols, declared as types (one per column, in order), as one Native
// block: the body of an INSERT over HTTP (revision 0: no block info).
// Columns that can encode themselves do (EncodesNative); the others are
// appended to the driver's column of the block and encoded by it. Hand the
// same types slice for every batch of a table: the block built for it is
// kept. The bytes are valid until the next Encode. An error wraps
// storage.ErrInvalidData when values do not fit their column.
func (e *Encoder) Encode(statement string, types []clickhouse.ColumnNameAndType, rows int, cols []Column) ([]byte, error) {
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
		e.buf.PutString(c.Name)
		e.buf.PutString(typ)
		if n, ok := c.Values.(nativeEncoder); ok && n.encodesNative(typ, rows) {
			n.encodeNative(&e.buf, typ)
			continue
		}
		if encodePlain(&e.buf, typ, rows, c.Values) {
			continue
		}
		if err := AppendColumns([]column.Interface{col}, cols[i:i+1]); err != nil {
			return nil, fmt.Errorf("%w: %v", storage.ErrInvalidData, err)
		}
		if col.Rows() != rows {
			return nil, fmt.Errorf("%w: column %s has %d rows, want %d", storage.ErrInvalidData, c.Name, col.Rows(), rows)
		}
		if prefix, ok := col.(column.CustomSerialization); ok {
			if err := prefix.WriteStatePrefix(&e.buf); err != nil {
				return nil, fmt.Errorf("%w: column %s: %v", storage.ErrInvalidData, c.Name, err)
			}
		}
		col.Encode(&e.buf)
	}
	return e.buf.Buf, nil
}

// EncodesNative reports whether Encode writes a column of type typ with
// rows rows holding values itself, rather than through the driver's column.
func EncodesNative(typ string, rows int, values any) bool {
	if n, ok := values.(nativeEncoder); ok && n.encodesNative(typ, rows) {
		return true
	}
	var scratch chproto.Buffer
	return encodePlain(&scratch, typ, rows, values)
}

// RetainedBytes is about what the encoder holds on to: the encoded bytes,
// at most as much again in the block's driver columns, and the compressed
// body.
func (e *Encoder) RetainedBytes() int { return 2*cap(e.buf.Buf) + cap(e.framed) }

// Forget drops the buffers, after a send that failed: the HTTP client may
// still be reading the body of a request it gave up on (the encoded or the
// compressed one).
func (e *Encoder) Forget() { *e = Encoder{} }

// AppendColumns fills the driver's columns, in order, with cols: what
// clickhouse-go's batch API sends (the native protocol), and what Encode
// does for the columns that do not encode themselves.
func AppendColumns(driverCols []column.Interface, cols []Column) error {
	for i, c := range cols {
		var err error
		if a, ok := c.Values.(columnAppender); ok {
			err = a.appendTo(driverCols[i])
		} else {
			_, err = driverCols[i].Append(c.Values)
		}
		if err != nil {
			return fmt.Errorf("column %s: %v", c.Name, err)
		}
	}
	return nil
}
