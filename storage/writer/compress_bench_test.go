package writer

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/nativeblock"
)

// benchLogs is n log records shaped like the sample services' zerolog
// output, with the trace and span ids of benchTraces(n, seed): 4 services, a level, a message out of a dozen with an id in it,
// the trace and span of the request, ~6 attributes of mixed types.
func benchLogs(n int, seed byte) plog.Logs {
	ld := plog.NewLogs()
	services := []string{"gateway", "auth", "order", "payment"}
	recordsOf := make([]plog.LogRecordSlice, len(services))
	for i, name := range services {
		rl := ld.ResourceLogs().AppendEmpty()
		benchResource(rl.Resource().Attributes(), name, i)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("github.com/rs/zerolog")
		recordsOf[i] = sl.LogRecords()
	}
	messages := []string{"request served", "token issued", "order created", "payment authorized",
		"cache miss", "retrying upstream call", "inventory reserved", "card declined by issuer",
		"slow query", "connection reset by peer", "shipment scheduled", "user session refreshed"}
	levels := []plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberInfo, plog.SeverityNumberDebug, plog.SeverityNumberWarn, plog.SeverityNumberError}
	start := pcommon.NewTimestampFromTime(time.Now().Add(-time.Minute))
	for i := range n {
		trace := i / 8
		rec := recordsOf[i%4].AppendEmpty()
		rec.SetTimestamp(start + pcommon.Timestamp(i)*1000)
		rec.SetObservedTimestamp(start + pcommon.Timestamp(i)*1000 + 5000)
		rec.SetTraceID(pcommon.TraceID{seed, byte(trace >> 16), byte(trace >> 8), byte(trace), 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		rec.SetSpanID(pcommon.SpanID{seed, byte(i >> 16), byte(i >> 8), byte(i), 1, 2, 3, 4})
		level := levels[i%len(levels)]
		rec.SetSeverityNumber(level)
		rec.SetSeverityText(level.String())
		msg := messages[i%len(messages)]
		rec.Body().SetStr(fmt.Sprintf("%s order=ord-%08d user=user-%d", msg, i, i%1000))
		a := rec.Attributes()
		a.PutStr("http.route", fmt.Sprintf("/api/v1/op%d", i%16))
		a.PutStr("user.id", fmt.Sprintf("user-%d", i%1000))
		a.PutInt("http.response.status_code", int64([]int{200, 200, 201, 404, 500}[i%5]))
		a.PutDouble("duration_ms", float64(i%5000)/10)
		a.PutBool("retry", i%7 == 0)
		a.PutStr("caller", fmt.Sprintf("handler.go:%d", 40+i%60))
	}
	return ld
}

// withRandomIDs gives td and ld what real telemetry has and the generators
// above do not: random trace and span ids (24 bytes a span that no
// compression shrinks; the generators count them up, which compresses to
// almost nothing) and start times and durations with nanosecond jitter.
// The logs take the ids of the spans they were generated with.
func withRandomIDs(td ptrace.Traces, ld plog.Logs, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	traces := map[pcommon.TraceID]pcommon.TraceID{}
	spans := map[pcommon.SpanID]pcommon.SpanID{}
	traceOf := func(id pcommon.TraceID) pcommon.TraceID {
		if n, ok := traces[id]; ok {
			return n
		}
		var n pcommon.TraceID
		rng.Read(n[:])
		traces[id] = n
		return n
	}
	spanOf := func(id pcommon.SpanID) pcommon.SpanID {
		if id.IsEmpty() {
			return id
		}
		if n, ok := spans[id]; ok {
			return n
		}
		var n pcommon.SpanID
		rng.Read(n[:])
		spans[id] = n
		return n
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				s.SetTraceID(traceOf(s.TraceID()))
				s.SetSpanID(spanOf(s.SpanID()))
				s.SetParentSpanID(spanOf(s.ParentSpanID()))
				start := s.StartTimestamp() + pcommon.Timestamp(rng.Int63n(1_000_000))
				s.SetStartTimestamp(start)
				s.SetEndTimestamp(start + pcommon.Timestamp(rng.ExpFloat64()*20e6))
			}
		}
	}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				r.SetTraceID(traceOf(r.TraceID()))
				r.SetSpanID(spanOf(r.SpanID()))
				t := r.Timestamp() + pcommon.Timestamp(rng.Int63n(1_000_000))
				r.SetTimestamp(t)
				r.SetObservedTimestamp(t + pcommon.Timestamp(rng.Int63n(5_000_000)))
			}
		}
	}
}

// byteCounter is a TCP proxy in front of the engine that counts the bytes
// crossing it each way: what a network between the writer and ClickHouse
// carries (HTTP headers, hellos and DESCRIBEs included).
type byteCounter struct {
	ln       net.Listener
	up, down atomic.Int64 // client → server, server → client
	wg       sync.WaitGroup
}

func newByteCounter(tb testing.TB, target string) *byteCounter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c := &byteCounter{ln: ln}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			c.wg.Add(2)
			pipe := func(dst, src net.Conn, n *atomic.Int64) {
				defer c.wg.Done()
				io.Copy(countingWriter{dst, n}, src)
				dst.Close()
				src.Close()
			}
			go pipe(server, client, &c.up)
			go pipe(client, server, &c.down)
		}
	}()
	tb.Cleanup(func() { ln.Close(); c.wg.Wait() })
	return c
}

// countingWriter counts what it writes as it goes: the connections stay
// open between requests.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n.Add(int64(k))
	return k, err
}

// BenchmarkInsertCompression writes 10k spans (with their edges) and 10k
// log records per op through the writer to the embedded engine over HTTP,
// through a TCP proxy that counts the bytes, with each body compression a
// DSN can ask for. Metrics per item (a span or a record): body-B is what
// WriteStats.Bytes counts (INSERT bodies as sent), up-B the bytes the
// client sent over TCP (bodies, HTTP headers, the driver's other
// requests), items/cpu-s the process's CPU (writer and engine: the engine
// decompresses in the same process). Run:
//
//	go test ./storage/writer -run '^$' -bench 'InsertCompression|CompressBody' -benchtime 20x
func BenchmarkInsertCompression(b *testing.B) {
	for _, c := range []struct{ name, param string }{
		{"none", ""}, {"lz4", "?compress=lz4"}, {"lz4hc", "?compress=lz4hc"}, {"zstd", "?compress=zstd"},
	} {
		b.Run(c.name, func(b *testing.B) {
			_, db := newStore(b)
			counter := newByteCounter(b, chtest.Server(b).Addr())
			ctx := context.Background()
			conn, err := storage.Open(ctx, chtest.DSNVia(b, counter.ln.Addr().String(), db)+c.param)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			w := NewWriter(conn, Options{Database: db})
			traces := make([]ptrace.Traces, 4)
			logs := make([]plog.Logs, len(traces))
			for i := range traces {
				traces[i], logs[i] = benchTraces(benchBatch, byte(i)), benchLogs(benchBatch, byte(i))
				withRandomIDs(traces[i], logs[i], int64(i))
			}
			// The first write learns the column types (DESCRIBE): not counted.
			if err := w.WriteTraces(ctx, benchTraces(10, 0xee)); err != nil {
				b.Fatal(err)
			}
			if err := w.WriteLogs(ctx, benchLogs(10, 0xee)); err != nil {
				b.Fatal(err)
			}
			up0, cpu := counter.up.Load(), processCPU()
			var body int
			for i := 0; b.Loop(); i++ {
				td, ld := traces[i%len(traces)], logs[i%len(logs)]
				// Every write differs: the same batch again is a retry,
				// which ClickHouse skips by its deduplication token.
				td.ResourceSpans().At(0).Resource().Attributes().PutInt("bench.write", int64(i))
				ld.ResourceLogs().At(0).Resource().Attributes().PutInt("bench.write", int64(i))
				st, err := w.WriteTracesStats(ctx, td)
				if err != nil {
					b.Fatal(err)
				}
				lst, err := w.WriteLogsStats(ctx, ld)
				if err != nil {
					b.Fatal(err)
				}
				body += st.Bytes + lst.Bytes
			}
			items := float64(2 * b.N * benchBatch)
			b.ReportMetric(float64(body)/items, "body-B/item")
			b.ReportMetric(float64(counter.up.Load()-up0)/items, "up-B/item")
			b.ReportMetric(items/(processCPU()-cpu).Seconds(), "items/cpu-s")
		})
	}
}

// BenchmarkCompressBody is the compression alone: a 10k-span INSERT body
// (statement and Native block, as the writer sends it) into ClickHouse's
// frames. MB/s is of the plain body; ratio is plain bytes over compressed.
func BenchmarkCompressBody(b *testing.B) {
	conn, db := newStore(b)
	w := NewWriter(conn, Options{Database: db})
	bodies := map[string][]byte{}
	td, ld := benchTraces(benchBatch, 1), benchLogs(benchBatch, 1)
	withRandomIDs(td, ld, 1)
	c := newSpanColumns(anyvalue.DefaultMaxValueDepth)
	c.add(td, &WriteStats{}, w.services)
	p, err := w.prepare(context.Background(), &w.spans, c.rows, c.columns(), &c.block, "")
	if err != nil {
		b.Fatal(err)
	}
	bodies["spans"] = append([]byte(nil), p.body...)
	lc := newLogColumns(anyvalue.DefaultMaxValueDepth)
	lc.add(ld, &WriteStats{})
	if p, err = w.prepare(context.Background(), &w.logs, lc.rows, lc.columns(), &lc.block, ""); err != nil {
		b.Fatal(err)
	}
	bodies["logs"] = append([]byte(nil), p.body...)
	for _, table := range []string{"spans", "logs"} {
		body := bodies[table]
		for _, m := range []compress.Method{compress.LZ4, compress.LZ4HC, compress.ZSTD} {
			b.Run(fmt.Sprintf("%s/%s", table, m), func(b *testing.B) {
				frames := nativeblock.NewFrames(m)
				var enc nativeblock.Encoder
				var out []byte
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if out, err = enc.Compress(body, frames); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(body))/float64(len(out)), "ratio")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/item")
			})
		}
	}
}
