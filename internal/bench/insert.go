package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// insertStats is what the insert phase measured.
type insertStats struct {
	sendRates []float64     // rows/s of each batch's Send, sorted
	sendTime  time.Duration // all Sends
	wall      time.Duration // end to end, building batches included
	cpu       time.Duration // CPU time of the process (engine + client)
}

// insertSpans writes total span-shaped rows into table in Native batches of
// batchSize, timing each batch's Send apart from building it.
func insertSpans(ctx context.Context, conn driver.Conn, gen *spanGen, table string, total, batchSize int) (insertStats, error) {
	var st insertStats
	start := time.Now()
	cpuStart := cpuTime()
	for done := 0; done < total; done += batchSize {
		n := min(batchSize, total-done)
		rows := gen.next(n)
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, Duration, StatusCode, ServiceName, ResourceAttributes, AttrStr, AttrInt)")
		if err != nil {
			return st, err
		}
		if err := rows.appendTo(batch); err != nil {
			return st, err
		}
		t0 := time.Now()
		if err := batch.Send(); err != nil {
			return st, err
		}
		d := time.Since(t0)
		st.sendTime += d
		st.sendRates = append(st.sendRates, float64(n)/d.Seconds())
		if len(st.sendRates)%20 == 0 {
			fmt.Fprintf(os.Stderr, "  %d/%d rows, %.0f rows/s (Send)\n", done+n, total, float64(done+n)/st.sendTime.Seconds())
		}
	}
	st.wall = time.Since(start)
	st.cpu = cpuTime() - cpuStart
	slices.Sort(st.sendRates)
	return st, nil
}

// cpuTime is the user+system CPU time of this process so far (engine
// threads included): throughput per CPU-second does not depend on what else
// the machine is running.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
