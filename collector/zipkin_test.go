package collector

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/zipkin"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// jaegerTrace is /api/traces/{id}'s answer, the parts this test reads.
type jaegerTrace struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			References    []struct {
				RefType string `json:"refType"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
			Tags []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
			ProcessID string `json:"processID"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
}

// A trace from the OpenTelemetry Go SDK's Zipkin exporter (Zipkin v2 JSON)
// reads back through the Jaeger API with its parent/child links, span
// kinds, tags, status and service names.
func TestZipkinTraceReadsBack(t *testing.T) {
	addr := freeAddr(t)
	a := startAllInOne(t, Receivers{Zipkin: addr})

	send := func(service string, fn func(trace.Tracer)) {
		exp, err := zipkin.New("http://" + addr + "/api/v2/spans")
		if err != nil {
			t.Fatal(err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
			sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))))
		fn(tp.Tracer("zipkin-test"))
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var traceID trace.TraceID
	var parentID, childID, remoteID trace.SpanID
	var remoteCtx trace.SpanContext
	send("storefront", func(tr trace.Tracer) {
		ctx, parent := tr.Start(context.Background(), "GET /checkout", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", "GET"), attribute.Int("cart.items", 3)))
		_, child := tr.Start(ctx, "POST payments", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("peer.service", "payments")))
		child.SetStatus(codes.Error, "card declined")
		remoteCtx = child.SpanContext()
		time.Sleep(2 * time.Millisecond)
		child.End()
		parent.End()
		traceID, parentID, childID = parent.SpanContext().TraceID(), parent.SpanContext().SpanID(), child.SpanContext().SpanID()
	})
	// The payments service continues the trace in another process.
	send("payments", func(tr trace.Tracer) {
		ctx := trace.ContextWithRemoteSpanContext(context.Background(), remoteCtx)
		_, span := tr.Start(ctx, "charge", trace.WithSpanKind(trace.SpanKindServer))
		remoteID = span.SpanContext().SpanID()
		span.End()
	})

	var got jaegerTrace
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := httpClient.Get("http://" + a.api + "/api/traces/" + traceID.String())
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			got = jaegerTrace{}
			decodeJSON(t, body.Bytes(), &got)
			if len(got.Data) == 1 && len(got.Data[0].Spans) == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s: %d %s", traceID, res.StatusCode, body.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	tr := got.Data[0]
	spans := map[string]int{}
	for i, s := range tr.Spans {
		spans[s.SpanID] = i
	}
	tag := func(id trace.SpanID, key string) any {
		for _, kv := range tr.Spans[spans[id.String()]].Tags {
			if kv.Key == key {
				return kv.Value
			}
		}
		return nil
	}
	service := func(id trace.SpanID) string { return tr.Processes[tr.Spans[spans[id.String()]].ProcessID].ServiceName }
	parentOf := func(id trace.SpanID) string {
		for _, r := range tr.Spans[spans[id.String()]].References {
			if r.RefType == "CHILD_OF" {
				return r.SpanID
			}
		}
		return ""
	}
	for _, id := range []trace.SpanID{parentID, childID, remoteID} {
		if _, ok := spans[id.String()]; !ok {
			t.Fatalf("span %s missing from %+v", id, tr.Spans)
		}
	}
	if p := parentOf(parentID); p != "" {
		t.Errorf("root span has parent %s", p)
	}
	if p := parentOf(childID); p != parentID.String() {
		t.Errorf("client span's parent %s, want %s", p, parentID)
	}
	if p := parentOf(remoteID); p != childID.String() {
		t.Errorf("payments span's parent %s, want the client span %s", p, childID)
	}
	for id, want := range map[trace.SpanID]string{parentID: "server", childID: "client", remoteID: "server"} {
		if got := tag(id, "span.kind"); got != want {
			t.Errorf("span %s: span.kind %v, want %s", tr.Spans[spans[id.String()]].OperationName, got, want)
		}
	}
	// Zipkin tags are strings (the receiver does not guess types:
	// parse_string_tags would turn an id such as "0123" into 123).
	if tag(parentID, "http.request.method") != "GET" || tag(parentID, "cart.items") != "3" || tag(childID, "peer.service") != "payments" {
		t.Errorf("tags: %+v / %+v", tr.Spans[spans[parentID.String()]].Tags, tr.Spans[spans[childID.String()]].Tags)
	}
	errorTags := map[any]bool{}
	for _, kv := range tr.Spans[spans[childID.String()]].Tags {
		if kv.Key == "error" {
			errorTags[kv.Value] = true
		}
	}
	if tag(childID, "otel.status_code") != "ERROR" || !errorTags[true] || !errorTags["card declined"] {
		t.Errorf("the failed call's status is lost: %+v", tr.Spans[spans[childID.String()]].Tags)
	}
	if service(parentID) != "storefront" || service(remoteID) != "payments" {
		t.Errorf("services %q and %q, want storefront and payments", service(parentID), service(remoteID))
	}
	// Zipkin's model keeps span names in lower case.
	if tr.Spans[spans[parentID.String()]].OperationName != "get /checkout" {
		t.Errorf("operation %q", tr.Spans[spans[parentID.String()]].OperationName)
	}
}
