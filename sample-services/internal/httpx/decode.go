package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// DecodeJSON decodes one JSON object into v and rejects unknown fields, so a
// misspelt field is a 400 naming it instead of a silently ignored value.
// Every failure is an APIError naming the field ("body" when the document
// itself is broken).
func DecodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return FieldError("body", "request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return FieldError("body", "request body has data after the JSON object; send exactly one object")
	}
	return nil
}

func decodeError(err error) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return FieldError("body", "invalid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return FieldError(field, "%s must be %s, got JSON %s", field, describeType(typeErr.Type), typeErr.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return FieldError("body", "JSON body ends early; send a complete object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this; the field name is the
		// quoted tail of the message.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return FieldError(name, "unknown field %q; check the spelling against the API", name)
	default:
		return FieldError("body", "cannot decode JSON body: %v", err)
	}
}

// TypeHinter is implemented by types whose JSON form is not what their Go
// kind suggests (a duration is an int64 written as "250ms").
type TypeHinter interface {
	JSONTypeHint() string
}

func describeType(t reflect.Type) string {
	if hinter, ok := reflect.Zero(t).Interface().(TypeHinter); ok {
		return hinter.JSONTypeHint()
	}
	kind := t.Kind().String()
	switch kind {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	default:
		return fmt.Sprintf("a %s", kind)
	}
}
