package tracestore

import (
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Column buffers. A batch is built column by column into flat, reusable
// slices; per-row views (sub-slices, map rows) are cut only once the flat
// slices stopped growing (finish), so nothing is allocated per row except
// what the driver itself allocates. Buffers are reset, not freed, between
// batches (see Writer's pools).

// kvRow is one Map value: the pairs of one attribute set in their original
// order, as sub-slices of the column's flat buffers. It implements
// clickhouse-go's column.IterableOrderedMap so the driver appends it without
// a Go map in between.
type kvRow[V any] struct {
	keys []string
	vals []V
	pos  int
}

func (r *kvRow[V]) Put(any, any) {} // write-only; reading uses Go maps
func (r *kvRow[V]) Iterator() column.MapIterator {
	r.pos = -1
	return r
}
func (r *kvRow[V]) Next() bool { r.pos++; return r.pos < len(r.keys) }
func (r *kvRow[V]) Key() any   { return r.keys[r.pos] }
func (r *kvRow[V]) Value() any { return r.vals[r.pos] }

// kvRange locates one attribute set inside a mapColumn's flat slices.
type kvRange struct{ start, end int32 }

// mapColumn buffers one Map(LowCardinality(String), V) column.
type mapColumn[V any] struct {
	keys   []string
	vals   []V
	ranges []kvRange // one per row
	rows   []kvRow[V]
	ptrs   []*kvRow[V]
}

func (c *mapColumn[V]) reset() {
	clear(c.keys) // drop references to the previous batch's strings
	c.keys = c.keys[:0]
	clear(c.vals)
	c.vals = c.vals[:0]
	c.ranges = c.ranges[:0]
	c.rows = c.rows[:0]
	c.ptrs = c.ptrs[:0]
}

// begin starts a new attribute set and returns its start.
func (c *mapColumn[V]) begin() int32 { return int32(len(c.keys)) }

func (c *mapColumn[V]) put(k string, v V) {
	c.keys = append(c.keys, k)
	c.vals = append(c.vals, v)
}

// end closes the attribute set started at start.
func (c *mapColumn[V]) end(start int32) kvRange { return kvRange{start, int32(len(c.keys))} }

// addRow adds a row holding the attribute set r.
func (c *mapColumn[V]) addRow(r kvRange) { c.ranges = append(c.ranges, r) }

// finish builds the rows the driver reads; call it after the last addRow.
func (c *mapColumn[V]) finish() []*kvRow[V] {
	n := len(c.ranges)
	if cap(c.rows) < n {
		c.rows = make([]kvRow[V], n)
	}
	c.rows = c.rows[:n]
	c.ptrs = c.ptrs[:0]
	for i, r := range c.ranges {
		c.rows[i] = kvRow[V]{keys: c.keys[r.start:r.end], vals: c.vals[r.start:r.end]}
		c.ptrs = append(c.ptrs, &c.rows[i])
	}
	return c.ptrs
}

// typedAttrs buffers one attribute set split by value type into the five
// columns of schema.AttrColumns.
type typedAttrs struct {
	str   mapColumn[string]
	int   mapColumn[int64]
	float mapColumn[float64]
	bool  mapColumn[bool]
	other mapColumn[string]
}

// attrRanges locates one attribute set in the five columns.
type attrRanges struct{ str, int, float, bool, other kvRange }

func (a *typedAttrs) reset() {
	a.str.reset()
	a.int.reset()
	a.float.reset()
	a.bool.reset()
	a.other.reset()
}

// add splits m into the five columns and returns where it went; the caller
// adds it to as many rows as share it (addRow).
func (a *typedAttrs) add(m pcommon.Map, enc *valueEncoder) attrRanges {
	s, i, f, b, o := a.str.begin(), a.int.begin(), a.float.begin(), a.bool.begin(), a.other.begin()
	m.Range(func(k string, v pcommon.Value) bool {
		k = cleanString(k, &enc.sanitized)
		switch v.Type() {
		case pcommon.ValueTypeStr:
			a.str.put(k, cleanString(v.Str(), &enc.sanitized))
		case pcommon.ValueTypeInt:
			a.int.put(k, v.Int())
		case pcommon.ValueTypeDouble:
			a.float.put(k, v.Double())
		case pcommon.ValueTypeBool:
			a.bool.put(k, v.Bool())
		default: // map, slice, bytes, empty
			a.other.put(k, enc.encode(v))
		}
		return true
	})
	return attrRanges{a.str.end(s), a.int.end(i), a.float.end(f), a.bool.end(b), a.other.end(o)}
}

func (a *typedAttrs) addRow(r attrRanges) {
	a.str.addRow(r.str)
	a.int.addRow(r.int)
	a.float.addRow(r.float)
	a.bool.addRow(r.bool)
	a.other.addRow(r.other)
}

// values are the five columns in schema.AttrColumns order.
func (a *typedAttrs) values() []any {
	return []any{a.str.finish(), a.int.finish(), a.float.finish(), a.bool.finish(), a.other.finish()}
}

// nested buffers an Array(T) column: the elements of every row in one flat
// slice, cut per row by finish.
type nested[T any] struct {
	flat []T
	ends []int32
	rows [][]T
}

func (c *nested[T]) reset() {
	clear(c.flat)
	c.flat = c.flat[:0]
	c.ends = c.ends[:0]
	clear(c.rows)
	c.rows = c.rows[:0]
}

func (c *nested[T]) add(v T) { c.flat = append(c.flat, v) }
func (c *nested[T]) endRow() { c.ends = append(c.ends, int32(len(c.flat))) }
func (c *nested[T]) finish() [][]T {
	c.rows = c.rows[:0]
	var start int32
	for _, end := range c.ends {
		c.rows = append(c.rows, c.flat[start:end:end])
		start = end
	}
	return c.rows
}

// fixedColumn buffers a FixedString(size) column of binary ids.
type fixedColumn struct {
	size int
	flat []byte
	rows [][]byte
}

func (c *fixedColumn) reset() {
	c.flat = c.flat[:0]
	c.rows = c.rows[:0]
}

func (c *fixedColumn) add(id []byte) { c.flat = append(c.flat, id...) }

func (c *fixedColumn) finish() [][]byte {
	c.rows = c.rows[:0]
	for i := 0; i+c.size <= len(c.flat); i += c.size {
		c.rows = append(c.rows, c.flat[i:i+c.size:i+c.size])
	}
	return c.rows
}

// nestedFixed buffers an Array(FixedString(size)) column.
type nestedFixed struct {
	ids  fixedColumn
	ends []int32
	rows [][][]byte
}

func (c *nestedFixed) reset() {
	c.ids.reset()
	c.ends = c.ends[:0]
	c.rows = c.rows[:0]
}

func (c *nestedFixed) add(id []byte) { c.ids.add(id) }
func (c *nestedFixed) endRow()       { c.ends = append(c.ends, int32(len(c.ids.flat)/c.ids.size)) }

func (c *nestedFixed) finish() [][][]byte {
	elems := c.ids.finish()
	c.rows = c.rows[:0]
	var start int32
	for _, end := range c.ends {
		c.rows = append(c.rows, elems[start:end:end])
		start = end
	}
	return c.rows
}
