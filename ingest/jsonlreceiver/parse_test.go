package jsonlreceiver

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var observed = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func parse(t *testing.T, line string) (plog.LogRecord, string) {
	t.Helper()
	rec := plog.NewLogRecord()
	service, err := parseLine([]byte(line), rec, observed)
	if err != nil {
		t.Fatalf("parseLine(%s): %v", line, err)
	}
	return rec, service
}

func TestZerologLine(t *testing.T) {
	rec, service := parse(t, `{"level":"warn","service":"payment","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",`+
		`"span_id":"00f067aa0ba902b7","amount":12.5,"attempt":3,"card":{"brand":"visa","last4":"4242"},"tags":["a",1,true,null],`+
		`"retry":false,"nothing":null,"error":"card declined","caller":"/app/payment/charge.go:88",`+
		`"time":"2026-05-01T11:59:58.123456789Z","message":"charge failed"}`)
	if service != "payment" {
		t.Errorf("service %q, want payment", service)
	}
	if rec.Body().Str() != "charge failed" {
		t.Errorf("body %q", rec.Body().AsString())
	}
	if rec.SeverityText() != "warn" || rec.SeverityNumber() != plog.SeverityNumberWarn {
		t.Errorf("severity %q/%v, want warn/WARN", rec.SeverityText(), rec.SeverityNumber())
	}
	if want := time.Date(2026, 5, 1, 11, 59, 58, 123456789, time.UTC); rec.Timestamp().AsTime() != want {
		t.Errorf("timestamp %v, want %v", rec.Timestamp().AsTime(), want)
	}
	if rec.ObservedTimestamp().AsTime() != observed {
		t.Errorf("observed %v, want %v", rec.ObservedTimestamp().AsTime(), observed)
	}
	if got := rec.TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id %s", got)
	}
	if got := rec.SpanID().String(); got != "00f067aa0ba902b7" {
		t.Errorf("span id %s", got)
	}
	want := map[string]any{
		"amount":            12.5,
		"attempt":           int64(3),
		"card":              map[string]any{"brand": "visa", "last4": "4242"},
		"tags":              []any{"a", int64(1), true, nil},
		"retry":             false,
		"nothing":           nil,
		"exception.message": "card declined",
		"code.file.path":    "/app/payment/charge.go",
		"code.line.number":  int64(88),
	}
	got := rec.Attributes().AsRaw()
	if len(got) != len(want) {
		t.Errorf("attributes %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || !equalRaw(g, v) {
			t.Errorf("attribute %s = %#v, want %#v", k, g, v)
		}
	}
	// Attribute order follows the line.
	var keys []string
	rec.Attributes().Range(func(k string, _ pcommon.Value) bool { keys = append(keys, k); return true })
	if strings.Join(keys, ",") != "amount,attempt,card,tags,retry,nothing,exception.message,code.file.path,code.line.number" {
		t.Errorf("attribute order %v", keys)
	}
}

func equalRaw(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !equalRaw(x[k], y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalRaw(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestAliasesAndFormats(t *testing.T) {
	for _, c := range []struct {
		name, line string
		check      func(t *testing.T, rec plog.LogRecord, service string)
	}{
		{"msg and ts in unix seconds", `{"msg":"hi","ts":1777636800.25,"severity":"ERROR","service.name":"api"}`,
			func(t *testing.T, rec plog.LogRecord, service string) {
				if rec.Body().Str() != "hi" || service != "api" || rec.SeverityNumber() != plog.SeverityNumberError {
					t.Errorf("body %q service %q severity %v", rec.Body().Str(), service, rec.SeverityNumber())
				}
				if want := time.Unix(1777636800, 250_000_000); !rec.Timestamp().AsTime().Equal(want) {
					t.Errorf("timestamp %v, want %v", rec.Timestamp().AsTime(), want)
				}
			}},
		{"timestamp in ms, pino level", `{"timestamp":1777636800123,"level":30,"msg":"pino"}`,
			func(t *testing.T, rec plog.LogRecord, _ string) {
				if want := time.UnixMilli(1777636800123); !rec.Timestamp().AsTime().Equal(want) {
					t.Errorf("timestamp %v, want %v", rec.Timestamp().AsTime(), want)
				}
				if rec.SeverityNumber() != plog.SeverityNumberInfo || rec.SeverityText() != "30" {
					t.Errorf("severity %q/%v, want 30/INFO", rec.SeverityText(), rec.SeverityNumber())
				}
			}},
		{"time in µs and ns", `{"time":1777636800123456,"@timestamp":1777636800123456789}`,
			func(t *testing.T, rec plog.LogRecord, _ string) {
				if want := time.UnixMicro(1777636800123456); !rec.Timestamp().AsTime().Equal(want) {
					t.Errorf("timestamp %v, want %v (time wins over @timestamp)", rec.Timestamp().AsTime(), want)
				}
				if _, ok := rec.Attributes().Get("@timestamp"); !ok {
					t.Error("the second time field should stay an attribute")
				}
			}},
		{"message wins over msg", `{"msg":"second","message":"first"}`,
			func(t *testing.T, rec plog.LogRecord, _ string) {
				if rec.Body().Str() != "first" || rec.Attributes().AsRaw()["msg"] != "second" {
					t.Errorf("body %q attrs %v", rec.Body().Str(), rec.Attributes().AsRaw())
				}
			}},
		{"structured message", `{"message":{"event":"login","ok":true}}`,
			func(t *testing.T, rec plog.LogRecord, _ string) {
				if rec.Body().Type() != pcommon.ValueTypeMap || rec.Body().Map().Len() != 2 {
					t.Errorf("body %s %v, want a map of 2", rec.Body().Type(), rec.Body().AsRaw())
				}
			}},
		{"unreadable well-known fields stay attributes", `{"time":"yesterday","trace_id":"xyz","level":{"n":1},"msg":"m"}`,
			func(t *testing.T, rec plog.LogRecord, _ string) {
				attrs := rec.Attributes().AsRaw()
				if attrs["time"] != "yesterday" || attrs["trace_id"] != "xyz" || attrs["level"] == nil {
					t.Errorf("attributes %v, want time, trace_id and level kept", attrs)
				}
				if !rec.TraceID().IsEmpty() || rec.Timestamp().AsTime() != observed {
					t.Errorf("trace id %s, timestamp %v: want none and the receive time", rec.TraceID(), rec.Timestamp().AsTime())
				}
			}},
		{"zerolog numeric level and big numbers", `{"level":-1,"big":18446744073709551616,"neg":-5,"exp":1e3}`,
			func(t *testing.T, rec plog.LogRecord, _ string) {
				if rec.SeverityNumber() != plog.SeverityNumberTrace {
					t.Errorf("severity %v, want TRACE", rec.SeverityNumber())
				}
				attrs := rec.Attributes().AsRaw()
				if attrs["big"] != float64(18446744073709551616) || attrs["neg"] != int64(-5) || attrs["exp"] != float64(1000) {
					t.Errorf("attributes %#v", attrs)
				}
			}},
		{"invalid UTF-8 is replaced", "{\"msg\":\"bad \xff byte\",\"k\xfe\":\"v\"}",
			func(t *testing.T, rec plog.LogRecord, _ string) {
				if rec.Body().Str() != "bad \uFFFD byte" {
					t.Errorf("body %q", rec.Body().Str())
				}
				if _, ok := rec.Attributes().Get("k\uFFFD"); !ok {
					t.Errorf("attributes %v", rec.Attributes().AsRaw())
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec, service := parse(t, c.line)
			c.check(t, rec, service)
		})
	}
}

func TestBadLines(t *testing.T) {
	for line, reason := range map[string]string{
		`[1,2]`:             "not a JSON object",
		`"text"`:            "not a JSON object",
		`{"a":1} {"b":2}`:   "unexpected data after",
		`{"a":1`:            "invalid JSON",
		`{"a":}`:            "invalid JSON",
		`plain text line`:   "invalid JSON",
		`{"a":1,}`:          "invalid JSON",
		`{"nested":{"a":[}`: "invalid JSON",
	} {
		_, err := parseLine([]byte(line), plog.NewLogRecord(), observed)
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("parseLine(%s): %v, want an error about %q", line, err, reason)
		}
	}
}
