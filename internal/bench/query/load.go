package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/writer"
)

func loadSpans(ctx context.Context, w *writer.Writer, g *gen, n, batch int) (float64, error) {
	g.sweep(n)
	return load("spans", "spans/s", "WriteTraces", n, batch, g.traces,
		func(td ptrace.Traces) error { return w.WriteTraces(ctx, td) })
}

func loadLogs(ctx context.Context, w *writer.Writer, g *gen, n, batch int) (float64, error) {
	g.sweep(n)
	return load("logs", "records/s", "WriteLogs", n, batch,
		func(k int) (plog.Logs, int) { return g.logs(k), k },
		func(ld plog.Logs) error { return w.WriteLogs(ctx, ld) })
}

// load generates and writes n items in batches, printing progress every
// ten batches, and returns items per second end to end; the progress lines
// also give the rate of write alone. generate returns a batch of about k
// items and how many it holds.
func load[T any](what, unit, call string, n, batch int, generate func(k int) (T, int), write func(T) error) (float64, error) {
	start := time.Now()
	var writeTime time.Duration
	done, calls := 0, 0
	for done < n {
		data, k := generate(min(batch, n-done))
		t0 := time.Now()
		if err := write(data); err != nil {
			return 0, err
		}
		writeTime += time.Since(t0)
		done += k
		calls++
		if calls%10 == 0 || done >= n {
			fmt.Fprintf(os.Stderr, "  %s %d/%d: %.0f %s end to end (%.0f in %s)\n",
				what, done, n, float64(done)/time.Since(start).Seconds(), unit, float64(done)/writeTime.Seconds(), call)
		}
	}
	return float64(done) / time.Since(start).Seconds(), nil
}

// settleMerges waits, up to limit, until the engine has no merge running
// or queued for a few seconds in a row: a bulk load writes a day of data in
// minutes, and the merges it leaves behind would otherwise be timed along
// with the queries. It never forces a merge; parts stay as the engine's
// own policy leaves them.
func settleMerges(ctx context.Context, conn driver.Conn, limit time.Duration) error {
	if limit <= 0 {
		return nil
	}
	start, quiet := time.Now(), 0
	for time.Since(start) < limit {
		var merging uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.merges").Scan(&merging); err != nil {
			return fmt.Errorf("watch merges: %w", err)
		}
		if merging == 0 {
			if quiet++; quiet == 3 {
				fmt.Fprintf(os.Stderr, "  merges settled after %s\n", time.Since(start).Round(time.Second))
				return nil
			}
		} else {
			quiet = 0
			fmt.Fprintf(os.Stderr, "  waiting for %d merge(s) to finish (%s)\n", merging, time.Since(start).Round(time.Second))
		}
		time.Sleep(2 * time.Second)
	}
	fmt.Fprintf(os.Stderr, "  merges still running after %s: timing anyway\n", limit)
	return nil
}

// sampleStored reads what an earlier run left in the store: the counts,
// the newest span's time, and a sample of root spans' trace ids and users
// for the measures to look up.
func sampleStored(ctx context.Context, conn driver.Conn) (*gen, result, time.Time, error) {
	var nSpans, nLogs uint64
	var newest time.Time
	if err := conn.QueryRow(ctx, "SELECT count(), max(Timestamp) FROM spans").Scan(&nSpans, &newest); err != nil {
		return nil, result{}, newest, err
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM logs").Scan(&nLogs); err != nil {
		return nil, result{}, newest, err
	}
	g := newGen(newest, false)
	rows, err := conn.Query(ctx, "SELECT TraceId, AttrStr['user.id'] FROM spans WHERE ServiceName = 'gateway' AND ParentSpanId = toFixedString('', 8) ORDER BY rand() LIMIT 4096")
	if err != nil {
		return nil, result{}, newest, err
	}
	for rows.Next() {
		var raw, user string
		if err := rows.Scan(&raw, &user); err != nil {
			return nil, result{}, newest, err
		}
		var id pcommon.TraceID
		copy(id[:], raw)
		g.remember(id, user)
	}
	rows.Close()
	r := result{spans: int(nSpans), logs: int(nLogs), p50: map[string]time.Duration{}, p99: map[string]time.Duration{}}
	return g, r, newest, nil
}
