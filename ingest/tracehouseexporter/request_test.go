package tracehouseexporter

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	pdatarequest "go.opentelemetry.io/collector/pdata/xpdata/request"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// In front of a persistent queue, a batch is queued as OTLP until the
// exporter has reached ClickHouse, and encoded from then on; the queue's
// encoding reads both back, and what exporterhelper itself stored (a queue
// written by an older version). The encoded batch is several times
// smaller than the same batch as exporterhelper stores it.
func TestQueuedBatchesAreEncodedOnceReady(t *testing.T) {
	db := chtest.NewDatabase(t)
	ctx := context.Background()
	cfg := persistentConfig(chtest.DSN(t, db), db)
	set := settings(nil)
	set.ID = component.NewID(componentType)
	exp, err := NewFactory().CreateTraces(ctx, set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := exp.(frontTraces).e
	if e.encodeOpts.Plain {
		t.Error("batches entering a persistent queue are held plain")
	}
	td := withAttributes(ingesttest.NumberedTraces(0, 2000, services, time.Now()))
	enc := queuedEncoding{sig: signalTraces}

	before, err := e.convertTraces(ctx, td)
	if err != nil {
		t.Fatal(err)
	}
	if before.(*queuedBatch).enc != nil {
		t.Fatal("a batch was encoded before the exporter reached ClickHouse")
	}
	host, stop := startStorage(t, t.TempDir())
	defer stop()
	if err := exp.Start(ctx, host); err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	after, err := e.convertTraces(ctx, td)
	if err != nil {
		t.Fatal(err)
	}
	if after.(*queuedBatch).enc == nil {
		t.Fatal("a batch was not encoded after the exporter reached ClickHouse")
	}

	asOTLP, err := enc.Marshal(ctx, before)
	if err != nil {
		t.Fatal(err)
	}
	asBlock, err := enc.Marshal(ctx, after)
	if err != nil {
		t.Fatal(err)
	}
	if 3*len(asBlock) > len(asOTLP) {
		t.Errorf("the encoded batch is %d bytes, as OTLP %d: want at most a third (it is the batch as ClickHouse gets it, LZ4-compressed)", len(asBlock), len(asOTLP))
	}
	t.Logf("%d spans queued: %d bytes encoded, %d as OTLP", td.SpanCount(), len(asBlock), len(asOTLP))

	plain, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	helpers, err := pdatarequest.MarshalTraces(ctx, td)
	if err != nil {
		t.Fatal(err)
	}
	for name, stored := range map[string][]byte{"encoded": asBlock, "OTLP": asOTLP, "exporterhelper's": helpers, "plain OTLP": plain} {
		_, req, err := enc.Unmarshal(stored)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := req.ItemsCount(); n != td.SpanCount() {
			t.Errorf("%s: %d spans read back, want %d", name, n, td.SpanCount())
		}
		if name == "encoded" && req.(*queuedBatch).enc == nil {
			t.Errorf("the encoded batch read back as pdata")
		}
	}
	if _, _, err := enc.Unmarshal(append(append([]byte{}, encodedMark...), 1, 2, 3)); err == nil {
		t.Error("a damaged encoded batch was read back")
	}

	logs := queuedEncoding{sig: signalLogs}
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	stored, err := logs.Marshal(ctx, &queuedBatch{ld: ld, sig: signalLogs})
	if err != nil {
		t.Fatal(err)
	}
	if _, req, err := logs.Unmarshal(stored); err != nil || req.ItemsCount() != 1 {
		t.Errorf("logs as OTLP read back with %v", err)
	}
}

// With the queue in memory (the default configuration) the exporter
// batches in front of the queue too, so batches enter it encoded, and
// what the senders gave is stored once.
func TestMemoryQueueHoldsEncodedBatches(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.Conn(t)
	ctx := context.Background()
	cfg := testConfig(chtest.DSN(t, "default"), db)
	if cfg.QueueConfig.Get().StorageID != nil {
		t.Fatal("the default queue is not in memory")
	}
	exp := startTraces(t, cfg, nil)
	front := exp.(frontTraces)
	if front.gc == nil {
		t.Fatal("no group commit in front of the memory queue")
	}
	if !front.e.encodeOpts.Plain {
		t.Error("batches entering a memory queue are compressed, only to be decompressed for their INSERT")
	}
	td := withAttributes(ingesttest.NumberedTraces(0, 2000, services, time.Now()))
	q, err := front.e.convertTraces(ctx, td)
	if err != nil || q.(*queuedBatch).enc == nil {
		t.Fatalf("a batch entering the memory queue is not encoded (err %v)", err)
	}
	t.Logf("%d spans held in memory: %d bytes", td.SpanCount(), q.(*queuedBatch).enc.Size())
	var wg sync.WaitGroup
	for i := range uint64(10) {
		wg.Go(func() {
			if err := exp.ConsumeTraces(ctx, ingesttest.NumberedTraces(i*200, 200, services, time.Now())); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans", 2000)
	if n := ingesttest.Count(t, conn, "SELECT uniqExact(TraceId, SpanId) FROM "+db+".spans"); n != 2000 {
		t.Fatalf("%d distinct spans stored, want 2000", n)
	}
}

// withAttributes gives every span the attributes an instrumented HTTP
// service records (about ten, as the ingest bench's spans have).
func withAttributes(td ptrace.Traces) ptrace.Traces {
	n := 0
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				a := s.Attributes()
				a.PutStr("http.request.method", []string{"GET", "POST"}[n%2])
				a.PutStr("http.route", []string{"/api/orders/{id}", "/api/cart", "/api/checkout"}[n%3])
				a.PutInt("http.response.status_code", []int64{200, 200, 201, 404, 500}[n%5])
				a.PutStr("url.scheme", "http")
				a.PutStr("server.address", "order.shop.svc.cluster.local")
				a.PutInt("server.port", 8080)
				a.PutStr("network.protocol.version", "1.1")
				a.PutStr("user_agent.original", "Go-http-client/1.1")
				a.PutStr("enduser.id", "user-"+strconv.Itoa(n%500))
				a.PutStr("order.id", "ord-"+strconv.Itoa(n))
				n++
			}
		}
	}
	return td
}
