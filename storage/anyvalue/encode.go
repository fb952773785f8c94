// Package anyvalue is the JSON codec of the stored attribute values: the
// *AttrOther columns, non-scalar log bodies and the attributes JSON columns
// (schema.AttrColumns) hold a pcommon.Value in the OTLP/JSON encoding of an
// AnyValue, e.g.
//
//	{"arrayValue":{"values":[{"intValue":"1"},{"stringValue":"a"}]}}
//	{"kvlistValue":{"values":[{"key":"k","value":{"boolValue":true}}]}}
//	{"bytesValue":"AQID"}
//	{}                                   (an empty value)
//
// Encoder writes it by hand (no reflection, one buffer per batch) for the
// writer; DecodeValue, PutAttributes and SetBody read it back with
// encoding/json for the readers.
package anyvalue

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// DefaultMaxValueDepth bounds how deeply nested maps and slices are stored
// as structure. OTLP puts no limit on nesting, but encoding/json (used to read
// values back) refuses documents nested deeper than 10000 levels, and each
// nesting level of an AnyValue is four JSON levels. Anything nested deeper is
// kept, as the OTLP/JSON text of the cut-off subtree in a string value, so no
// data is lost, only its structure below this depth.
const DefaultMaxValueDepth = 128

// Encoder turns pcommon.Values into OTLP/JSON, reusing one buffer. It counts
// the values it had to change. It is not safe for concurrent use.
type Encoder struct {
	// Sanitized counts strings whose invalid UTF-8 was replaced by U+FFFD.
	Sanitized int
	// Truncated counts subtrees deeper than the maximum depth stored as text.
	Truncated int

	maxDepth int
	buf      []byte
}

// NewEncoder returns an Encoder that keeps maxDepth levels of maps and
// slices as structure (see DefaultMaxValueDepth).
func NewEncoder(maxDepth int) Encoder { return Encoder{maxDepth: maxDepth} }

// RetainedBytes is the size of the buffer the encoder keeps between values.
func (e *Encoder) RetainedBytes() int { return cap(e.buf) }

// Encode returns the OTLP/JSON of v. The result is a fresh string.
func (e *Encoder) Encode(v pcommon.Value) string {
	e.buf = e.appendValue(e.buf[:0], v, 0)
	return string(e.buf)
}

func (e *Encoder) appendValue(dst []byte, v pcommon.Value, depth int) []byte {
	if depth >= e.maxDepth && (v.Type() == pcommon.ValueTypeMap || v.Type() == pcommon.ValueTypeSlice) {
		// Encode the subtree without a limit and keep it as text.
		e.Truncated++
		inner := Encoder{maxDepth: math.MaxInt}
		text := inner.appendValue(nil, v, 0)
		e.Sanitized += inner.Sanitized
		dst = append(dst, `{"stringValue":`...)
		dst = appendJSONString(dst, string(text), nil)
		return append(dst, '}')
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		dst = append(dst, `{"stringValue":`...)
		dst = appendJSONString(dst, v.Str(), &e.Sanitized)
		return append(dst, '}')
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return append(dst, `{"boolValue":true}`...)
		}
		return append(dst, `{"boolValue":false}`...)
	case pcommon.ValueTypeInt:
		dst = append(dst, `{"intValue":"`...)
		dst = strconv.AppendInt(dst, v.Int(), 10)
		return append(dst, `"}`...)
	case pcommon.ValueTypeDouble:
		dst = append(dst, `{"doubleValue":`...)
		dst = appendJSONFloat(dst, v.Double())
		return append(dst, '}')
	case pcommon.ValueTypeBytes:
		dst = append(dst, `{"bytesValue":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, v.Bytes().AsRaw())
		return append(dst, `"}`...)
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		dst = append(dst, `{"arrayValue":{"values":[`...)
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = e.appendValue(dst, s.At(i), depth+1)
		}
		return append(dst, `]}}`...)
	case pcommon.ValueTypeMap:
		dst = append(dst, `{"kvlistValue":{"values":[`...)
		first := true
		v.Map().Range(func(k string, kv pcommon.Value) bool {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, `{"key":`...)
			dst = appendJSONString(dst, k, &e.Sanitized)
			dst = append(dst, `,"value":`...)
			dst = e.appendValue(dst, kv, depth+1)
			dst = append(dst, '}')
			return true
		})
		return append(dst, `]}}`...)
	default: // ValueTypeEmpty
		return append(dst, `{}`...)
	}
}

// Attributes returns m as attributes JSON (schema.AttrColumns): a JSON
// object from key to AnyValue JSON in m's order, "{}" when empty.
func (e *Encoder) Attributes(m pcommon.Map) string {
	if m.Len() == 0 {
		return "{}"
	}
	e.buf = e.appendAttributes(e.buf[:0], m)
	return string(e.buf)
}

func (e *Encoder) appendAttributes(dst []byte, m pcommon.Map) []byte {
	dst = append(dst, '{')
	first := true
	m.Range(func(k string, v pcommon.Value) bool {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, k, &e.Sanitized)
		dst = append(dst, ':')
		dst = e.appendValue(dst, v, 0)
		return true
	})
	return append(dst, '}')
}

// AttributeFragment is how one attribute appears inside stored attributes
// JSON (ResourceAttributes, ScopeAttributes, Events.Attributes,
// Links.Attributes), e.g. `"host.name":{"stringValue":"node-1"}`: a
// search can match it with LIKE '%…%' (after escaping % and _).
func AttributeFragment(key string, value pcommon.Value) string {
	e := NewEncoder(DefaultMaxValueDepth)
	b := appendJSONString(nil, key, nil)
	b = append(b, ':')
	return string(e.appendValue(b, value, 0))
}

// Body is the Body column for a log body: the string itself, decimal text
// for numbers and booleans, OTLP/JSON for maps, slices and bytes. SetBody
// reads it back.
func (e *Encoder) Body(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return e.CleanString(v.Str())
	case pcommon.ValueTypeInt:
		return strconv.FormatInt(v.Int(), 10)
	case pcommon.ValueTypeDouble:
		return string(appendPlainFloat(nil, v.Double()))
	case pcommon.ValueTypeBool:
		return strconv.FormatBool(v.Bool())
	case pcommon.ValueTypeEmpty:
		return ""
	default:
		return e.Encode(v)
	}
}

// appendPlainFloat is the Body text of a double: shortest round-tripping
// decimal, NaN, +Inf, -Inf.
func appendPlainFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "+Inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-Inf"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// appendJSONFloat writes f the way protojson does: shortest round-tripping
// decimal, and the strings "NaN", "Infinity", "-Infinity" for the values JSON
// cannot express.
func appendJSONFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string exactly as encoding/json does
// with SetEscapeHTML(false) (the schema's "compact, no HTML escaping", so a
// query can build the same fragment with json.Marshal): invalid UTF-8
// becomes \ufffd and is counted in *sanitized when it is not nil.
func appendJSONString(dst []byte, s string, sanitized *int) []byte {
	dst = append(dst, '"')
	bad := false
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			bad = true
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	if bad && sanitized != nil {
		*sanitized++
	}
	return append(dst, '"')
}

// CleanString replaces each byte of invalid UTF-8 in s by U+FFFD (as
// encoding/json does) and counts the strings it changed in Sanitized.
// ClickHouse would store the bytes as they are, but every reader (the query
// API's JSON, the UI) would mangle them differently, so Tracehouse stores
// valid UTF-8 only.
func (e *Encoder) CleanString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	e.Sanitized++
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(b)
}
