package writer

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/nativeblock"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// typedAttrs buffers one attribute set split by value type into the five
// columns of schema.AttrColumns, so a value keeps its type and a query can
// compare numbers as numbers.
type typedAttrs struct {
	str   nativeblock.MapColumn[string]
	int   nativeblock.MapColumn[int64]
	float nativeblock.MapColumn[float64]
	bool  nativeblock.MapColumn[bool]
	other nativeblock.MapColumn[string]
}

// attrRanges locates one attribute set in the five columns.
type attrRanges struct{ str, int, float, bool, other nativeblock.KVRange }

func (a *typedAttrs) reset() {
	a.str.Reset()
	a.int.Reset()
	a.float.Reset()
	a.bool.Reset()
	a.other.Reset()
}

// add splits m into the five columns and returns where it went; the caller
// adds it to as many rows as share it (addRow).
func (a *typedAttrs) add(m pcommon.Map, enc *anyvalue.Encoder) attrRanges {
	s, i, f, b, o := a.str.Begin(), a.int.Begin(), a.float.Begin(), a.bool.Begin(), a.other.Begin()
	m.Range(func(k string, v pcommon.Value) bool {
		k = enc.CleanString(k)
		switch v.Type() {
		case pcommon.ValueTypeStr:
			a.str.Put(k, enc.CleanString(v.Str()))
		case pcommon.ValueTypeInt:
			a.int.Put(k, v.Int())
		case pcommon.ValueTypeDouble:
			a.float.Put(k, v.Double())
		case pcommon.ValueTypeBool:
			a.bool.Put(k, v.Bool())
		default: // map, slice, bytes, empty
			a.other.Put(k, enc.Encode(v))
		}
		return true
	})
	return attrRanges{a.str.End(s), a.int.End(i), a.float.End(f), a.bool.End(b), a.other.End(o)}
}

func (a *typedAttrs) addRow(r attrRanges) {
	a.str.AddRow(r.str)
	a.int.AddRow(r.int)
	a.float.AddRow(r.float)
	a.bool.AddRow(r.bool)
	a.other.AddRow(r.other)
}

// appendColumns adds the five columns to cols, in schema.Attrs order.
func (a *typedAttrs) appendColumns(cols []nativeblock.Column) []nativeblock.Column {
	values := []any{&a.str, &a.int, &a.float, &a.bool, &a.other}
	for i, name := range schema.Attrs.Names() {
		cols = append(cols, nativeblock.Column{Name: name, Values: values[i]})
	}
	return cols
}
