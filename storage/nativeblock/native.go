package nativeblock

import (
	"fmt"
	"math"
	"strings"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
)

// The Map attribute columns, the LowCardinality(String) ones and the plain
// slices write their Native encoding themselves, straight from their flat
// buffers. Through clickhouse-go a LowCardinality value is looked up in a Go
// map keyed by an interface value and a Map row goes through an iterator of
// interface values: the most CPU a batch costs on the client (figures in
// bench/ingest/README.md). The columns already number their distinct
// strings (StrDict), which is all a LowCardinality block needs.
//
// The encodings are those of ClickHouse's Native format as clickhouse-go
// writes them over HTTP (revision 0, no custom serialization); tests check
// that both give the same bytes (TestEncodingMatchesDriver here,
// TestNativeEncodingMatchesDriver in storage/writer for real batches).

// nativeEncoder is a buffered column that can write its own Native
// encoding for some wire types.
type nativeEncoder interface {
	// encodesNative says whether encodeNative can write type typ, with
	// rows rows (a column of another length goes through the driver, which
	// reports it).
	encodesNative(typ string, rows int) bool
	// encodeNative writes the column's state prefix and data.
	encodeNative(buf *chproto.Buffer, typ string)
}

// LowCardinality serialization, as in ClickHouse's
// SerializationLowCardinality and clickhouse-go's lib/column.
const (
	// lcKeysVersion is the state prefix: SharedDictionariesWithAdditionalKeys.
	lcKeysVersion = 1
	// lcUpdateAll flags a block that carries its whole dictionary as
	// additional keys (HasAdditionalKeysBit | NeedUpdateDictionary).
	lcUpdateAll = 1<<9 | 1<<10
)

// putLowCardinality writes the rows numbered by d (d.ids) as one
// LowCardinality(String) block: the dictionary, with the default value at
// position 0 as clickhouse-go sends it, then one key per row in the
// narrowest width that holds them. ranges pick the ids to write, in
// order; nil means all of d.ids.
func putLowCardinality(buf *chproto.Buffer, d *StrDict, ranges []KVRange) {
	n := len(d.ids)
	if ranges != nil {
		n = 0
		for _, r := range ranges {
			n += int(r.end - r.start)
		}
	}
	if n == 0 {
		return // no rows, no block (as clickhouse-go writes it)
	}
	distinct := len(d.vals)
	var width uint64
	switch {
	case distinct < math.MaxUint8:
		width = 0
	case distinct < math.MaxUint16:
		width = 1
	case distinct < math.MaxUint32:
		width = 2
	default:
		width = 3
	}
	buf.PutUInt64(lcUpdateAll | width)
	buf.PutInt64(int64(distinct + 1))
	buf.PutString("")
	for _, v := range d.vals {
		buf.PutString(v)
	}
	buf.PutInt64(int64(n))
	put := func(ids []int32) {
		for _, id := range ids {
			k := uint64(id) + 1
			switch width {
			case 0:
				buf.PutUInt8(uint8(k))
			case 1:
				buf.PutUInt16(uint16(k))
			case 2:
				buf.PutUInt32(uint32(k))
			default:
				buf.PutUInt64(k)
			}
		}
	}
	if ranges == nil {
		put(d.ids)
		return
	}
	for _, r := range ranges {
		put(d.ids[r.start:r.end])
	}
}

const lowCardinalityString = "LowCardinality(String)"

func (c LowCardStrings) encodesNative(typ string, rows int) bool {
	return typ == lowCardinalityString && len(c.Values) == rows
}

func (c LowCardStrings) encodeNative(buf *chproto.Buffer, _ string) {
	d := c.Dict
	d.Reset()
	d.number(c.Values)
	buf.PutUInt64(lcKeysVersion)
	putLowCardinality(buf, d, nil)
}

func (c *MapColumn[V]) encodesNative(typ string, rows int) bool {
	var want string
	switch any(c.vals).(type) {
	case []string:
		want = "String"
	case []int64:
		want = "Int64"
	case []float64:
		want = "Float64"
	case []bool:
		want = "Bool"
	}
	return want != "" && len(c.ranges) == rows && typ == "Map(LowCardinality(String), "+want+")"
}

// encodeNative writes Map(LowCardinality(String), V): the keys' state
// prefix, each row's end offset, every key (one LowCardinality block),
// then every value.
func (c *MapColumn[V]) encodeNative(buf *chproto.Buffer, _ string) {
	buf.PutUInt64(lcKeysVersion)
	var end uint64
	for _, r := range c.ranges {
		end += uint64(r.end - r.start)
		buf.PutUInt64(end)
	}
	c.keyDict.Reset()
	c.keyDict.number(c.keys)
	putLowCardinality(buf, &c.keyDict, c.ranges)
	switch vals := any(c.vals).(type) {
	case []string:
		putRanges(c.ranges, vals, buf.PutString)
	case []int64:
		putRanges(c.ranges, vals, buf.PutInt64)
	case []float64:
		putRanges(c.ranges, vals, buf.PutFloat64)
	case []bool:
		putRanges(c.ranges, vals, buf.PutBool)
	}
}

// putRanges puts the values of every range, in order.
func putRanges[T any](ranges []KVRange, vals []T, put func(T)) {
	for _, r := range ranges {
		for _, v := range vals[r.start:r.end] {
			put(v)
		}
	}
}

// encodePlain writes a column held as a plain Go slice (ids, timestamps,
// counts, enums, strings) in its Native encoding, when typ is the type the
// slice is sent as and it has rows rows, and reports whether it did.
// Through the driver such a column is copied into its column type and then
// again into the block.
func encodePlain(buf *chproto.Buffer, typ string, rows int, values any) bool {
	switch v := values.(type) {
	case []string:
		return putRows(v, rows, typ == "String", buf.PutString)
	case []uint32:
		return putRows(v, rows, typ == "UInt32", buf.PutUInt32)
	case []uint64:
		return putRows(v, rows, typ == "UInt64", buf.PutUInt64)
	case []uint8:
		return putRows(v, rows, typ == "UInt8", buf.PutUInt8)
	case []int8:
		return putRows(v, rows, typ == "Int8" || strings.HasPrefix(typ, "Enum8("), buf.PutInt8)
	case []time.Time:
		return putRows(v, rows, typ == "DateTime64(9)", func(t time.Time) { buf.PutInt64(t.UnixNano()) })
	case [][]byte: // FixedString(n) rows, each exactly n bytes
		var n int
		if _, err := fmt.Sscanf(typ, "FixedString(%d)", &n); err != nil {
			return false
		}
		for _, row := range v {
			if len(row) != n {
				return false // the driver reports it
			}
		}
		return putRows(v, rows, true, buf.PutRaw)
	}
	return false
}

// putRows puts every value when the column is of the type (typeOK) and
// length that encodePlain writes, and says whether it did.
func putRows[T any](vals []T, rows int, typeOK bool, put func(T)) bool {
	if !typeOK || len(vals) != rows {
		return false
	}
	for _, v := range vals {
		put(v)
	}
	return true
}
