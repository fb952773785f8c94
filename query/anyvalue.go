package query

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// typedMaps is one attribute set as stored: split by value type (see
// schema.AttrColumns). Other holds OTLP/JSON AnyValues.
type typedMaps struct {
	Str   map[string]string
	Int   map[string]int64
	Float map[string]float64
	Bool  map[string]bool
	Other map[string]string
}

func (m *typedMaps) dest() []any { return []any{&m.Str, &m.Int, &m.Float, &m.Bool, &m.Other} }

func (m *typedMaps) len() int {
	return len(m.Str) + len(m.Int) + len(m.Float) + len(m.Bool) + len(m.Other)
}

// putInto adds the attributes to dst sorted by key, so that output is
// deterministic (ClickHouse maps do not keep the original order).
func (m *typedMaps) putInto(dst pcommon.Map) {
	keys := make([]string, 0, m.len())
	for k := range m.Str {
		keys = append(keys, k)
	}
	for k := range m.Int {
		keys = append(keys, k)
	}
	for k := range m.Float {
		keys = append(keys, k)
	}
	for k := range m.Bool {
		keys = append(keys, k)
	}
	for k := range m.Other {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	dst.EnsureCapacity(dst.Len() + len(keys))
	for i, k := range keys {
		if i > 0 && keys[i-1] == k {
			continue // the writer puts a key in one map only; be safe anyway
		}
		if v, ok := m.Str[k]; ok {
			dst.PutStr(k, v)
		} else if v, ok := m.Int[k]; ok {
			dst.PutInt(k, v)
		} else if v, ok := m.Float[k]; ok {
			dst.PutDouble(k, v)
		} else if v, ok := m.Bool[k]; ok {
			dst.PutBool(k, v)
		} else if v, ok := m.Other[k]; ok {
			decodeAnyValue(v, dst.PutEmpty(k))
		}
	}
}

// decodeAttributesJSON reads attributes JSON ({"key": <AnyValue JSON>, …},
// see schema.AttrColumns) into dst, in the stored order. A value that is not
// AnyValue JSON is kept as its text; text that is not a JSON object adds
// nothing.
func decodeAttributesJSON(text string, dst pcommon.Map) {
	if text == "" || text == "{}" {
		return
	}
	dec := json.NewDecoder(strings.NewReader(text))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return
		}
		decodeAnyValue(string(raw), dst.PutEmpty(key))
	}
}

// decodeAnyValue reads the OTLP/JSON encoding of an AnyValue into dst. Text
// that is not such an encoding is kept as a string, so nothing is lost.
func decodeAnyValue(text string, dst pcommon.Value) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil || !setAnyValue(raw, dst) {
		dst.SetStr(text)
	}
}

func setAnyValue(raw map[string]json.RawMessage, dst pcommon.Value) bool {
	if len(raw) == 0 {
		return true // {} is an empty value
	}
	if len(raw) != 1 {
		return false
	}
	for kind, body := range raw {
		switch kind {
		case "stringValue":
			var s string
			if json.Unmarshal(body, &s) != nil {
				return false
			}
			dst.SetStr(s)
		case "boolValue":
			var b bool
			if json.Unmarshal(body, &b) != nil {
				return false
			}
			dst.SetBool(b)
		case "intValue":
			var s json.Number
			if json.Unmarshal(body, &s) != nil {
				var str string
				if json.Unmarshal(body, &str) != nil {
					return false
				}
				s = json.Number(str)
			}
			i, err := strconv.ParseInt(string(s), 10, 64)
			if err != nil {
				return false
			}
			dst.SetInt(i)
		case "doubleValue":
			f, ok := parseJSONFloat(body)
			if !ok {
				return false
			}
			dst.SetDouble(f)
		case "bytesValue":
			var s string
			if json.Unmarshal(body, &s) != nil {
				return false
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return false
			}
			dst.SetEmptyBytes().FromRaw(b)
		case "arrayValue":
			var arr struct {
				Values []map[string]json.RawMessage `json:"values"`
			}
			if json.Unmarshal(body, &arr) != nil {
				return false
			}
			s := dst.SetEmptySlice()
			s.EnsureCapacity(len(arr.Values))
			for _, v := range arr.Values {
				if !setAnyValue(v, s.AppendEmpty()) {
					return false
				}
			}
		case "kvlistValue":
			var kv struct {
				Values []struct {
					Key   string                     `json:"key"`
					Value map[string]json.RawMessage `json:"value"`
				} `json:"values"`
			}
			if json.Unmarshal(body, &kv) != nil {
				return false
			}
			m := dst.SetEmptyMap()
			m.EnsureCapacity(len(kv.Values))
			for _, e := range kv.Values {
				if !setAnyValue(e.Value, m.PutEmpty(e.Key)) {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// parseJSONFloat accepts a JSON number or the strings OTLP/JSON uses for
// non-finite doubles ("NaN", "Infinity", "-Infinity").
func parseJSONFloat(body json.RawMessage) (float64, bool) {
	var f float64
	if json.Unmarshal(body, &f) == nil {
		return f, true
	}
	var s string
	if json.Unmarshal(body, &s) != nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}
