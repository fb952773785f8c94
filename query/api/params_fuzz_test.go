package api

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tracehouse/tracehouse/query"
)

// The parsers of the API's trace id and time parameters take any text a
// client sends. Their fuzz targets check that they never panic, refuse
// with an *query.InputError naming the parameter, and accept only values
// the rest of the service can work with (seed corpora in
// testdata/fuzz/<target>).

// fuzzNow is the clock of the time fuzz targets.
var fuzzNow = time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)

func checkInputError(t *testing.T, param, s string, err error) {
	t.Helper()
	var ie *query.InputError
	if !errors.As(err, &ie) || ie.Param != param || ie.Msg == "" {
		t.Fatalf("%q: %T %v is not an InputError for %s", s, err, err, param)
	}
}

func FuzzParseTraceID(f *testing.F) {
	for _, s := range []string{"4bf92f3577b34da6a3ce929d0e0e4736", "A3CE929D0E0E4736", "1", "0", "", "zz", "0x12", " 1", "4bf92f3577b34da6a3ce929d0e0e47361"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseTraceID("traceID", s)
		if err != nil {
			checkInputError(t, "traceID", s, err)
			return
		}
		if id.IsEmpty() {
			t.Fatalf("%q: accepted as the empty trace id", s)
		}
		if want := strings.Repeat("0", 32-len(s)) + strings.ToLower(s); hex.EncodeToString(id[:]) != want {
			t.Fatalf("%q: read as %x", s, id[:])
		}
	})
}

func FuzzParseTraceIDs(f *testing.F) {
	for _, s := range []string{"1,2,3", "1,1,01,001", "a,b,c,d,e,f", "", "1,,2", "4bf92f3577b34da6a3ce929d0e0e4736,4BF92F3577B34DA6A3CE929D0E0E4736"} {
		f.Add(s)
	}
	const max = 5
	f.Fuzz(func(t *testing.T, s string) {
		raw := strings.Split(s, ",")
		ids, err := parseTraceIDs("traceID", raw, max)
		if err != nil {
			checkInputError(t, "traceID", s, err)
			return
		}
		if len(ids) == 0 || len(ids) > max {
			t.Fatalf("%q: %d ids", s, len(ids))
		}
		seen := map[pcommon.TraceID]bool{}
		for _, id := range ids {
			if seen[id] || id.IsEmpty() {
				t.Fatalf("%q: %x twice or empty", s, id[:])
			}
			seen[id] = true
		}
		for _, r := range raw {
			if id, err := parseTraceID("traceID", r); err != nil || !seen[id] {
				t.Fatalf("%q: %q is not among the ids (%v)", s, r, err)
			}
		}
	})
}

// representable tells a time the service can compute with: between 1970
// and the last nanosecond an Int64 counts.
func representable(tm time.Time) bool {
	return !tm.Before(minTime) && !tm.After(maxTime) && time.Unix(0, tm.UnixNano()).Equal(tm)
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2025-01-02T15:04:05Z", "2025-01-02T15:04:05.123456789+02:00", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z",
		"1969-12-31T23:59:59Z", "2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775808Z",
		"1735830245", "1735830245123", "1735830245123456", "1735830245123456789", "9999999999", "9999999999999",
		"9999999999999999", "9223372036854775807", "9223372036854775808", "0", "00000000000000000001", "-1", "+1",
		"now", "now-15m", "now-7d", "now-106752d", "now-9223372036854775807ns", "now--1s", "now-", " now ", "yesterday",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseTime("start", s, fuzzNow)
		if err != nil {
			checkInputError(t, "start", s, err)
			return
		}
		if !representable(tm) {
			t.Fatalf("%q: accepted as %s, outside what the service can compute with", s, tm)
		}
		if strings.HasPrefix(strings.TrimSpace(s), "now") && tm.After(fuzzNow) {
			t.Fatalf("%q: %s is after now", s, tm)
		}
		if again, _ := parseTime("start", s, fuzzNow); !again.Equal(tm) {
			t.Fatalf("%q: %s, then %s", s, tm, again)
		}
	})
}

func FuzzParseUnix(f *testing.F) {
	for _, s := range []string{"1748779200000000", "0", "9223372036854775", "9223372036854776", "9223372036854775807", "-5", "+5", "1e6", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, unit := range []time.Duration{time.Microsecond, time.Millisecond} {
			tm, err := parseUnix("start", s, unit)
			if err != nil {
				checkInputError(t, "start", s, err)
				continue
			}
			if !representable(tm) {
				t.Fatalf("%q (%s): accepted as %s, outside what the service can compute with", s, unit, tm)
			}
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"250ms", "1.5s", "15m", "2h", "7d", "106751d", "106752d", "0d", "-1d", "d", "1e3h", "-1s", "2562047h47m16.854775807s", "2562047h47m16.854775808s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration("lookback", s)
		if err != nil {
			checkInputError(t, "lookback", s, err)
			return
		}
		if d < 0 {
			t.Fatalf("%q: accepted as %s", s, d)
		}
	})
}
