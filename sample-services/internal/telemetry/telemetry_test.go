package telemetry_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tracehouse/tracehouse/sample-services/internal/otlpsink"
	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
	"github.com/tracehouse/tracehouse/sample-services/internal/testenv"
)

func TestZerologEventsBecomeOTLPLogRecords(t *testing.T) {
	collector := otlpsink.Start(t)
	tel := testenv.NewTelemetry(t, telemetry.Config{
		ServiceName:    "bridge-test",
		InstanceID:     "bridge-test-1",
		ServiceVersion: "1.2.3",
		Environment:    "test",
		OTLPEndpoint:   collector.Endpoint,
	})

	ctx, span := tel.Tracer().Start(context.Background(), "work")
	tel.Log(ctx).Warn().
		Str("order_id", "ord_1").
		Int("attempt", 2).
		Float64("ratio", 0.5).
		Bool("retry", true).
		Err(errors.New("boom")).
		Interface("nested", map[string]any{"a": 1, "b": []string{"x", "y"}}).
		Msg("payment call failed")
	span.End()
	tel.Logger.Info().Msg("no span here")
	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}

	records := map[string]otlpsink.LogRecord{}
	for _, rec := range collector.LogRecords() {
		records[rec.Body().Str()] = rec
	}
	rec, ok := records["payment call failed"]
	if !ok {
		t.Fatalf("the warning never reached the collector; got %d records", len(records))
	}
	sc := span.SpanContext()
	if rec.TraceID() != pcommon.TraceID(sc.TraceID()) || rec.SpanID() != pcommon.SpanID(sc.SpanID()) {
		t.Errorf("record ids %s/%s, want the active span's %s/%s", rec.TraceID(), rec.SpanID(), sc.TraceID(), sc.SpanID())
	}
	if !rec.Flags().IsSampled() {
		t.Errorf("record is not flagged sampled")
	}
	if rec.SeverityNumber() != plog.SeverityNumberWarn || rec.SeverityText() != "WARN" {
		t.Errorf("severity %s/%q, want WARN", rec.SeverityNumber(), rec.SeverityText())
	}
	if rec.Timestamp() == 0 {
		t.Errorf("record has no timestamp")
	}
	attrs := rec.Attributes().AsRaw()
	want := map[string]any{"order_id": "ord_1", "attempt": int64(2), "ratio": 0.5, "retry": true, "error": "boom"}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("attribute %s = %#v, want %#v", k, attrs[k], v)
		}
	}
	nested, _ := attrs["nested"].(map[string]any)
	if nested["a"] != int64(1) || len(nested["b"].([]any)) != 2 {
		t.Errorf("nested attribute = %#v, want a map with a=1 and a 2-element b", attrs["nested"])
	}
	for _, k := range []string{"message", "level", "time", "trace_id", "span_id"} {
		if _, dup := attrs[k]; dup {
			t.Errorf("%s is copied into attributes; it belongs in the record's own field", k)
		}
	}
	if got, _ := rec.Resource.Get("service.name"); got.Str() != "bridge-test" {
		t.Errorf("resource service.name = %q", got.Str())
	}
	if got, _ := rec.Resource.Get("service.version"); got.Str() != "1.2.3" {
		t.Errorf("resource service.version = %q", got.Str())
	}

	plain, ok := records["no span here"]
	if !ok {
		t.Fatal("the info line never reached the collector")
	}
	if !plain.TraceID().IsEmpty() || plain.SeverityNumber() != plog.SeverityNumberInfo {
		t.Errorf("log without span: trace %s severity %s; want no trace and INFO", plain.TraceID(), plain.SeverityNumber())
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in       string
		hostPort string
		insecure bool
		wantErr  bool
	}{
		{in: "127.0.0.1:4317", hostPort: "127.0.0.1:4317", insecure: true},
		{in: "http://collector:4317", hostPort: "collector:4317", insecure: true},
		{in: "https://collector:4317", hostPort: "collector:4317", insecure: false},
		{in: "collector", wantErr: true},
		{in: "grpc://collector:4317", wantErr: true},
		{in: "http://collector", wantErr: true},
	} {
		hostPort, insecure, err := telemetry.ParseEndpoint(tc.in)
		if (err != nil) != tc.wantErr || hostPort != tc.hostPort || insecure != tc.insecure {
			t.Errorf("ParseEndpoint(%q) = %q, %v, %v; want %q, %v, error %v", tc.in, hostPort, insecure, err, tc.hostPort, tc.insecure, tc.wantErr)
		}
	}
}
