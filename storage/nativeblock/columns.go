package nativeblock

import (
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// Column buffers. A batch is built column by column into flat, reusable
// slices; per-row views (sub-slices, map rows) are cut only once the flat
// slices stopped growing (Finish, appendTo), so nothing is allocated per
// row. Buffers are reset, not freed, between batches.

// Column is one column of an INSERT and its values: a plain Go slice
// ([]string, []uint64, []time.Time, [][]byte for FixedString, …) or one of
// this package's buffers.
type Column struct {
	Name   string
	Values any
}

// columnAppender is a buffered column that appends itself to the driver's
// column row by row, for the types whose whole-slice Append in clickhouse-go
// goes through reflection or boxes every value (Map, Array).
type columnAppender interface {
	appendTo(col column.Interface) error
}

// LowCardinality columns. clickhouse-go builds a LowCardinality dictionary
// with a Go map keyed by the interface value it is given: a string is boxed
// (an allocation) and hashed in full for every row. A pointer is neither, so
// the columns number a batch's distinct strings themselves (StrDict, one
// string hash per row) and hand the driver one pointer per distinct value:
// the driver's dictionary then holds each value once, as it would have.

// StrDict numbers the distinct strings of one column of one batch. Columns
// encoded one after the other can share one.
type StrDict struct {
	index map[string]int32
	vals  []string // distinct values, by number; fixed while refs are used
	ids   []int32  // scratch: one number per row
}

// Reset empties the dictionary, keeping its memory.
func (d *StrDict) Reset() {
	if d.index == nil {
		d.index = make(map[string]int32)
	}
	clear(d.index)
	clear(d.vals)
	d.vals = d.vals[:0]
	d.ids = d.ids[:0]
}

func (d *StrDict) id(s string) int32 {
	if i, ok := d.index[s]; ok {
		return i
	}
	i := int32(len(d.vals))
	d.vals = append(d.vals, s)
	d.index[s] = i
	return i
}

// number fills d.ids with the number of each of vals. Runs of one value (the
// resource and scope columns repeat theirs for every span of a request)
// cost a comparison, not a hash.
func (d *StrDict) number(vals []string) {
	for i, s := range vals {
		if i > 0 && s == vals[i-1] {
			d.ids = append(d.ids, d.ids[i-1])
			continue
		}
		d.ids = append(d.ids, d.id(s))
	}
}

// refs turns d.ids into pointers to the distinct values, appended to dst.
func (d *StrDict) refs(dst []*string) []*string {
	for _, id := range d.ids {
		dst = append(dst, &d.vals[id])
	}
	return dst
}

// isLowCardinality says whether the driver column is LowCardinality(…).
func isLowCardinality(col column.Interface) bool {
	return strings.HasPrefix(string(col.Type()), "LowCardinality(")
}

// LowCardStrings is a LowCardinality(String) column: numbered through Dict
// when the column is LowCardinality, sent whole otherwise.
type LowCardStrings struct {
	Values []string
	Dict   *StrDict
}

func (c LowCardStrings) appendTo(col column.Interface) error {
	if !isLowCardinality(col) {
		_, err := col.Append(c.Values)
		return err
	}
	d := c.Dict
	d.Reset()
	d.number(c.Values)
	for _, id := range d.ids {
		if err := col.AppendRow(&d.vals[id]); err != nil {
			return err
		}
	}
	return nil
}

// kvRow is one Map value: the pairs of one attribute set in their original
// order, as sub-slices of the column's flat buffers. It implements
// clickhouse-go's column.IterableOrderedMap so the driver appends it without
// a Go map in between. Keys and values go to the driver as pointers: into
// a StrDict for LowCardinality ones (keyRefs, valRefs), into the buffers for
// the others, which the driver's plain columns (String, Int64, …) read
// without boxing each value.
type kvRow[V any] struct {
	keys    []string
	vals    []V
	pos     int
	keyRefs []*string // nil: keys are not LowCardinality
	valRefs []*string // nil: values are not LowCardinality(String)
	// valByValue: values are LowCardinality of something other than
	// String, keyed by value in the driver's dictionary.
	valByValue bool
}

func (r *kvRow[V]) Put(any, any) {} // write-only; reading uses Go maps
func (r *kvRow[V]) Iterator() column.MapIterator {
	r.pos = -1
	return r
}
func (r *kvRow[V]) Next() bool { r.pos++; return r.pos < len(r.keys) }
func (r *kvRow[V]) Key() any {
	if r.keyRefs != nil {
		return r.keyRefs[r.pos]
	}
	return &r.keys[r.pos]
}
func (r *kvRow[V]) Value() any {
	switch {
	case r.valRefs != nil:
		return r.valRefs[r.pos]
	case r.valByValue:
		return r.vals[r.pos]
	}
	return &r.vals[r.pos]
}

// KVRange locates one set of pairs inside a MapColumn's flat slices.
type KVRange struct{ start, end int32 }

// MapColumn buffers one Map(LowCardinality(String), V) column. A set of
// pairs is written once (Begin, Put…, End) and added to as many rows as
// share it (AddRow).
type MapColumn[V any] struct {
	keys   []string
	vals   []V
	ranges []KVRange // one per row

	// What appendTo uses: the driver's view of one row (reused for every
	// row) and, for LowCardinality keys or values, their dictionaries.
	row              kvRow[V]
	keyDict, valDict StrDict
	keyRefs, valRefs []*string
}

// Reset empties the column, keeping its memory and dropping the strings it
// points to.
func (c *MapColumn[V]) Reset() {
	clear(c.keys) // drop references to the previous batch's strings
	c.keys = c.keys[:0]
	clear(c.vals)
	c.vals = c.vals[:0]
	c.ranges = c.ranges[:0]
	c.row = kvRow[V]{}
	c.keyDict.Reset()
	c.valDict.Reset()
	clear(c.keyRefs)
	c.keyRefs = c.keyRefs[:0]
	clear(c.valRefs)
	c.valRefs = c.valRefs[:0]
}

// growAll makes room for n values in all of cols, growing each at most once.
func growAll[T any](n int, cols ...*[]T) {
	for _, c := range cols {
		*c = slices.Grow(*c, n-len(*c))
	}
}

// Reserve makes room for rows rows and pairs pairs in all, so that a batch
// larger than any before grows the buffers once rather than in append's
// steps.
func (c *MapColumn[V]) Reserve(rows, pairs int) {
	growAll(rows, &c.ranges)
	growAll(pairs, &c.keys)
	growAll(pairs, &c.vals)
}

// Len is the number of pairs buffered.
func (c *MapColumn[V]) Len() int { return len(c.keys) }

// Cap is the number of pairs the buffers hold without growing.
func (c *MapColumn[V]) Cap() int { return cap(c.keys) }

// Begin starts a new set of pairs and returns its start.
func (c *MapColumn[V]) Begin() int32 { return int32(len(c.keys)) }

// Put adds a pair to the set being written.
func (c *MapColumn[V]) Put(k string, v V) {
	c.keys = append(c.keys, k)
	c.vals = append(c.vals, v)
}

// End closes the set of pairs started at start.
func (c *MapColumn[V]) End(start int32) KVRange { return KVRange{start, int32(len(c.keys))} }

// AddRow adds a row holding the set of pairs r.
func (c *MapColumn[V]) AddRow(r KVRange) { c.ranges = append(c.ranges, r) }

// appendTo appends every row to the driver's Map column.
func (c *MapColumn[V]) appendTo(col column.Interface) error {
	typ := string(col.Type()) // Map(K, V)
	keysLC := strings.HasPrefix(typ, "Map(LowCardinality(")
	valsLC := strings.HasSuffix(typ, ", LowCardinality(String))")
	if keysLC {
		c.keyDict.Reset()
		c.keyDict.number(c.keys)
		c.keyRefs = c.keyDict.refs(c.keyRefs[:0])
	}
	var strVals []string
	if valsLC {
		strVals, _ = any(c.vals).([]string)
		if strVals != nil {
			c.valDict.Reset()
			c.valDict.number(strVals)
			c.valRefs = c.valDict.refs(c.valRefs[:0])
		}
	}
	row := &c.row
	for _, r := range c.ranges {
		*row = kvRow[V]{keys: c.keys[r.start:r.end], vals: c.vals[r.start:r.end], valByValue: valsLC && strVals == nil}
		if keysLC {
			row.keyRefs = c.keyRefs[r.start:r.end]
		}
		if strVals != nil {
			row.valRefs = c.valRefs[r.start:r.end]
		}
		if err := col.AppendRow(row); err != nil {
			return err
		}
	}
	c.row = kvRow[V]{}
	return nil
}

// Nested buffers an Array(T) column: the elements of every row in one flat
// slice, appended to the driver row by row (its whole-column Append reflects
// on every row). Empty rows, most of them, go in as a nil slice, which
// converts to an interface without allocating.
type Nested[T any] struct {
	flat []T
	ends []int32
}

// Reset empties the column, keeping its memory.
func (c *Nested[T]) Reset() {
	clear(c.flat)
	c.flat = c.flat[:0]
	c.ends = c.ends[:0]
}

// Add adds an element to the current row.
func (c *Nested[T]) Add(v T) { c.flat = append(c.flat, v) }

// EndRow closes the current row.
func (c *Nested[T]) EndRow() { c.ends = append(c.ends, int32(len(c.flat))) }

// Cap is the number of elements the buffer holds without growing.
func (c *Nested[T]) Cap() int { return cap(c.flat) }

func (c *Nested[T]) appendTo(col column.Interface) error {
	var start int32
	for _, end := range c.ends {
		var row []T
		if end > start {
			row = c.flat[start:end:end]
		}
		if err := col.AppendRow(row); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// FixedColumn buffers a FixedString(size) column of binary ids.
type FixedColumn struct {
	size int
	flat []byte
	rows [][]byte
}

// NewFixedColumn returns a FixedString(size) column.
func NewFixedColumn(size int) FixedColumn { return FixedColumn{size: size} }

// Reset empties the column, keeping its memory.
func (c *FixedColumn) Reset() {
	c.flat = c.flat[:0]
	c.rows = c.rows[:0]
}

// Add adds a row; id must be size bytes long.
func (c *FixedColumn) Add(id []byte) { c.flat = append(c.flat, id...) }

// Reserve makes room for rows ids in all.
func (c *FixedColumn) Reserve(rows int) { c.flat = slices.Grow(c.flat, rows*c.size-len(c.flat)) }

// Finish returns the rows, as the column's Values.
func (c *FixedColumn) Finish() [][]byte {
	c.rows = c.rows[:0]
	for i := 0; i+c.size <= len(c.flat); i += c.size {
		c.rows = append(c.rows, c.flat[i:i+c.size:i+c.size])
	}
	return c.rows
}

// NestedFixed buffers an Array(FixedString(size)) column.
type NestedFixed struct {
	ids  FixedColumn
	ends []int32
	row  [][]byte
}

// NewNestedFixed returns an Array(FixedString(size)) column.
func NewNestedFixed(size int) NestedFixed { return NestedFixed{ids: NewFixedColumn(size)} }

// Reset empties the column, keeping its memory.
func (c *NestedFixed) Reset() {
	c.ids.Reset()
	c.ends = c.ends[:0]
	c.row = c.row[:0]
}

// Add adds an element to the current row; id must be size bytes long.
func (c *NestedFixed) Add(id []byte) { c.ids.Add(id) }

// EndRow closes the current row.
func (c *NestedFixed) EndRow() { c.ends = append(c.ends, int32(len(c.ids.flat)/c.ids.size)) }

func (c *NestedFixed) appendTo(col column.Interface) error {
	size := c.ids.size
	var start int32
	for _, end := range c.ends {
		var row [][]byte
		if end > start {
			c.row = c.row[:0]
			for i := start; i < end; i++ {
				off := int(i) * size
				c.row = append(c.row, c.ids.flat[off:off+size:off+size])
			}
			row = c.row
		}
		if err := col.AppendRow(row); err != nil {
			return err
		}
		start = end
	}
	return nil
}
