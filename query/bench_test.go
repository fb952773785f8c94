package query

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tracehouse/tracehouse/internal/seed"
)

// The benchmarks load seed.ManyTraces (checkouts of 8–10 spans across four
// services, one every 100 ms) through the real write path.
const benchTraces = 5000

func benchService(b *testing.B) (*Service, []pcommon.TraceID) {
	b.Helper()
	db, conn := seed.NewDatabase(b)
	ids, err := seed.WriteManyTraces(context.Background(), conn, db, benchTraces)
	if err != nil {
		b.Fatal(err)
	}
	return newService(b, conn, db, Limits{}), ids
}

// BenchmarkTraceByID reads whole traces by id (trace_index, then one
// primary-key range of spans).
func BenchmarkTraceByID(b *testing.B) {
	svc, ids := benchService(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	spans := 0
	for i := 0; i < b.N; i++ {
		td, err := svc.GetTrace(ctx, ids[(i*7919)%len(ids)])
		if err != nil {
			b.Fatal(err)
		}
		spans += td.SpanCount()
	}
	b.ReportMetric(float64(spans)/float64(b.N), "spans/op")
}

// BenchmarkSearch runs Jaeger-style searches returning 20 whole traces:
// by service, by service and operation with a duration floor, and by a
// string attribute.
func BenchmarkSearch(b *testing.B) {
	svc, _ := benchService(b)
	ctx := context.Background()
	r := TimeRange{seed.Base, seed.Base.Add(time.Duration(benchTraces) * 100 * time.Millisecond)}
	queries := map[string]TraceQuery{
		"service":           {Service: "payment", Range: r},
		"operation+latency": {Service: "gateway", Operation: "POST /checkout", MinDuration: 150 * time.Millisecond, Range: r},
		"attribute":         {Service: "order", Attributes: map[string]string{"order.id": "o-1002"}, Range: r},
		"errors":            {Service: "payment", Attributes: map[string]string{"error": "true"}, Range: r},
	}
	for name, q := range queries {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				traces, err := svc.FindTraces(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if len(traces) == 0 {
					b.Fatal("no traces found")
				}
			}
		})
	}
}

// BenchmarkLogSearch is a full-text search with a service filter, one page.
func BenchmarkLogSearch(b *testing.B) {
	db, conn := seed.NewDatabase(b)
	if err := seed.WriteManyLogs(context.Background(), conn, db, 200_000); err != nil {
		b.Fatal(err)
	}
	svc := newService(b, conn, db, Limits{})
	ctx := context.Background()
	q := LogQuery{Query: `served attr.n>=199000`, Range: TimeRange{seed.Base, seed.Base.Add(24 * time.Hour)}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		page, err := svc.SearchLogsPage(ctx, q)
		if err != nil || len(page.Entries) == 0 {
			b.Fatal(err)
		}
	}
}
