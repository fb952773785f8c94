package tracestore

import (
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Column buffers. A batch is built column by column into flat, reusable
// slices; per-row views (sub-slices, map rows) are cut only once the flat
// slices stopped growing (finish, appendTo), so nothing is allocated per row.
// Buffers are reset, not freed, between batches (see Writer's pools).

// columnAppender is a buffered column that appends itself to the driver's
// column row by row, for the types whose whole-slice Append in clickhouse-go
// goes through reflection or boxes every value (Map, Array).
type columnAppender interface {
	appendTo(col column.Interface) error
}

// LowCardinality columns. clickhouse-go builds a LowCardinality dictionary
// with a Go map keyed by the interface value it is given: a string is boxed
// (an allocation) and hashed in full for every row. A pointer is neither, so
// the writer numbers a batch's distinct strings itself (strDict, one string
// hash per row) and hands the driver one pointer per distinct value: the
// driver's dictionary then holds each value once, as it would have.

// strDict numbers the distinct strings of one column of one batch.
type strDict struct {
	index map[string]int32
	vals  []string // distinct values, by number; fixed while refs are used
	ids   []int32  // scratch: one number per row
}

func (d *strDict) reset() {
	if d.index == nil {
		d.index = make(map[string]int32)
	}
	clear(d.index)
	clear(d.vals)
	d.vals = d.vals[:0]
	d.ids = d.ids[:0]
}

func (d *strDict) id(s string) int32 {
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
func (d *strDict) number(vals []string) {
	for i, s := range vals {
		if i > 0 && s == vals[i-1] {
			d.ids = append(d.ids, d.ids[i-1])
			continue
		}
		d.ids = append(d.ids, d.id(s))
	}
}

// refs turns d.ids into pointers to the distinct values, appended to dst.
func (d *strDict) refs(dst []*string) []*string {
	for _, id := range d.ids {
		dst = append(dst, &d.vals[id])
	}
	return dst
}

// isLowCardinality says whether the driver column is LowCardinality(…).
func isLowCardinality(col column.Interface) bool {
	return strings.HasPrefix(string(col.Type()), "LowCardinality(")
}

// lowCardStrings is a LowCardinality(String) column: appended through a
// strDict when the driver column is LowCardinality, whole otherwise.
type lowCardStrings struct {
	vals []string
	dict *strDict
}

func (c lowCardStrings) appendTo(col column.Interface) error {
	if !isLowCardinality(col) {
		_, err := col.Append(c.vals)
		return err
	}
	d := c.dict
	d.reset()
	d.number(c.vals)
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
// a strDict for LowCardinality ones (keyRefs, valRefs), into the buffers for
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

// kvRange locates one attribute set inside a mapColumn's flat slices.
type kvRange struct{ start, end int32 }

// mapColumn buffers one Map(LowCardinality(String), V) column.
type mapColumn[V any] struct {
	keys   []string
	vals   []V
	ranges []kvRange // one per row

	// What appendTo uses: the driver's view of one row (reused for every
	// row) and, for LowCardinality keys or values, their dictionaries.
	row              kvRow[V]
	keyDict, valDict strDict
	keyRefs, valRefs []*string
}

func (c *mapColumn[V]) reset() {
	clear(c.keys) // drop references to the previous batch's strings
	c.keys = c.keys[:0]
	clear(c.vals)
	c.vals = c.vals[:0]
	c.ranges = c.ranges[:0]
	c.row = kvRow[V]{}
	c.keyDict.reset()
	c.valDict.reset()
	clear(c.keyRefs)
	c.keyRefs = c.keyRefs[:0]
	clear(c.valRefs)
	c.valRefs = c.valRefs[:0]
}

// growAll makes room for rows values in all of cols, growing each at most
// once (see spanColumns.reserve).
func growAll[T any](rows int, cols ...*[]T) {
	for _, c := range cols {
		*c = slices.Grow(*c, rows-len(*c))
	}
}

// reserve makes room for rows rows and pairs pairs in all.
func (c *mapColumn[V]) reserve(rows, pairs int) {
	growAll(rows, &c.ranges)
	growAll(pairs, &c.keys)
	growAll(pairs, &c.vals)
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

// appendTo appends every row to the driver's Map column.
func (c *mapColumn[V]) appendTo(col column.Interface) error {
	typ := string(col.Type()) // Map(K, V)
	keysLC := strings.HasPrefix(typ, "Map(LowCardinality(")
	valsLC := strings.HasSuffix(typ, ", LowCardinality(String))")
	if keysLC {
		c.keyDict.reset()
		c.keyDict.number(c.keys)
		c.keyRefs = c.keyDict.refs(c.keyRefs[:0])
	}
	var strVals []string
	if valsLC {
		strVals, _ = any(c.vals).([]string)
		if strVals != nil {
			c.valDict.reset()
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
	return []any{&a.str, &a.int, &a.float, &a.bool, &a.other}
}

// nested buffers an Array(T) column: the elements of every row in one flat
// slice, appended to the driver row by row (its whole-column Append reflects
// on every row). Empty rows, most of them, go in as a nil slice, which
// converts to an interface without allocating.
type nested[T any] struct {
	flat []T
	ends []int32
}

func (c *nested[T]) reset() {
	clear(c.flat)
	c.flat = c.flat[:0]
	c.ends = c.ends[:0]
}

func (c *nested[T]) add(v T) { c.flat = append(c.flat, v) }
func (c *nested[T]) endRow() { c.ends = append(c.ends, int32(len(c.flat))) }

func (c *nested[T]) appendTo(col column.Interface) error {
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

// reserve makes room for rows ids in all.
func (c *fixedColumn) reserve(rows int) { c.flat = slices.Grow(c.flat, rows*c.size-len(c.flat)) }

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
	row  [][]byte
}

func (c *nestedFixed) reset() {
	c.ids.reset()
	c.ends = c.ends[:0]
	c.row = c.row[:0]
}

func (c *nestedFixed) add(id []byte) { c.ids.add(id) }
func (c *nestedFixed) endRow()       { c.ends = append(c.ends, int32(len(c.ids.flat)/c.ids.size)) }

func (c *nestedFixed) appendTo(col column.Interface) error {
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
