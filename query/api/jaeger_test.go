package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/internal/seed"
)

// The structs of Jaeger's model/json package and its structuredResponse,
// written out here independently of the production ones: decoding with
// DisallowUnknownFields proves the API sends exactly Jaeger's shapes.
type (
	jsonResponse struct {
		Data   json.RawMessage `json:"data"`
		Total  int             `json:"total"`
		Limit  int             `json:"limit"`
		Offset int             `json:"offset"`
		Errors []struct {
			Code    int    `json:"code,omitempty"`
			Msg     string `json:"msg"`
			TraceID string `json:"traceID,omitempty"`
		} `json:"errors"`
	}
	jTrace struct {
		TraceID   string              `json:"traceID"`
		Spans     []jSpan             `json:"spans"`
		Processes map[string]jProcess `json:"processes"`
		Warnings  []string            `json:"warnings"`
	}
	jSpan struct {
		TraceID       string       `json:"traceID"`
		SpanID        string       `json:"spanID"`
		Flags         uint32       `json:"flags,omitempty"`
		OperationName string       `json:"operationName"`
		References    []jReference `json:"references"`
		StartTime     uint64       `json:"startTime"`
		Duration      uint64       `json:"duration"`
		Tags          []jKeyValue  `json:"tags"`
		Logs          []jLog       `json:"logs"`
		ProcessID     string       `json:"processID"`
		Warnings      []string     `json:"warnings"`
	}
	jReference struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	}
	jProcess struct {
		ServiceName string      `json:"serviceName"`
		Tags        []jKeyValue `json:"tags"`
	}
	jLog struct {
		Timestamp uint64      `json:"timestamp"`
		Fields    []jKeyValue `json:"fields"`
	}
	jKeyValue struct {
		Key   string `json:"key"`
		Type  string `json:"type,omitempty"`
		Value any    `json:"value"`
	}
	jOperation struct {
		Name     string `json:"name"`
		SpanKind string `json:"spanKind"`
	}
	jDependencyLink struct {
		Parent    string `json:"parent"`
		Child     string `json:"child"`
		CallCount uint64 `json:"callCount"`
	}
)

func decodeStrict(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("not Jaeger's shape: %v\n%s", err, data)
	}
}

func jaegerGet(t *testing.T, e *env, target string, data any) jsonResponse {
	t.Helper()
	resp, body := e.get(t, target)
	var r jsonResponse
	decodeStrict(t, body, &r)
	if resp.StatusCode == 200 && data != nil {
		decodeStrict(t, r.Data, data)
	}
	return r
}

func tag(tags []jKeyValue, key string) (jKeyValue, bool) {
	for _, kv := range tags {
		if kv.Key == key {
			return kv, true
		}
	}
	return jKeyValue{}, false
}

// checkTrace verifies what the Jaeger UI relies on.
func checkTrace(t *testing.T, tr jTrace) {
	t.Helper()
	byID := map[string]jSpan{}
	for _, s := range tr.Spans {
		byID[s.SpanID] = s
	}
	for _, s := range tr.Spans {
		if s.TraceID != tr.TraceID || len(s.SpanID) != 16 {
			t.Errorf("span %s: trace id %q (trace %q)", s.SpanID, s.TraceID, tr.TraceID)
		}
		if _, ok := tr.Processes[s.ProcessID]; !ok {
			t.Errorf("span %s: process %q is not in processes", s.SpanID, s.ProcessID)
		}
		for i, ref := range s.References {
			switch ref.RefType {
			case "CHILD_OF":
				if i != 0 {
					t.Errorf("span %s: CHILD_OF is not the first reference", s.SpanID)
				}
				if _, ok := byID[ref.SpanID]; !ok {
					t.Errorf("span %s: parent %s is not in the trace", s.SpanID, ref.SpanID)
				}
			case "FOLLOWS_FROM":
			default:
				t.Errorf("span %s: reference type %q", s.SpanID, ref.RefType)
			}
		}
		for _, kv := range s.Tags {
			ok := false
			switch kv.Type {
			case "string", "binary":
				_, ok = kv.Value.(string)
			case "bool":
				_, ok = kv.Value.(bool)
			case "int64", "float64":
				_, ok = kv.Value.(float64)
			}
			if !ok {
				t.Errorf("span %s: tag %s has type %q and value %#v", s.SpanID, kv.Key, kv.Type, kv.Value)
			}
		}
		if _, ok := tag(s.Tags, "span.kind"); !ok {
			t.Errorf("span %s has no span.kind tag", s.SpanID)
		}
	}
	for id, p := range tr.Processes {
		if p.ServiceName == "" {
			t.Errorf("process %s has no service name", id)
		}
		if _, ok := tag(p.Tags, "service.name"); ok {
			t.Errorf("process %s repeats service.name as a tag", id)
		}
	}
}

// TestJaegerClient drives the Jaeger-shaped endpoints the way the Jaeger UI
// and Grafana do: services → operations → search → trace → dependencies.
func TestJaegerClient(t *testing.T) {
	e := seeded(t)

	var services []string
	if r := jaegerGet(t, e, "/api/services", &services); r.Total != 4 || strings.Join(services, ",") != "auth,gateway,order,payment" || r.Errors != nil {
		t.Errorf("services = %v (total %d, errors %v)", services, r.Total, r.Errors)
	}
	var ops []jOperation
	jaegerGet(t, e, "/api/operations?service=order", &ops)
	if len(ops) != 3 || ops[0] != (jOperation{"POST /orders", "server"}) || ops[2] != (jOperation{"db.insert", "internal"}) {
		t.Errorf("operations = %+v", ops)
	}
	var names []string
	jaegerGet(t, e, "/api/services/payment/operations", &names)
	if strings.Join(names, ",") != "POST /charge" {
		t.Errorf("legacy operations = %v", names)
	}

	var traces []jTrace
	jaegerGet(t, e, "/api/traces?"+q("service", "order", "operation", "POST payment/charge", "tags", `{"retry.attempt":"1"}`,
		"start", us(start), "end", us(end), "limit", "20"), &traces)
	if len(traces) != 1 || traces[0].TraceID != seed.TraceFailed.String() || len(traces[0].Spans) != 10 {
		t.Fatalf("search found %d traces", len(traces))
	}
	checkTrace(t, traces[0])
	failed := traces[0]
	var declined jSpan
	for _, s := range failed.Spans {
		if s.OperationName == "POST /charge" {
			declined = s
			break
		}
	}
	if kv, _ := tag(declined.Tags, "error"); kv.Value != true || kv.Type != "bool" {
		t.Errorf("declined charge: error tag %+v", kv)
	}
	if kv, _ := tag(declined.Tags, "otel.status_code"); kv.Value != "ERROR" {
		t.Errorf("declined charge: otel.status_code %+v", kv)
	}
	if kv, _ := tag(declined.Tags, "http.response.status_code"); kv.Type != "int64" || kv.Value != float64(402) {
		t.Errorf("declined charge: status code tag %+v", kv)
	}
	if len(declined.Logs) != 1 || declined.Logs[0].Fields[0] != (jKeyValue{"event", "string", "exception"}) {
		t.Errorf("declined charge: logs %+v", declined.Logs)
	}
	if p := failed.Processes[declined.ProcessID]; p.ServiceName != "payment" {
		t.Errorf("declined charge: process %+v", p)
	}
	if declined.Duration != 55_000 || declined.StartTime != uint64(seed.Base.Add(time.Minute+47*time.Millisecond).UnixMicro()) {
		t.Errorf("declined charge: start %d, duration %d µs", declined.StartTime, declined.Duration)
	}

	var one []jTrace
	r := jaegerGet(t, e, "/api/traces/a3ce929d0e0e4738", &one)
	if len(one) != 1 || one[0].TraceID != "a3ce929d0e0e4738" || r.Errors != nil {
		t.Fatalf("64-bit trace id: %+v", one)
	}
	checkTrace(t, one[0])
	health := one[0].Spans[0]
	if len(health.References) != 1 || health.References[0] != (jReference{"FOLLOWS_FROM", seed.TraceOK.String(), seed.SpanID(seed.TraceOK, 1).String()}) {
		t.Errorf("link as reference: %+v", health.References)
	}
	if kv, _ := tag(health.Tags, "w3c.tracestate"); kv.Value != "vendor=th" {
		t.Errorf("trace state tag: %+v", kv)
	}
	if p := one[0].Processes["p1"]; p.ServiceName != "auth" {
		t.Errorf("process: %+v", p)
	} else if kv, _ := tag(p.Tags, "host.name"); kv.Value != "auth-2" {
		t.Errorf("process tags: %+v", p.Tags)
	}

	r = jaegerGet(t, e, "/api/traces/"+seed.TraceMissing.String(), nil)
	if len(r.Errors) != 1 || r.Errors[0].Code != 404 || r.Data != nil && string(r.Data) != "null" {
		t.Errorf("missing trace: %+v", r)
	}

	var deps []jDependencyLink
	jaegerGet(t, e, "/api/dependencies?"+q("endTs", ms(end), "lookback", "3600000"), &deps)
	want := []jDependencyLink{{"gateway", "auth", 2}, {"gateway", "order", 2}, {"order", "payment", 3}}
	if fmt.Sprint(deps) != fmt.Sprint(want) {
		t.Errorf("dependencies = %+v, want %+v", deps, want)
	}
}
