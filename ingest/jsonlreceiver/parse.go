package jsonlreceiver

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tracehouse/tracehouse/ingest/severity"
)

// How a line becomes a log record. Well-known fields are recognised by
// name, zerolog's names first, then common aliases; when a line has several
// names for one role, the first in each list wins and the others stay
// attributes.
//
//	body      message, msg                       (any JSON type; strings as is)
//	time      time, timestamp, ts, @timestamp     RFC 3339 text, or Unix time as a
//	                                              number in s, ms, µs or ns (by magnitude)
//	severity  level, severity, lvl                text (trace … panic) or number
//	                                              (zerolog -1…5, pino/bunyan 10…60)
//	error     error, err         → attribute exception.message
//	stack     stack              → attribute exception.stacktrace
//	caller    caller             → attributes code.file.path, code.line.number
//	trace id  trace_id, traceId, trace.id        32 hex digits
//	span id   span_id, spanId, span.id           16 hex digits
//	service   service.name, service, service_name → resource attribute service.name
//
// Every other field becomes an attribute with its JSON type: string, int
// (integral numbers that fit int64), double, bool, map (object), slice
// (array), empty (null). A well-known field whose value cannot be read (a
// time that is no time, an id that is no hex) is kept as an attribute under
// its own name and the line is still accepted. Strings with invalid UTF-8
// are stored with U+FFFD in place of each bad byte (encoding/json's rule).
var (
	bodyFields     = []string{"message", "msg"}
	timeFields     = []string{"time", "timestamp", "ts", "@timestamp"}
	severityFields = []string{"level", "severity", "lvl"}
	errorFields    = []string{"error", "err"}
	traceIDFields  = []string{"trace_id", "traceId", "trace.id"}
	spanIDFields   = []string{"span_id", "spanId", "span.id"}
	serviceFields  = []string{"service.name", "service", "service_name"}
)

type field struct {
	key   string
	value any
	used  bool
}

// errNotObject and friends are the reasons reported for bad lines.
var (
	errNotObject = errors.New("not a JSON object")
	errTrailing  = errors.New("unexpected data after the JSON object")
)

// parseLine decodes one line into rec and returns the service it names
// ("" for none).
func parseLine(line []byte, rec plog.LogRecord, observed time.Time) (service string, err error) {
	fields, err := decodeObject(line)
	if err != nil {
		return "", err
	}
	rec.SetObservedTimestamp(pcommon.NewTimestampFromTime(observed))
	rec.SetTimestamp(pcommon.NewTimestampFromTime(observed))

	if f := pick(fields, bodyFields); f != nil {
		if err := setValue(rec.Body(), f.value); err == nil {
			f.used = true
		}
	}
	if f := pick(fields, timeFields); f != nil {
		if t, ok := parseTime(f.value); ok {
			rec.SetTimestamp(pcommon.NewTimestampFromTime(t))
			f.used = true
		}
	}
	if f := pick(fields, severityFields); f != nil {
		if text, num, ok := parseSeverity(f.value); ok {
			rec.SetSeverityText(text)
			rec.SetSeverityNumber(num)
			f.used = true
		}
	}
	if f := pick(fields, traceIDFields); f != nil {
		var id pcommon.TraceID
		if s, ok := f.value.(string); ok && decodeHexID(s, id[:]) {
			rec.SetTraceID(id)
			f.used = true
		}
	}
	if f := pick(fields, spanIDFields); f != nil {
		var id pcommon.SpanID
		if s, ok := f.value.(string); ok && decodeHexID(s, id[:]) {
			rec.SetSpanID(id)
			f.used = true
		}
	}
	if f := pick(fields, serviceFields); f != nil {
		if s, ok := f.value.(string); ok && s != "" {
			service = s
			f.used = true
		}
	}

	// error, stack and caller are renamed in place, so attributes keep the
	// line's order.
	errF, _ := pickString(fields, errorFields)
	stackF, _ := pickString(fields, []string{"stack"})
	callerF, caller := pickString(fields, []string{"caller"})
	attrs := rec.Attributes()
	attrs.EnsureCapacity(len(fields) + 1)
	for i := range fields {
		f := &fields[i]
		switch {
		case f.used:
		case f == errF:
			attrs.PutStr("exception.message", f.value.(string))
		case f == stackF:
			attrs.PutStr("exception.stacktrace", f.value.(string))
		case f == callerF:
			file, lineNo, hasLine := splitCaller(caller)
			attrs.PutStr("code.file.path", file)
			if hasLine {
				attrs.PutInt("code.line.number", lineNo)
			}
		default:
			if err := setValue(attrs.PutEmpty(f.key), f.value); err != nil {
				return "", fmt.Errorf("field %q: %w", f.key, err)
			}
		}
	}
	return service, nil
}

// decodeObject reads one JSON object, keeping its fields in order.
func decodeObject(line []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	fields := make([]field, 0, 16)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		key, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("invalid JSON in field %q: %w", key, err)
		}
		fields = append(fields, field{key: key, value: v})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return fields, nil
}

// pick returns the first present field of the first name in names that
// is not used yet.
func pick(fields []field, names []string) *field {
	for _, name := range names {
		for i := range fields {
			if fields[i].key == name && !fields[i].used {
				return &fields[i]
			}
		}
	}
	return nil
}

// pickString is pick for fields that only play their role as non-empty
// strings.
func pickString(fields []field, names []string) (*field, string) {
	f := pick(fields, names)
	if f == nil {
		return nil, ""
	}
	if s, ok := f.value.(string); ok && s != "" {
		return f, s
	}
	return nil, ""
}

// setValue stores a decoded JSON value (UseNumber) in dst.
func setValue(dst pcommon.Value, v any) error {
	switch x := v.(type) {
	case nil:
		// empty value
	case string:
		dst.SetStr(x)
	case bool:
		dst.SetBool(x)
	case json.Number:
		if i, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			dst.SetInt(i)
			return nil
		}
		f, err := strconv.ParseFloat(x.String(), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return err
		}
		dst.SetDouble(f) // ±Inf for numbers beyond float64
	case map[string]any:
		m := dst.SetEmptyMap()
		m.EnsureCapacity(len(x))
		for k, item := range x {
			if err := setValue(m.PutEmpty(k), item); err != nil {
				return err
			}
		}
	case []any:
		s := dst.SetEmptySlice()
		s.EnsureCapacity(len(x))
		for _, item := range x {
			if err := setValue(s.AppendEmpty(), item); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unsupported JSON value %T", v)
	}
	return nil
}

// timeLayouts are the text timestamps accepted besides RFC 3339.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// parseTime reads RFC 3339-like text (without a zone: UTC) or a Unix time
// number whose unit follows from its size (s < 1e11 ≤ ms < 1e14 ≤ µs < 1e17
// ≤ ns): zerolog writes seconds, milliseconds or microseconds depending on
// TimeFieldFormat, pino milliseconds, and JavaScript Date.now() ms.
func parseTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case string:
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, x); err == nil {
				return t, true
			}
		}
		if n, err := strconv.ParseFloat(x, 64); err == nil {
			return unixTime(n)
		}
	case json.Number:
		if i, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return unixInt(i)
		}
		if f, err := strconv.ParseFloat(x.String(), 64); err == nil {
			return unixTime(f)
		}
	}
	return time.Time{}, false
}

func unixInt(i int64) (time.Time, bool) {
	switch {
	case i <= 0:
		return time.Time{}, false
	case i < 1e11:
		return time.Unix(i, 0), true
	case i < 1e14:
		return time.UnixMilli(i), true
	case i < 1e17:
		return time.UnixMicro(i), true
	default:
		return time.Unix(0, i), true
	}
}

func unixTime(f float64) (time.Time, bool) {
	if f <= 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 {
		return time.Time{}, false
	}
	switch {
	case f < 1e11:
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))), true
	case f < 1e14:
		return time.Unix(0, int64(f*1e6)), true
	case f < 1e17:
		return time.Unix(0, int64(f*1e3)), true
	default:
		return time.Unix(0, int64(f)), true
	}
}

func parseSeverity(v any) (string, plog.SeverityNumber, bool) {
	switch x := v.(type) {
	case string:
		num, _ := severity.ByName(x) // an unknown name is kept as text, unset as a number
		return x, num, true
	case json.Number:
		i, err := strconv.ParseInt(x.String(), 10, 64)
		if err != nil {
			return "", 0, false
		}
		num, ok := severity.ByNumber(i)
		if !ok {
			return "", 0, false
		}
		return x.String(), num, true
	}
	return "", 0, false
}

// decodeHexID reads hex text of exactly len(dst) bytes; all zeroes is no id.
func decodeHexID(s string, dst []byte) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return false
	}
	for _, b := range dst {
		if b != 0 {
			return true
		}
	}
	return false
}

// splitCaller splits zerolog's "path/file.go:123".
func splitCaller(s string) (file string, line int64, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return s, 0, false
	}
	n, err := strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil {
		return s, 0, false
	}
	return s[:i], n, true
}
