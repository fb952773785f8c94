package writer

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/nativeblock"
	"github.com/tracehouse/tracehouse/storage/servicegraph"
)

// benchResource is the resource of the benchmarks' service name, the i-th.
func benchResource(attrs pcommon.Map, name string, i int) {
	attrs.PutStr("service.name", name)
	attrs.PutStr("service.version", "1.4.2")
	attrs.PutStr("host.name", "node-"+name)
	attrs.PutInt("process.pid", int64(1000+i))
}

// benchTraces is n spans shaped like the sample services' traces: 4
// services, traces of 8 spans, ~10 attributes per span of mixed types, an
// event on every 10th span.
func benchTraces(n int, seed byte) ptrace.Traces {
	td := ptrace.NewTraces()
	services := []string{"gateway", "auth", "order", "payment"}
	spansOf := make([]ptrace.SpanSlice, len(services))
	for i, name := range services {
		rs := td.ResourceSpans().AppendEmpty()
		benchResource(rs.Resource().Attributes(), name, i)
		rs.Resource().Attributes().PutStr("telemetry.sdk.language", "go")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		ss.Scope().SetVersion("0.70.0")
		spansOf[i] = ss.Spans()
	}
	start := pcommon.NewTimestampFromTime(time.Now().Add(-time.Minute))
	for i := range n {
		trace := i / 8
		s := spansOf[i%4].AppendEmpty()
		s.SetTraceID(pcommon.TraceID{seed, byte(trace >> 16), byte(trace >> 8), byte(trace), 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		s.SetSpanID(pcommon.SpanID{seed, byte(i >> 16), byte(i >> 8), byte(i), 1, 2, 3, 4})
		if i%8 != 0 {
			s.SetParentSpanID(pcommon.SpanID{seed, byte((i - 1) >> 16), byte((i - 1) >> 8), byte(i - 1), 1, 2, 3, 4})
		}
		s.SetName(fmt.Sprintf("POST /api/v1/op%d", i%16))
		s.SetKind(ptrace.SpanKind(1 + i%3))
		s.SetStartTimestamp(start + pcommon.Timestamp(i)*1000)
		s.SetEndTimestamp(start + pcommon.Timestamp(i)*1000 + pcommon.Timestamp(1_000_000+i%5000))
		a := s.Attributes()
		a.PutStr("http.request.method", "POST")
		a.PutStr("url.path", fmt.Sprintf("/api/v1/op%d", i%16))
		a.PutStr("server.address", "order.internal")
		a.PutInt("server.port", 8002)
		a.PutInt("http.response.status_code", 200)
		a.PutStr("user.id", fmt.Sprintf("user-%d", i%1000))
		a.PutStr("order.id", fmt.Sprintf("ord-%08d", i))
		a.PutDouble("order.amount", float64(i%10000)/100)
		a.PutBool("cache.hit", i%3 == 0)
		a.PutStr("network.protocol.version", "1.1")
		if i%10 == 0 {
			ev := s.Events().AppendEmpty()
			ev.SetName("retry")
			ev.SetTimestamp(s.StartTimestamp() + 10)
			ev.Attributes().PutInt("attempt", 2)
		}
		if i%50 == 0 {
			s.Status().SetCode(ptrace.StatusCodeError)
			s.Status().SetMessage("upstream timeout")
		}
	}
	return td
}

const benchBatch = 10_000

// BenchmarkWriteTraces is WriteTraces of 10k-span batches into the embedded
// engine over HTTP, the whole path: pdata → columns → Native → INSERT (spans
// + its materialized views) and the service-graph edges; "own blocks" is
// how the writer sends over HTTP, "batch API" how it sends over the native
// protocol (clickhouse-go's batches, one new block per INSERT).
func BenchmarkWriteTraces(b *testing.B) {
	for _, native := range []bool{false, true} {
		b.Run(map[bool]string{false: "own blocks", true: "batch API"}[native], func(b *testing.B) {
			conn, db := newStore(b)
			ctx := context.Background()
			w := NewWriter(conn, Options{Database: db, NativeProtocol: native})
			batches := make([]ptrace.Traces, 8)
			for i := range batches {
				batches[i] = benchTraces(benchBatch, byte(i))
			}
			b.ReportAllocs()
			cpu := processCPU()
			for i := 0; b.Loop(); i++ {
				// Each write differs from every earlier one: the same batch
				// again would be a retry, which ClickHouse skips by its
				// deduplication token.
				td := batches[i%len(batches)]
				td.ResourceSpans().At(0).Resource().Attributes().PutInt("bench.write", int64(i))
				if err := w.WriteTraces(ctx, td); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "spans/s")
			// CPU time of the whole process (client and the in-process engine):
			// robust to other load on the machine, unlike spans/s.
			b.ReportMetric(float64(b.N*benchBatch)/(processCPU()-cpu).Seconds(), "spans/cpu-s")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBuildSpanColumns is the client-side part alone: pdata into the
// column buffers (no driver, no ClickHouse).
func BenchmarkBuildSpanColumns(b *testing.B) {
	td := benchTraces(benchBatch, 1)
	c := newSpanColumns(anyvalue.DefaultMaxValueDepth)
	services := servicegraph.NewInterner(100)
	b.ReportAllocs()
	for b.Loop() {
		c.reset()
		var st WriteStats
		c.add(td, &st, services)
		_ = c.columns()
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkEncodeSpanBatch is the whole client side of one INSERT without
// the network: pdata into the column buffers, then the Native block.
// "driver" is clickhouse-go's way (what its batch API does: a new block per
// INSERT, every column appended through the driver) with the table's own
// types ("table") or those the writer declares over HTTP ("wire"); "writer"
// is the writer's way over HTTP (its kept block, columns that encode
// themselves).
func BenchmarkEncodeSpanBatch(b *testing.B) {
	conn, db := newStore(b)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	if err := w.WriteTraces(ctx, benchTraces(10, 9)); err != nil { // learns the types
		b.Fatal(err)
	}
	wire := w.spans.types.Load()
	w.noConvert.Store(true)
	table, err := w.describe(ctx, &w.spans, newSpanColumns(anyvalue.DefaultMaxValueDepth).columns())
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{benchBatch, 5 * benchBatch} {
		td := benchTraces(size, 1)
		for _, v := range []struct {
			name   string
			types  *insertTypes
			writer bool
		}{{"driver/table", table, false}, {"driver/wire", wire, false}, {"writer", wire, true}} {
			b.Run(fmt.Sprintf("%s/%d", v.name, size), func(b *testing.B) {
				c := newSpanColumns(anyvalue.DefaultMaxValueDepth)
				var buf chproto.Buffer
				var enc nativeblock.Encoder
				var body []byte
				b.ReportAllocs()
				cpu := processCPU()
				for b.Loop() {
					c.reset()
					var st WriteStats
					c.add(td, &st, w.services)
					if v.writer {
						if body, err = enc.Encode("", v.types.cols, c.rows, c.columns()); err != nil {
							b.Fatal(err)
						}
						continue
					}
					block := proto.NewBlock()
					for _, t := range v.types.cols {
						if err := block.AddColumn(t.Name, column.Type(t.Type)); err != nil {
							b.Fatal(err)
						}
					}
					if err := nativeblock.AppendColumns(block.Columns, c.columns()); err != nil {
						b.Fatal(err)
					}
					buf.Reset()
					if err := block.Encode(&buf, 0); err != nil {
						b.Fatal(err)
					}
					body = buf.Buf
				}
				b.ReportMetric(float64(b.N*size)/(processCPU()-cpu).Seconds(), "spans/cpu-s")
				b.ReportMetric(float64(len(body))/float64(size), "wire-B/span")
			})
		}
	}
}

// BenchmarkBlockToken is the deduplication token of a 10k-span Native
// block: the CPU every INSERT adds for idempotency (token.go).
func BenchmarkBlockToken(b *testing.B) {
	conn, db := newStore(b)
	w := NewWriter(conn, Options{Database: db})
	c := newSpanColumns(anyvalue.DefaultMaxValueDepth)
	c.add(benchTraces(benchBatch, 1), &WriteStats{}, w.services)
	p, err := w.prepare(context.Background(), &w.spans, c.rows, c.columns(), &c.block, "")
	if err != nil {
		b.Fatal(err)
	}
	block := p.body[len(w.spans.statement):]
	b.SetBytes(int64(len(block)))
	var tok [tokenHexLen]byte
	for b.Loop() {
		putBlockToken(tok[:], block, "")
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "spans/s")
}
