package anyvalue

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// PutAttributes restores attributes JSON (schema.AttrColumns) into dst,
// keeping the keys' order. Text that does not decode (never written by this
// package) is kept whole under UndecodableAttributesKey rather than lost.
func PutAttributes(text string, dst pcommon.Map) {
	if err := DecodeAttributes(text, dst); err != nil {
		dst.Clear()
		dst.PutStr(UndecodableAttributesKey, text)
	}
}

// UndecodableAttributesKey holds stored attributes JSON that could not be
// decoded.
const UndecodableAttributesKey = "tracehouse.undecodable_attributes"

// DecodeAttributes reads attributes JSON into dst, keeping the keys' order.
func DecodeAttributes(text string, dst pcommon.Map) error {
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

// DecodeValue reads the OTLP/JSON of an AnyValue into dst.
func DecodeValue(text string, dst pcommon.Value) error {
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

// SetBody restores a log body from its Body text and BodyType (see
// Encoder.Body). Text that does not parse as its type is kept as a string.
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
		if err := DecodeValue(text, dst); err != nil {
			dst.SetStr(text) // keep the text rather than lose the record
		}
	default:
		if text != "" {
			dst.SetStr(text)
		}
	}
}
