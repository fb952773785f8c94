// Command bench measures the embedded ClickHouse as Tracehouse uses it and
// prints a table: Native batch inserts of span-shaped rows into the real
// spans table, and trace-by-id lookups through trace_index once the table
// holds --spans rows. Run it with `make bench`; internal/bench/README.md
// explains the table.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

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
	ins, err := insertSpans(ctx, conn, gen, table, total, batchSize)
	if err != nil {
		return err
	}

	if table != schema.SpansTable {
		lookups = 0 // trace_index only follows the real spans table
	}
	fmt.Fprintf(os.Stderr, "timing %d trace-by-id lookups...\n", lookups)
	lat, err := timeLookups(ctx, conn, gen.sampleTraceIDs(lookups))
	if err != nil {
		return err
	}

	var disk uint64
	if err := conn.QueryRow(ctx, "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = currentDatabase() AND table IN ('spans', 'trace_index')").Scan(&disk); err != nil {
		return err
	}
	printTable(ins, lat, disk, total, batchSize)
	return nil
}
