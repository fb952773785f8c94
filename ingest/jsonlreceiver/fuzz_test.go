package jsonlreceiver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// fuzzLines are seeds of both targets: the shapes zerolog, zap, slog, pino
// and bunyan write, and the bad lines the tests know. testdata/fuzz holds
// more (and every input a fuzz run found a bug with).
var fuzzLines = []string{
	`{"level":"warn","service":"payment","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","amount":12.5,"card":{"brand":"visa"},"tags":["a",1,true,null],"error":"card declined","caller":"/app/charge.go:88","time":"2026-05-01T11:59:58.123456789Z","message":"charge failed"}`,
	`{"msg":"hi","ts":1777636800.25,"severity":"ERROR","service.name":"api"}`,
	`{"timestamp":1777636800123,"level":30,"msg":"pino"}`,
	`{"time":1777636800123456,"@timestamp":1777636800123456789}`,
	`{"level":-1,"big":18446744073709551616,"neg":-5,"exp":1e3}`,
	"{\"msg\":\"bad \xff byte\",\"k\xfe\":\"v\"}",
	`{"time":"yesterday","trace_id":"xyz","level":{"n":1},"msg":"m"}`,
	`{"a":1} {"b":2}`, `[1,2]`, `{"a":`, `plain text`, `null`, `{}`,
}

// FuzzParseLine: a line never panics the parser; a line is accepted
// exactly when it is one JSON object, and an accepted record has a time.
func FuzzParseLine(f *testing.F) {
	for _, l := range fuzzLines {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rec := plog.NewLogRecord()
		_, err := parseLine(line, rec, observed)
		isObject := isOneObject(line)
		if isObject && err != nil {
			t.Fatalf("a JSON object was rejected: %v", err)
		}
		if !isObject && err == nil {
			t.Fatalf("accepted %q, which is no JSON object", line)
		}
		if err == nil && rec.Timestamp() == 0 {
			t.Fatal("an accepted record has no timestamp")
		}
	})
}

// isOneObject is the oracle of FuzzParseLine: line holds one JSON object
// and nothing but JSON whitespace after it. Numbers stay text (UseNumber),
// as in the parser: 1e700 is valid JSON though no float64 holds it
// (json.Unmarshal into any refuses it; a fuzz run found that, kept in
// testdata/fuzz/FuzzParseLine).
func isOneObject(line []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if dec.Decode(&obj) != nil || obj == nil {
		return false
	}
	return len(bytes.Trim(line[dec.InputOffset():], " \t\r\n")) == 0
}

// FuzzBody: any body gets a JSON answer (200, 207 or 400) whose counts
// add up: every non-blank line is accepted or rejected, and exactly the
// accepted ones reach the pipeline.
func FuzzBody(f *testing.F) {
	for _, l := range fuzzLines {
		f.Add([]byte(l))
	}
	f.Add([]byte(fuzzLines[0] + "\n\n" + fuzzLines[6] + "\r\nnot json\n" + fuzzLines[2]))
	cfg := createDefaultConfig().(*Config)
	cfg.MaxLineSize = 256 // long lines are reachable
	f.Fuzz(func(t *testing.T, body []byte) {
		sink := new(consumertest.LogsSink)
		r, err := newReceiver(cfg, receivertest.NewNopSettings(componentType), sink)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, cfg.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		w := httptest.NewRecorder()
		r.handle(w, req)
		var resp response
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("status %d, answer %q is not JSON: %v", w.Code, w.Body.Bytes(), err)
		}
		lines, tooLong := 0, 0
		for _, l := range bytes.Split(body, []byte("\n")) {
			if len(l) > cfg.MaxLineSize {
				tooLong++
			}
			if len(bytes.TrimSpace(l)) > 0 || len(l) > cfg.MaxLineSize {
				lines++
			}
		}
		if resp.Accepted+resp.Rejected != lines {
			t.Fatalf("%d accepted + %d rejected for %d lines (status %d)", resp.Accepted, resp.Rejected, lines, w.Code)
		}
		if resp.Rejected < tooLong {
			t.Fatalf("%d lines longer than max_line_size, %d rejected", tooLong, resp.Rejected)
		}
		if sink.LogRecordCount() != resp.Accepted {
			t.Fatalf("%d records reached the pipeline, the answer says %d", sink.LogRecordCount(), resp.Accepted)
		}
		want := http.StatusOK
		switch {
		case resp.Accepted == 0 && resp.Rejected > 0:
			want = http.StatusBadRequest
		case resp.Rejected > 0:
			want = http.StatusMultiStatus
		}
		if w.Code != want {
			t.Fatalf("status %d, want %d for %+v", w.Code, want, resp)
		}
	})
}
