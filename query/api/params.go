package api

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tracehouse/tracehouse/query"
)

func badParam(param, format string, args ...any) *query.InputError {
	return &query.InputError{Param: param, Msg: fmt.Sprintf(format, args...), Position: -1}
}

// parseTraceID reads a hex trace id of 1–32 digits (shorter ids are padded
// with leading zeros, as Jaeger does for 64-bit ids).
func parseTraceID(param, s string) (pcommon.TraceID, error) {
	var id pcommon.TraceID
	if s == "" || len(s) > 32 {
		return id, badParam(param, "%q is not a trace id: use 1 to 32 hex digits", s)
	}
	padded := strings.Repeat("0", 32-len(s)) + s
	if _, err := hex.Decode(id[:], []byte(padded)); err != nil {
		return id, badParam(param, "%q is not a trace id: use hex digits (0-9, a-f)", s)
	}
	if id.IsEmpty() {
		return id, badParam(param, "%q is not a trace id: it is all zeroes", s)
	}
	return id, nil
}

// parseUnix reads an integer count of unit since the epoch (Jaeger's
// start/end in µs, endTs in ms).
func parseUnix(param, s string, unit time.Duration) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, badParam(param, "%q is not a time: give an integer count of %s since 1970-01-01 UTC", s, unitName(unit))
	}
	return time.Unix(0, 0).Add(time.Duration(n) * unit).UTC(), nil
}

func unitName(u time.Duration) string {
	switch u {
	case time.Microsecond:
		return "microseconds"
	case time.Millisecond:
		return "milliseconds"
	case time.Second:
		return "seconds"
	}
	return "nanoseconds"
}

// parseTime reads Tracehouse's time parameters: RFC 3339
// ("2025-01-02T15:04:05.123Z"), an integer since the epoch whose digit count
// says the unit (10 seconds, 13 milliseconds, 16 microseconds, 19
// nanoseconds), "now", or "now-15m".
func parseTime(param, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "now" {
		return now, nil
	}
	if rest, ok := strings.CutPrefix(s, "now-"); ok {
		d, err := parseDuration(param, rest)
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		switch digits := len(strings.TrimLeft(s, "0")); {
		case digits <= 10:
			return time.Unix(n, 0).UTC(), nil
		case digits <= 13:
			return time.UnixMilli(n).UTC(), nil
		case digits <= 16:
			return time.UnixMicro(n).UTC(), nil
		default:
			return time.Unix(0, n).UTC(), nil
		}
	}
	return time.Time{}, badParam(param, "%q is not a time: use RFC 3339 (2025-01-02T15:04:05Z), Unix seconds/ms/µs/ns, now or now-15m", s)
}

// parseDuration reads a Go duration ("1.5s", "250ms", "2h") or whole days
// ("7d").
func parseDuration(param, s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, badParam(param, "%q is not a duration: use e.g. 250ms, 1.5s, 15m, 2h or 7d", s)
	}
	return d, nil
}

// parseRange reads start/end with a default length ending now.
func parseRange(startS, endS string, now time.Time, def time.Duration) (query.TimeRange, error) {
	r := query.TimeRange{End: now}
	var err error
	if endS != "" {
		if r.End, err = parseTime("end", endS, now); err != nil {
			return r, err
		}
	}
	r.Start = r.End.Add(-def)
	if startS != "" {
		if r.Start, err = parseTime("start", startS, now); err != nil {
			return r, err
		}
	}
	return r, nil
}

// parseLimit reads a positive integer.
func parseLimit(param, s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, badParam(param, "%q is not a positive integer", s)
	}
	return n, nil
}
