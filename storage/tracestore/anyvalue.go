package tracestore

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The *AttrOther columns and non-scalar log bodies hold a pcommon.Value in
// the OTLP/JSON encoding of an AnyValue, e.g.
//
//	{"arrayValue":{"values":[{"intValue":"1"},{"stringValue":"a"}]}}
//	{"kvlistValue":{"values":[{"key":"k","value":{"boolValue":true}}]}}
//	{"bytesValue":"AQID"}
//	{}                                   (an empty value)
//
// encodeAnyValue writes it by hand (no reflection, one buffer per batch);
// decodeAnyValue reads it back with encoding/json.

// DefaultMaxValueDepth bounds how deeply nested maps and slices are stored
// as structure. OTLP puts no limit on nesting, but encoding/json (used to read
// values back) refuses documents nested deeper than 10000 levels, and each
// nesting level of an AnyValue is four JSON levels. Anything nested deeper is
// kept, as the OTLP/JSON text of the cut-off subtree in a string value, so no
// data is lost, only its structure below this depth.
const DefaultMaxValueDepth = 128

// valueEncoder turns pcommon.Values into OTLP/JSON. It counts the values it
// had to change: strings with invalid UTF-8 and subtrees cut at maxDepth.
type valueEncoder struct {
	maxDepth  int
	buf       []byte
	sanitized int // strings whose invalid UTF-8 was replaced by U+FFFD
	truncated int // subtrees deeper than maxDepth stored as text
}

// encode returns the OTLP/JSON of v. The result is a fresh string.
func (e *valueEncoder) encode(v pcommon.Value) string {
	e.buf = e.appendValue(e.buf[:0], v, 0)
	return string(e.buf)
}

func (e *valueEncoder) appendValue(dst []byte, v pcommon.Value, depth int) []byte {
	if depth >= e.maxDepth && (v.Type() == pcommon.ValueTypeMap || v.Type() == pcommon.ValueTypeSlice) {
		// Encode the subtree without a limit and keep it as text.
		e.truncated++
		inner := valueEncoder{maxDepth: math.MaxInt}
		text := inner.appendValue(nil, v, 0)
		e.sanitized += inner.sanitized
		dst = append(dst, `{"stringValue":`...)
		dst = appendJSONString(dst, string(text), nil)
		return append(dst, '}')
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		dst = append(dst, `{"stringValue":`...)
		dst = appendJSONString(dst, v.Str(), &e.sanitized)
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
			dst = appendJSONString(dst, k, &e.sanitized)
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

// attributes returns m as attributes JSON (schema.AttrColumns): a JSON
// object from key to AnyValue JSON in m's order, "{}" when empty.
func (e *valueEncoder) attributes(m pcommon.Map) string {
	if m.Len() == 0 {
		return "{}"
	}
	e.buf = e.appendAttributes(e.buf[:0], m)
	return string(e.buf)
}

func (e *valueEncoder) appendAttributes(dst []byte, m pcommon.Map) []byte {
	dst = append(dst, '{')
	first := true
	m.Range(func(k string, v pcommon.Value) bool {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, k, &e.sanitized)
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
	e := valueEncoder{maxDepth: DefaultMaxValueDepth}
	b := appendJSONString(nil, key, nil)
	b = append(b, ':')
	return string(e.appendValue(b, value, 0))
}

// decodeAttributes reads attributes JSON into dst, keeping the keys' order.
func decodeAttributes(text string, dst pcommon.Map) error {
	if text == "" || text == "{}" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("decode stored attributes %.80q: not a JSON object", text)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("decode stored attributes %.80q: %w", text, err)
		}
		key, _ := tok.(string)
		var value map[string]any
		if err := dec.Decode(&value); err != nil {
			return fmt.Errorf("decode stored attribute %q: %w", key, err)
		}
		if err := setAnyValue(value, dst.PutEmpty(key)); err != nil {
			return fmt.Errorf("decode stored attribute %q: %w", key, err)
		}
	}
	return nil
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

// cleanString replaces each byte of invalid UTF-8 in s by U+FFFD (as
// encoding/json does). ClickHouse would store the bytes as they are, but
// every reader (the query API's JSON, the UI) would mangle them differently,
// so Tracehouse stores valid UTF-8 only.
func cleanString(s string, sanitized *int) string {
	if utf8.ValidString(s) {
		return s
	}
	*sanitized++
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

// decodeAnyValue reads the OTLP/JSON of an AnyValue into dst.
func decodeAnyValue(text string, dst pcommon.Value) error {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("decode stored value %.80q: %w", text, err)
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return fmt.Errorf("decode stored value %.80q: not a JSON object", text)
	}
	return setAnyValue(obj, dst)
}

var errBadAnyValue = errors.New("not an OTLP/JSON AnyValue")

func setAnyValue(obj map[string]any, dst pcommon.Value) error {
	if len(obj) == 0 {
		return nil // empty value
	}
	for k, raw := range obj {
		switch k {
		case "stringValue":
			s, ok := raw.(string)
			if !ok {
				return errBadAnyValue
			}
			dst.SetStr(s)
		case "boolValue":
			b, ok := raw.(bool)
			if !ok {
				return errBadAnyValue
			}
			dst.SetBool(b)
		case "intValue":
			var text string
			switch n := raw.(type) {
			case string:
				text = n
			case json.Number:
				text = n.String()
			default:
				return errBadAnyValue
			}
			i, err := strconv.ParseInt(text, 10, 64)
			if err != nil {
				return err
			}
			dst.SetInt(i)
		case "doubleValue":
			var f float64
			switch n := raw.(type) {
			case json.Number:
				var err error
				if f, err = strconv.ParseFloat(n.String(), 64); err != nil {
					return err
				}
			case string:
				switch n {
				case "NaN":
					f = math.NaN()
				case "Infinity":
					f = math.Inf(1)
				case "-Infinity":
					f = math.Inf(-1)
				default:
					var err error
					if f, err = strconv.ParseFloat(n, 64); err != nil {
						return err
					}
				}
			default:
				return errBadAnyValue
			}
			dst.SetDouble(f)
		case "bytesValue":
			s, ok := raw.(string)
			if !ok {
				return errBadAnyValue
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return err
			}
			dst.SetEmptyBytes().FromRaw(b)
		case "arrayValue":
			s := dst.SetEmptySlice()
			values, err := listValues(raw)
			if err != nil {
				return err
			}
			s.EnsureCapacity(len(values))
			for _, item := range values {
				m, ok := item.(map[string]any)
				if !ok {
					return errBadAnyValue
				}
				if err := setAnyValue(m, s.AppendEmpty()); err != nil {
					return err
				}
			}
		case "kvlistValue":
			m := dst.SetEmptyMap()
			values, err := listValues(raw)
			if err != nil {
				return err
			}
			m.EnsureCapacity(len(values))
			for _, item := range values {
				kv, ok := item.(map[string]any)
				if !ok {
					return errBadAnyValue
				}
				key, _ := kv["key"].(string)
				val, _ := kv["value"].(map[string]any)
				if err := setAnyValue(val, m.PutEmpty(key)); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%w: unknown field %q", errBadAnyValue, k)
		}
	}
	return nil
}

// listValues reads {"values":[…]} (an absent list is empty, as protojson
// writes an empty repeated field).
func listValues(raw any) ([]any, error) {
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, errBadAnyValue
	}
	v, ok := obj["values"]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errBadAnyValue
	}
	return list, nil
}

// bodyText is the Body column for a log body: the string itself, decimal
// text for numbers and booleans, OTLP/JSON for maps, slices and bytes.
func bodyText(e *valueEncoder, v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return cleanString(v.Str(), &e.sanitized)
	case pcommon.ValueTypeInt:
		return strconv.FormatInt(v.Int(), 10)
	case pcommon.ValueTypeDouble:
		return string(appendPlainFloat(nil, v.Double()))
	case pcommon.ValueTypeBool:
		return strconv.FormatBool(v.Bool())
	case pcommon.ValueTypeEmpty:
		return ""
	default:
		return e.encode(v)
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

// SetBody restores a log body from its Body text and BodyType (see
// bodyText). Text that does not parse as its type is kept as a string.
func SetBody(dst pcommon.Value, text string, typ pcommon.ValueType) {
	switch typ {
	case pcommon.ValueTypeStr:
		dst.SetStr(text)
	case pcommon.ValueTypeInt:
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			dst.SetInt(i)
			return
		}
		dst.SetStr(text)
	case pcommon.ValueTypeDouble:
		if f, err := strconv.ParseFloat(text, 64); err == nil {
			dst.SetDouble(f)
			return
		}
		dst.SetStr(text)
	case pcommon.ValueTypeBool:
		if b, err := strconv.ParseBool(text); err == nil {
			dst.SetBool(b)
			return
		}
		dst.SetStr(text)
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice, pcommon.ValueTypeBytes:
		if err := decodeAnyValue(text, dst); err != nil {
			dst.SetStr(text) // keep the text rather than lose the record
		}
	default:
		if text != "" {
			dst.SetStr(text)
		}
	}
}
