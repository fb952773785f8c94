package collector

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/reader"
)

// rawCodec sends bytes as they are, to put malformed protobuf on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// Bad input to a running collector: each bad request gets its error and
// the collector keeps serving (a valid request after each one is stored);
// odd but valid data is stored as the comments say.
func TestBadInputToOTLPReceiver(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	ep := newEndpoints(t)
	startPipeline(t, testConfig(ep, chtest.DSN(t, "default"), db, `
    sending_queue:
      batch:
        flush_timeout: 100ms`, ""))

	services := []string{"gateway", "order"}
	now := time.Now()
	var neighbours uint64
	sendNeighbour := func(after string) {
		t.Helper()
		td := ingesttest.NumberedTraces(neighbours*ingesttest.SpansPerTrace, ingesttest.SpansPerTrace, services, now)
		if code, _, body := postOTLP(t, ep.http, "/v1/traces", "application/x-protobuf", tracesProto(t, td)); code != http.StatusOK {
			t.Fatalf("valid request after %s: %d %s", after, code, body)
		}
		neighbours++
	}
	sendNeighbour("start")

	valid := tracesProto(t, ingesttest.NumberedTraces(1000, 8, services, now))
	for _, c := range []struct {
		name, path, contentType string
		body                    []byte
		want                    int
	}{
		{"malformed protobuf", "/v1/traces", "application/x-protobuf", []byte("\x0a\xff\xff\xff\xff\x0f not protobuf"), http.StatusBadRequest},
		{"truncated protobuf", "/v1/traces", "application/x-protobuf", valid[:len(valid)/2], http.StatusBadRequest},
		{"malformed protobuf logs", "/v1/logs", "application/x-protobuf", []byte("\x12\x05\x0a\x03\xff"), http.StatusBadRequest},
		{"malformed JSON", "/v1/traces", "application/json", []byte(`{"resourceSpans":[{`), http.StatusBadRequest},
		{"JSON of the wrong shape", "/v1/logs", "application/json", []byte(`{"resourceLogs":"nope"}`), http.StatusBadRequest},
		{"wrong content type", "/v1/traces", "text/plain", []byte("hello"), http.StatusUnsupportedMediaType},
		{"no content type", "/v1/traces", "", valid, http.StatusUnsupportedMediaType},
	} {
		code, _, body := postOTLP(t, ep.http, c.path, c.contentType, c.body)
		if code != c.want {
			t.Errorf("%s: %d %q, want %d", c.name, code, body, c.want)
		}
		sendNeighbour(c.name)
	}

	// gRPC: a malformed message fails in grpc-go's own decoding, before
	// the receiver, with INTERNAL ("grpc: failed to unmarshal the received
	// message"); gRPC has no separate "bad message" code for that.
	cc := grpcConn(t, ep.grpc)
	var reply []byte
	err := cc.Invoke(context.Background(), "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
		[]byte("\x0a\xff\xff\xff\xff\x0f garbage"), &reply, grpc.ForceCodec(rawCodec{}))
	if st, _ := status.FromError(err); st.Code() != codes.Internal || !strings.Contains(st.Message(), "unmarshal") {
		t.Errorf("malformed protobuf over gRPC: %v, want INTERNAL from grpc-go's unmarshalling", err)
	}
	sendNeighbour("malformed gRPC")

	// Odd but valid data, with well-formed neighbours in the same request:
	//   invalid UTF-8      stored, each bad byte replaced by U+FFFD
	//   10,000 attributes  stored and read back in full
	//   a duplicated span  stored twice (at-least-once is the contract);
	//                      GetTrace returns it once
	weird := ptrace.NewTraces()
	rs := weird.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "weird")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	id := pcommon.TraceID{0xee, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	add := func(n byte) ptrace.Span {
		s := spans.AppendEmpty()
		s.SetTraceID(id)
		s.SetSpanID(pcommon.SpanID{0xee, n})
		s.SetName("op")
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		return s
	}
	bad := add(1)
	bad.SetName("GET /caf\xe9")
	bad.Attributes().PutStr("user\xff", "na\xefve")
	wide := add(2)
	for i := range 10_000 {
		wide.Attributes().PutInt(fmt.Sprintf("k%05d", i), int64(i))
	}
	dup := add(3)
	dup.CopyTo(spans.AppendEmpty()) // span 3, twice
	add(4)
	if code, _, body := postOTLP(t, ep.http, "/v1/traces", "application/x-protobuf", tracesProto(t, weird)); code != http.StatusOK {
		t.Fatalf("request with invalid UTF-8, 10k attributes and a duplicate: %d %s, want 200", code, body)
	}

	// A log body nested 1000 levels deep, with a plain neighbour:
	//   as protobuf  the receiver refuses the request with 400 (pdata's
	//                decoder stops at 100 nested messages, about 33 map
	//                levels) and says why; the sender must not retry it
	//   as JSON      stored; 128 levels as structure, the rest as its
	//                OTLP/JSON text (anyvalue.DefaultMaxValueDepth)
	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	deep := recs.AppendEmpty()
	deep.SetTraceID(id)
	deep.SetTimestamp(pcommon.NewTimestampFromTime(now))
	m := deep.Body().SetEmptyMap()
	for range 999 {
		m = m.PutEmptyMap("child")
	}
	m.PutStr("leaf", "bottom")
	plain := recs.AppendEmpty()
	plain.SetTraceID(id)
	plain.SetTimestamp(pcommon.NewTimestampFromTime(now))
	plain.Body().SetStr("neighbour")
	code, _, body := postOTLP(t, ep.http, "/v1/logs", "application/x-protobuf", logsProto(t, ld))
	if code != http.StatusBadRequest || !strings.Contains(string(body), "recursion depth") {
		t.Errorf("log with a deep body as protobuf: %d %q, want 400 naming the recursion depth", code, body)
	}
	asJSON, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, body := postOTLP(t, ep.http, "/v1/logs", "application/json", asJSON); code != http.StatusOK {
		t.Fatalf("log with a deep body as JSON: %d %s, want 200", code, body)
	}

	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans WHERE ServiceName != 'weird'", neighbours*ingesttest.SpansPerTrace)
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans WHERE ServiceName = 'weird'", 5)
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".logs", 2)

	rd := readerOf(t, conn, db)
	got, err := rd.GetTrace(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.SpanCount() != 4 {
		t.Errorf("GetTrace: %d spans, want 4 (the duplicate once)", got.SpanCount())
	}
	for _, s := range got.ResourceSpans().At(0).ScopeSpans().At(0).Spans().All() {
		switch s.SpanID()[1] {
		case 1:
			v, ok := s.Attributes().Get("user\uFFFD")
			if s.Name() != "GET /caf\uFFFD" || !ok || v.Str() != "na\uFFFDve" {
				t.Errorf("invalid UTF-8 read back as name %q, attributes %v", s.Name(), s.Attributes().AsRaw())
			}
		case 2:
			if s.Attributes().Len() != 10_000 {
				t.Errorf("wide span read back with %d attributes, want 10000", s.Attributes().Len())
			}
		}
	}
	logs, err := rd.GetLogs(context.Background(), reader.LogFilter{TraceID: id})
	if err != nil {
		t.Fatal(err)
	}
	levels := 0
	for _, rec := range logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().All() {
		v := rec.Body()
		for v.Type() == pcommon.ValueTypeMap {
			levels++
			v, _ = v.Map().Get("child")
		}
	}
	if levels != anyvalue.DefaultMaxValueDepth {
		t.Errorf("deep body read back with %d map levels, want %d", levels, anyvalue.DefaultMaxValueDepth)
	}
}
