// Command bench measures the embedded ClickHouse as Tracehouse uses it and
// prints a table: Native batch inserts of span-shaped rows into the real
// spans table, and trace-by-id lookups through trace_index once the table
// holds --spans rows. Run it with `make bench`.
package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/internal/bench/benchenv"
	"github.com/tracehouse/tracehouse/storage/schema"
)

func main() {
	spans := flag.Int("spans", 1_000_000, "spans to insert before measuring lookups")
	batchSize := flag.Int("batch", 10_000, "rows per insert batch")
	lookups := flag.Int("lookups", 300, "trace-by-id lookups to time")
	table := flag.String("table", "spans", "insert into this table; another name makes a copy of spans without its materialized views")
	keep := flag.String("data", "", "data folder (default: a temporary one, removed afterwards)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the insert phase here")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*spans, *batchSize, *lookups, *keep, *table); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(total, batchSize, lookups int, dataDir, table string) error {
	ctx := context.Background()
	env, err := benchenv.Start(ctx, dataDir)
	if err != nil {
		return err
	}
	defer env.Close()
	conn := env.Conn

	if table != schema.SpansTable {
		if err := conn.Exec(ctx, "CREATE TABLE "+table+" AS "+schema.SpansTable); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "inserting %d span-shaped rows in batches of %d...\n", total, batchSize)
	gen := newSpanGen(time.Now().Add(-time.Hour))
	var sendRates []float64
	var sendTime time.Duration
	start := time.Now()
	cpuStart := cpuTime()
	for done := 0; done < total; done += batchSize {
		n := min(batchSize, total-done)
		rows := gen.next(n)
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, Duration, StatusCode, ServiceName, ResourceAttributes, AttrStr, AttrInt)")
		if err != nil {
			return err
		}
		if err := rows.appendTo(batch); err != nil {
			return err
		}
		t0 := time.Now()
		if err := batch.Send(); err != nil {
			return err
		}
		d := time.Since(t0)
		sendTime += d
		sendRates = append(sendRates, float64(n)/d.Seconds())
		if len(sendRates)%20 == 0 {
			fmt.Fprintf(os.Stderr, "  %d/%d rows, %.0f rows/s (Send)\n", done+n, total, float64(done+n)/sendTime.Seconds())
		}
	}
	wall := time.Since(start)
	insertCPU := cpuTime() - cpuStart

	if table != schema.SpansTable {
		lookups = 0 // trace_index only follows the real spans table
	}
	fmt.Fprintf(os.Stderr, "timing %d trace-by-id lookups...\n", lookups)
	ids := gen.sampleTraceIDs(lookups)
	var lat []time.Duration
	for _, id := range ids {
		t0 := time.Now()
		n, err := lookupTrace(ctx, conn, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("trace %x not found", id)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	slices.Sort(sendRates)

	var disk uint64
	if err := conn.QueryRow(ctx, "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = currentDatabase() AND table IN ('spans', 'trace_index')").Scan(&disk); err != nil {
		return err
	}
	fmt.Printf("\n| measure (embedded engine, %d cores) | value |\n|---|---|\n", runtime.NumCPU())
	fmt.Printf("| Native batch insert, Send only, median of %d batches of %d rows | %.0f rows/s |\n", len(sendRates), batchSize, sendRates[len(sendRates)/2])
	fmt.Printf("| Native batch insert, Send only, total | %.0f rows/s |\n", float64(total)/sendTime.Seconds())
	fmt.Printf("| Native batch insert, end to end incl. building batches | %.0f rows/s |\n", float64(total)/wall.Seconds())
	fmt.Printf("| rows per CPU-second of the process (engine + client; robust to a busy machine) | %.0f |\n", float64(total)/insertCPU.Seconds())
	if len(lat) > 0 {
		fmt.Printf("| trace by id at %d spans, p50 | %.1f ms |\n", total, ms(lat[len(lat)/2]))
		fmt.Printf("| trace by id at %d spans, p99 | %.1f ms |\n", total, ms(lat[len(lat)*99/100]))
	}
	fmt.Printf("| bytes on disk per span (spans + trace_index, before merges settle) | %.1f |\n", float64(disk)/float64(total))
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// lookupTrace is the read documented in migrations/0002_trace_index.sql.
func lookupTrace(ctx context.Context, conn driver.Conn, id [16]byte) (int, error) {
	rows, err := conn.Query(ctx, `
WITH (SELECT (min(Start), max(End)) FROM trace_index WHERE TraceKey = cityHash64(unhex({trace_id:String}))) AS range
SELECT SpanId, ParentSpanId, ServiceName, SpanName, Timestamp, Duration FROM spans
WHERE TraceId = unhex({trace_id:String}) AND Timestamp >= toDateTime64(range.1, 9) AND Timestamp < toDateTime64(range.2 + 1, 9)
ORDER BY Timestamp`, clickhouse.Named("trace_id", hex.EncodeToString(id[:])))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

// spanGen makes traces of 10 spans over 4 services, spread over an hour.
type spanGen struct {
	rng    *rand.Rand
	t      time.Time
	traces [][16]byte
}

func newSpanGen(start time.Time) *spanGen {
	return &spanGen{rng: rand.New(rand.NewPCG(1, 2)), t: start}
}

type spanRows struct {
	ts                  []time.Time
	trace, span, parent []string
	name, kind, svc     []string
	duration            []uint64
	status              []string
	resAttrs            []string // OTLP/JSON attributes, as tracestore writes them
	attrs               []map[string]string
	intAttrs            []map[string]int64
}

var (
	services   = []string{"gateway", "auth", "order", "payment"}
	operations = []string{"POST /api/checkout", "GET /api/orders/:id", "auth.validate", "order.create", "payment.charge", "db.query"}
)

func (g *spanGen) next(n int) *spanRows {
	r := &spanRows{}
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			var id [16]byte
			binary.LittleEndian.PutUint64(id[:8], g.rng.Uint64())
			binary.LittleEndian.PutUint64(id[8:], g.rng.Uint64())
			g.traces = append(g.traces, id)
			g.t = g.t.Add(3600 * time.Second / time.Duration(100_000)) // 1M spans ≈ 1 hour
		}
		trace := g.traces[len(g.traces)-1]
		var span, parent [8]byte
		binary.LittleEndian.PutUint64(span[:], g.rng.Uint64())
		if i%10 != 0 {
			binary.LittleEndian.PutUint64(parent[:], g.rng.Uint64())
		}
		svc := services[(i%10)%len(services)]
		r.ts = append(r.ts, g.t.Add(time.Duration(i%10)*time.Millisecond))
		r.trace = append(r.trace, string(trace[:]))
		r.span = append(r.span, string(span[:]))
		r.parent = append(r.parent, string(parent[:]))
		r.name = append(r.name, operations[g.rng.IntN(len(operations))])
		r.kind = append(r.kind, []string{"Server", "Client", "Internal"}[i%3])
		r.svc = append(r.svc, svc)
		r.duration = append(r.duration, uint64(g.rng.IntN(50_000_000)))
		r.status = append(r.status, []string{"Unset", "Unset", "Unset", "Error"}[g.rng.IntN(4)])
		r.resAttrs = append(r.resAttrs, `{"service.name":{"stringValue":"`+svc+`"},"host.name":{"stringValue":"node-`+svc+`"}}`)
		r.attrs = append(r.attrs, map[string]string{"http.route": "/api/checkout", "user.id": fmt.Sprint("u", g.rng.IntN(10000))})
		r.intAttrs = append(r.intAttrs, map[string]int64{"http.response.status_code": 200})
	}
	return r
}

func (r *spanRows) appendTo(b driver.Batch) error {
	cols := []any{r.ts, r.trace, r.span, r.parent, r.name, r.kind, r.duration, r.status, r.svc, r.resAttrs, r.attrs, r.intAttrs}
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}

func (g *spanGen) sampleTraceIDs(n int) [][16]byte {
	out := make([][16]byte, n)
	for i := range out {
		out[i] = g.traces[g.rng.IntN(len(g.traces))]
	}
	return out
}

// cpuTime is the user+system CPU time of this process so far (engine
// threads included): throughput per CPU-second does not depend on what else
// the machine is running.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
