package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// result is what one size measured: latencies per measure, load rates and
// bytes on disk.
type result struct {
	spans, logs int
	p50, p99    map[string]time.Duration
	bytesSpan   float64 // spans + trace_index + red/edges per span
	bytesSpan0  float64 // spans table only
	bytesLog    float64
	spanRate    float64
	logRate     float64
}

// printTables prints the latency table (one p50/p99 column pair per size)
// and the load and disk table.
func printTables(results []result, ms []measure, runs int) {
	fmt.Printf("\n### Query latency (embedded engine, %d cores, %d runs each, no forced merges)\n\n", runtime.NumCPU(), runs)
	hdr := "| measure |"
	sep := "|---|"
	for _, r := range results {
		hdr += fmt.Sprintf(" %s p50 | %s p99 |", human(r.spans), human(r.spans))
		sep += "---|---|"
	}
	fmt.Println(hdr + " target |")
	fmt.Println(sep + "---|")
	for _, m := range ms {
		line := "| " + m.name + " |"
		for _, r := range results {
			if _, ok := r.p50[m.name]; !ok {
				line += " — | — |" // skipped at this size (errSkipped)
				continue
			}
			line += fmt.Sprintf(" %.1f ms | %.1f ms |", msf(r.p50[m.name]), msf(r.p99[m.name]))
		}
		fmt.Println(line + " " + m.target + " |")
	}
	fmt.Println()
	fmt.Println("| size | load spans/s | load logs/s | bytes/span (spans) | bytes/span (spans+trace_index+aggregates) | bytes/log |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %s spans, %s logs | %.0f | %.0f | %.1f | %.1f | %.1f |\n",
			human(r.spans), human(r.logs), r.spanRate, r.logRate, r.bytesSpan0, r.bytesSpan, r.bytesLog)
	}
}

// printReusedHeader and printReusedRow print the one-size table of --reuse.
func printReusedHeader(r result) {
	fmt.Printf("| measure (reused data: %s spans, %s logs) | p50 | p99 | target |\n|---|---|---|---|\n", human(r.spans), human(r.logs))
}

func printReusedRow(m measure, p50, p99 time.Duration) {
	fmt.Printf("| %s | %.1f ms | %.1f ms | %s |\n", m.name, msf(p50), msf(p99), m.target)
}

func diskUsage(ctx context.Context, conn driver.Conn, r *result) error {
	var spans, spanAll, logs uint64
	err := conn.QueryRow(ctx, `SELECT
		sumIf(bytes_on_disk, table = 'spans'),
		sumIf(bytes_on_disk, table != 'logs'),
		sumIf(bytes_on_disk, table = 'logs')
	FROM system.parts WHERE active AND database = currentDatabase()`).Scan(&spans, &spanAll, &logs)
	if err != nil {
		return err
	}
	var parts uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE active AND database = currentDatabase() AND table = 'spans'").Scan(&parts); err == nil {
		fmt.Fprintf(os.Stderr, "  active parts of spans: %d\n", parts)
	}
	r.bytesSpan0 = float64(spans) / float64(r.spans)
	r.bytesSpan = float64(spanAll) / float64(r.spans)
	r.bytesLog = float64(logs) / float64(r.logs)
	return nil
}

// explainAll prints EXPLAIN indexes=1 of the SQL shapes the service runs
// (copied from storage/reader/search.go and storage/reader/logs.go; for reading only).
func explainAll(ctx context.Context, conn driver.Conn, g *gen, now time.Time) {
	ts := func(t time.Time) string {
		return "toDateTime64('" + t.UTC().Format("2006-01-02 15:04:05.000000000") + "', 9)"
	}
	// The search's first window is the range's newest minute (query's
	// findTraceIDs); most searches here end there.
	window, day, end := ts(now), ts(now.Add(-24*time.Hour)), ts(now.Add(time.Minute))
	qs := map[string]string{
		"service+operation": "SELECT TraceId, Timestamp FROM spans WHERE Timestamp >= " + window + " AND Timestamp <= " + end +
			" AND ServiceName = 'order' AND SpanName = 'POST /orders' ORDER BY toStartOfMinute(Timestamp) DESC, Timestamp DESC, TraceId LIMIT 1 BY TraceId LIMIT 20 SETTINGS max_threads=1",
		"attribute": "SELECT TraceId, Timestamp FROM spans WHERE Timestamp >= " + day + " AND Timestamp <= " + end +
			" AND ServiceName = 'gateway' AND has(mapValues(AttrStr), '" + g.sampleUser(0) + "') AND AttrStr['user.id'] = '" + g.sampleUser(0) +
			"' ORDER BY toStartOfMinute(Timestamp) DESC, Timestamp DESC, TraceId LIMIT 1 BY TraceId LIMIT 20 SETTINGS max_threads=1",
		"logs phrase": "SELECT Timestamp FROM logs WHERE Timestamp >= " + day + " AND Timestamp < " + end +
			" AND hasPhrase(Body, '" + phrases[0] + "') ORDER BY Timestamp DESC LIMIT 101",
	}
	for _, name := range []string{"service+operation", "attribute", "logs phrase"} {
		rows, err := conn.Query(ctx, "EXPLAIN indexes = 1 "+qs[name])
		if err != nil {
			fmt.Fprintf(os.Stderr, "explain %s: %v\n", name, err)
			continue
		}
		fmt.Fprintf(os.Stderr, "--- EXPLAIN indexes=1: %s\n", name)
		for rows.Next() {
			var line string
			if rows.Scan(&line) == nil {
				fmt.Fprintln(os.Stderr, line)
			}
		}
		rows.Close()
	}
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func human(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
