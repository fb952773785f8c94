package api

import (
	"encoding/hex"
	"fmt"
	"math"
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

// parseTraceIDs reads repeated trace id parameters: each as parseTraceID,
// repeats once, and at most max distinct ids (a request must not ask for
// the same trace over and over, nor for more traces than one response
// holds).
func parseTraceIDs(param string, raw []string, max int) ([]pcommon.TraceID, error) {
	ids := make([]pcommon.TraceID, 0, min(len(raw), max))
	seen := make(map[pcommon.TraceID]bool, len(ids))
	for _, s := range raw {
		id, err := parseTraceID(param, s)
		if err != nil {
			return nil, err
		}
		if seen[id] {
			continue
		}
		if len(ids) == max {
			return nil, badParam(param, "more than %d distinct trace ids; ask for at most %d per request", max, max)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	return ids, nil
}

// The times a parameter may name: what the tables can hold (nanoseconds
// since 1970 in an Int64, ClickHouse's DateTime64(9)). A time outside
// would overflow the nanosecond arithmetic of ranges and cursors.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

func checkTime(param, s string, t time.Time) (time.Time, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, badParam(param, "%q is outside the times Tracehouse stores (%s to %s)", s, minTime.Format(time.RFC3339), maxTime.Format(time.RFC3339))
	}
	return t, nil
}

// parseUnix reads an integer count of unit since the epoch (Jaeger's
// start/end in µs, endTs in ms).
func parseUnix(param, s string, unit time.Duration) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || !allDigits(s) {
		return time.Time{}, badParam(param, "%q is not a time: give an integer count of %s since 1970-01-01 UTC", s, unitName(unit))
	}
	if n > math.MaxInt64/int64(unit) {
		return time.Time{}, badParam(param, "%q is outside the times Tracehouse stores (%s to %s)", s, minTime.Format(time.RFC3339), maxTime.Format(time.RFC3339))
	}
	return time.Unix(0, n*int64(unit)).UTC(), nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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
// nanoseconds), "now", or "now-15m". The time must lie between 1970 and
// 2262 (checkTime).
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
		if d > now.Sub(minTime) {
			return time.Time{}, badParam(param, "%q is before 1970", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return checkTime(param, s, t.UTC())
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && allDigits(s) {
		var t time.Time
		switch digits := len(strings.TrimLeft(s, "0")); {
		case digits <= 10:
			t = time.Unix(n, 0)
		case digits <= 13:
			t = time.UnixMilli(n)
		case digits <= 16:
			t = time.UnixMicro(n)
		default:
			t = time.Unix(0, n)
		}
		return checkTime(param, s, t.UTC())
	}
	return time.Time{}, badParam(param, "%q is not a time: use RFC 3339 (2025-01-02T15:04:05Z), Unix seconds/ms/µs/ns, now or now-15m", s)
}

// maxDays is the most days a duration holds (an Int64 of nanoseconds).
const maxDays = math.MaxInt64 / int64(24*time.Hour)

// parseDuration reads a Go duration ("1.5s", "250ms", "2h") or whole days
// ("7d").
func parseDuration(param, s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok && allDigits(days) {
		if n, err := strconv.ParseInt(days, 10, 64); err == nil && n <= maxDays {
			return time.Duration(n) * 24 * time.Hour, nil
		}
		return 0, badParam(param, "%q is longer than Tracehouse can count (%d days)", s, maxDays)
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
