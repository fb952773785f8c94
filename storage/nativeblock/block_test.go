package nativeblock

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/tracehouse/tracehouse/storage"
)

// batch is one of every kind of column, filled with rows rows.
type batch struct {
	dict                 StrDict
	str                  []string
	u32                  []uint32
	u64                  []uint64
	u8                   []uint8
	i8                   []int8
	ts                   []time.Time
	id                   FixedColumn
	lc                   []string
	flags                []bool
	mStr, mStrLC         MapColumn[string]
	mInt                 MapColumn[int64]
	mFloat               MapColumn[float64]
	mBool                MapColumn[bool]
	nStr                 Nested[string]
	nTime                Nested[time.Time]
	nU32                 Nested[uint32]
	nFixed               NestedFixed
	rows                 int
	selfEncoding, driver []string // column names by who encodes them
}

var types = []clickhouse.ColumnNameAndType{
	{Name: "str", Type: "String"},
	{Name: "u32", Type: "UInt32"},
	{Name: "u64", Type: "UInt64"},
	{Name: "u8", Type: "UInt8"},
	{Name: "enum", Type: "Enum8('unset' = 0, 'ok' = 1, 'error' = 2)"},
	{Name: "ts", Type: "DateTime64(9)"},
	{Name: "id", Type: "FixedString(16)"},
	{Name: "lc", Type: "LowCardinality(String)"},
	{Name: "lcAsString", Type: "String"},
	{Name: "flags", Type: "Bool"},
	{Name: "mStr", Type: "Map(LowCardinality(String), String)"},
	{Name: "mStrLC", Type: "Map(LowCardinality(String), LowCardinality(String))"},
	{Name: "mInt", Type: "Map(LowCardinality(String), Int64)"},
	{Name: "mFloat", Type: "Map(LowCardinality(String), Float64)"},
	{Name: "mBool", Type: "Map(LowCardinality(String), Bool)"},
	{Name: "nStr", Type: "Array(String)"},
	{Name: "nTime", Type: "Array(DateTime64(9))"},
	{Name: "nU32", Type: "Array(UInt32)"},
	{Name: "nFixed", Type: "Array(FixedString(8))"},
}

// fill resets b and adds rows rows; distinct is how many distinct values
// the LowCardinality columns get (more than 255 needs wider keys).
func (b *batch) fill(rows, distinct int) {
	*b = batch{dict: b.dict, id: NewFixedColumn(16), nFixed: NewNestedFixed(8),
		mStr: b.mStr, mStrLC: b.mStrLC, mInt: b.mInt, mFloat: b.mFloat, mBool: b.mBool}
	for _, m := range []interface{ Reset() }{&b.mStr, &b.mStrLC, &b.mInt, &b.mFloat, &b.mBool} {
		m.Reset()
	}
	b.rows = rows
	base := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	for i := range rows {
		b.str = append(b.str, fmt.Sprintf("row %d \x00\n", i))
		b.u32 = append(b.u32, uint32(i*7))
		b.u64 = append(b.u64, uint64(i)<<40)
		b.u8 = append(b.u8, uint8(i))
		b.i8 = append(b.i8, int8(i%3))
		b.ts = append(b.ts, base.Add(time.Duration(i)*time.Microsecond))
		b.id.Add(bytes.Repeat([]byte{byte(i)}, 16))
		b.lc = append(b.lc, fmt.Sprintf("value-%d", i%distinct))
		b.flags = append(b.flags, i%2 == 0)
		// Every other row has no pairs; rows 3k+1 share the set of row 3k.
		start := b.mStr.Begin()
		if i%2 == 0 {
			b.mStr.Put("k", fmt.Sprint(i))
			b.mStr.Put(fmt.Sprintf("key-%d", i%distinct), "v")
		}
		b.mStr.AddRow(b.mStr.End(start))
		start = b.mStrLC.Begin()
		b.mStrLC.Put("service", fmt.Sprintf("svc-%d", i%distinct))
		b.mStrLC.AddRow(b.mStrLC.End(start))
		start = b.mInt.Begin()
		b.mInt.Put("n", int64(-i))
		b.mInt.AddRow(b.mInt.End(start))
		start = b.mFloat.Begin()
		for k := range i % 4 {
			b.mFloat.Put(fmt.Sprint("f", k), float64(i)/3)
		}
		b.mFloat.AddRow(b.mFloat.End(start))
		start = b.mBool.Begin()
		b.mBool.Put("b", i%3 == 0)
		b.mBool.AddRow(b.mBool.End(start))
		if i%5 == 0 {
			b.nStr.Add("event")
			b.nTime.Add(base)
			b.nU32.Add(uint32(i))
			b.nFixed.Add(bytes.Repeat([]byte{byte(i)}, 8))
			b.nFixed.Add(bytes.Repeat([]byte{byte(i + 1)}, 8))
		}
		b.nStr.EndRow()
		b.nTime.EndRow()
		b.nU32.EndRow()
		b.nFixed.EndRow()
	}
}

func (b *batch) columns() []Column {
	return []Column{
		{Name: "str", Values: b.str},
		{Name: "u32", Values: b.u32},
		{Name: "u64", Values: b.u64},
		{Name: "u8", Values: b.u8},
		{Name: "enum", Values: b.i8},
		{Name: "ts", Values: b.ts},
		{Name: "id", Values: b.id.Finish()},
		{Name: "lc", Values: LowCardStrings{Values: b.lc, Dict: &b.dict}},
		{Name: "lcAsString", Values: LowCardStrings{Values: b.lc, Dict: &b.dict}},
		{Name: "flags", Values: b.flags},
		{Name: "mStr", Values: &b.mStr},
		{Name: "mStrLC", Values: &b.mStrLC},
		{Name: "mInt", Values: &b.mInt},
		{Name: "mFloat", Values: &b.mFloat},
		{Name: "mBool", Values: &b.mBool},
		{Name: "nStr", Values: &b.nStr},
		{Name: "nTime", Values: &b.nTime},
		{Name: "nU32", Values: &b.nU32},
		{Name: "nFixed", Values: &b.nFixed},
	}
}

// driverEncoding is the block clickhouse-go's batch would send for the
// same columns: every column appended to a new block, encoded whole.
func driverEncoding(t *testing.T, types []clickhouse.ColumnNameAndType, cols []Column) []byte {
	t.Helper()
	block := proto.NewBlock()
	for _, c := range types {
		if err := block.AddColumn(c.Name, column.Type(c.Type)); err != nil {
			t.Fatal(err)
		}
	}
	if err := AppendColumns(block.Columns, cols); err != nil {
		t.Fatal(err)
	}
	var buf chproto.Buffer
	if err := block.Encode(&buf, 0); err != nil {
		t.Fatal(err)
	}
	return buf.Buf
}

// TestEncodingMatchesDriver: Encode writes, batch after batch with one
// Encoder, byte for byte the block clickhouse-go encodes for the same
// columns, whether a column encodes itself or goes through the driver.
func TestEncodingMatchesDriver(t *testing.T) {
	var enc Encoder
	var b batch
	const statement = "INSERT INTO t FORMAT Native\n"
	for i, size := range []struct{ rows, distinct int }{{3, 2}, {600, 300}, {1, 1}, {70_000, 70_000}} {
		b.fill(size.rows, size.distinct)
		native := 0
		for j, c := range b.columns() {
			if EncodesNative(types[j].Type, b.rows, c.Values) {
				native++
			}
		}
		// All but the bools, the LowCardinality values sent as String, the
		// map with LowCardinality values and the four arrays.
		if want := len(types) - 7; native != want {
			t.Fatalf("batch %d: %d columns encode themselves, want %d", i, native, want)
		}
		got, err := enc.Encode(statement, types, b.rows, b.columns())
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if !enc.Holds(types) {
			t.Errorf("batch %d: the encoder does not keep its block", i)
		}
		got = bytes.Clone(got)
		if !bytes.HasPrefix(got, []byte(statement)) {
			t.Fatalf("batch %d: the body does not start with the statement", i)
		}
		got = got[len(statement):]
		if want := driverEncoding(t, types, b.columns()); !bytes.Equal(got, want) {
			t.Fatalf("batch %d (%d rows): Encode writes %d bytes, clickhouse-go %d; %s",
				i, b.rows, len(got), len(want), differingColumn(t, &b))
		}
	}
}

// differingColumn names the first column whose encodings differ.
func differingColumn(t *testing.T, b *batch) string {
	for i, c := range types {
		var enc Encoder
		one := types[i : i+1]
		got, err := enc.Encode("", one, b.rows, b.columns()[i:i+1])
		if err != nil {
			return fmt.Sprintf("column %s: %v", c.Name, err)
		}
		if want := driverEncoding(t, one, b.columns()[i:i+1]); !bytes.Equal(got, want) {
			return fmt.Sprintf("column %s %s: %d bytes against %d:\n got %q\nwant %q", c.Name, c.Type, len(got), len(want), got[:min(len(got), 200)], want[:min(len(want), 200)])
		}
	}
	return "no single column differs"
}

// Values that do not fit their column are invalid data: retrying cannot
// help.
func TestEncodeInvalidData(t *testing.T) {
	var enc Encoder
	typ := []clickhouse.ColumnNameAndType{{Name: "n", Type: "UInt32"}}
	_, err := enc.Encode("", typ, 1, []Column{{Name: "n", Values: []string{"one"}}})
	if !errors.Is(err, storage.ErrInvalidData) {
		t.Errorf("strings in a UInt32 column: %v, want storage.ErrInvalidData", err)
	}
	_, err = enc.Encode("", typ, 2, []Column{{Name: "n", Values: []uint32{1}}})
	if !errors.Is(err, storage.ErrInvalidData) {
		t.Errorf("1 row for 2: %v, want storage.ErrInvalidData", err)
	}
}
