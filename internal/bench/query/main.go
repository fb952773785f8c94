// Command query measures Tracehouse's read path at scale: it loads spans
// and logs through the real write path into the embedded engine, then times
// the query service's methods as the HTTP API calls them and prints p50/p99
// per size as a markdown table. internal/bench/README.md says what each
// measure is, what the flags change and how to read the tables.
//
//	go run ./internal/bench/query --spans 1000000,10000000 --runs 50
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/internal/bench/benchenv"
	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/storage/writer"
)

func main() {
	o, err := parseFlags()
	if err == nil && o.reuse {
		err = measureExisting(o.runs, o.dataDir, o.explain)
	} else if err == nil {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/query:", err)
		os.Exit(1)
	}
}

// run loads each size on top of the previous one (sizes are cumulative),
// times every measure at each size and prints the tables.
func run(o options) error {
	ctx := context.Background()
	env, err := benchenv.Start(ctx, o.dataDir)
	if err != nil {
		return err
	}
	defer env.Close()
	conn := env.Conn
	w := writer.NewWriter(conn, writer.Options{})
	svc, store, err := newService(conn)
	if err != nil {
		return err
	}

	now := time.Now()
	gen := newGen(now, o.random)
	var results []result
	loadedSpans, loadedLogs := 0, 0
	for i := range o.spans {
		fmt.Fprintf(os.Stderr, "loading spans %d → %d\n", loadedSpans, o.spans[i])
		spanRate, err := loadSpans(ctx, w, gen, o.spans[i]-loadedSpans, o.batch)
		if err != nil {
			return err
		}
		loadedSpans = o.spans[i]
		fmt.Fprintf(os.Stderr, "loading logs %d → %d\n", loadedLogs, o.logs[i])
		logRate, err := loadLogs(ctx, w, gen, o.logs[i]-loadedLogs, o.batch)
		if err != nil {
			return err
		}
		loadedLogs = o.logs[i]
		if err := settleMerges(ctx, conn, o.settle); err != nil {
			return err
		}
		if o.restart {
			if err := env.Restart(ctx); err != nil {
				return err
			}
			conn = env.Conn
			w = writer.NewWriter(conn, writer.Options{})
			if svc, store, err = newService(conn); err != nil {
				return err
			}
		}

		r := result{spans: loadedSpans, logs: loadedLogs, spanRate: spanRate, logRate: logRate,
			p50: map[string]time.Duration{}, p99: map[string]time.Duration{}}
		if err := diskUsage(ctx, conn, &r); err != nil {
			return err
		}
		ms := measures(svc, store, gen, now)
		if o.explain {
			explainAll(ctx, conn, gen, now)
		}
		for _, m := range ms {
			lat, err := timeRuns(ctx, m, o.runs)
			if errors.Is(err, errSkipped) {
				fmt.Fprintf(os.Stderr, "  %-45s %v\n", m.name, err)
				continue
			}
			if err != nil {
				return err
			}
			r.p50[m.name], r.p99[m.name] = percentiles(lat)
			fmt.Fprintf(os.Stderr, "  %-45s p50 %7.1f ms  p99 %7.1f ms\n", m.name, msf(r.p50[m.name]), msf(r.p99[m.name]))
		}
		results = append(results, r)
	}
	printTables(results, measures(svc, store, gen, now), o.runs)
	return nil
}

// measureExisting times the queries on data left by an earlier run
// (--reuse --data DIR), sampling trace ids and users from it.
func measureExisting(runs int, dataDir string, explain bool) error {
	ctx := context.Background()
	env, err := benchenv.Start(ctx, dataDir)
	if err != nil {
		return err
	}
	defer env.Close()
	conn := env.Conn
	svc, store, err := newService(conn)
	if err != nil {
		return err
	}
	g, r, newest, err := sampleStored(ctx, conn)
	if err != nil {
		return err
	}
	if err := diskUsage(ctx, conn, &r); err != nil {
		return err
	}
	if explain {
		explainAll(ctx, conn, g, newest)
	}
	printReusedHeader(r)
	for _, m := range measures(svc, store, g, newest) {
		lat, err := timeRuns(ctx, m, runs)
		if errors.Is(err, errSkipped) {
			fmt.Printf("| %s | — | — | %v |\n", m.name, err)
			continue
		}
		if err != nil {
			return err
		}
		p50, p99 := percentiles(lat)
		printReusedRow(m, p50, p99)
	}
	return nil
}

// newService is the query service on the ClickHouse reader, as the product
// builds it.
func newService(conn driver.Conn) (*query.Service, *reader.Reader, error) {
	// Limits wide enough for the raw answers the summaries and samples are
	// compared with (mineEvery reads millions of records); the product's
	// own reads stay far below them.
	store, err := reader.New(conn, reader.Options{Limits: reader.Limits{
		MaxExecutionTime: 10 * time.Minute, MaxMemoryUsage: 8 << 30, MaxResultBytes: 4 << 30, MaxResultRows: 2 * maxMineEvery}})
	if err != nil {
		return nil, nil, err
	}
	return query.New(store, query.Options{}), store, nil
}
