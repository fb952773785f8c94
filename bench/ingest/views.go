package main

// `go run . views`: where the engine's CPU goes when Tracehouse stores
// spans, view by view. The main runs show Tracehouse's tables costing the
// engine more CPU per span than contrib's (engine CPU-s per 1k items); the
// difference is the materialized views that keep the per-minute RED
// metrics, the trace index, the attribute catalogue and the peer and
// broker edges up to date as spans arrive. This measures each: the same
// spans are written straight through the product's writer (no collector)
// into a fresh engine with every view, without one view at a time, and
// without any, and the engine's CPU (utime+stime of its process) is
// counted from the first INSERT until the merges that follow have settled.
// With several -batch sizes it measures every view and none at each INSERT
// size instead (the engine's cost per span is mostly per part written);
// with -alter, a schema variant against the shipped schema, interleaved.

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/embedded"
	"github.com/tracehouse/tracehouse/storage/writer"
)

type viewOpts struct {
	spans, rounds int
	batches       []int // spans per INSERT; more than one sweeps INSERT sizes
	settle        time.Duration
	bin, lib      string
	// alter are statements run on each fresh engine after the migrations:
	// a schema variant to measure against the shipped one.
	alter []string
}

// viewConfig is one measurement: INSERTs of batch spans, with the views
// in drop dropped first.
type viewConfig struct {
	batch   int
	drop    []string
	name    string
	altered bool // with the -alter statements run first
}

func runViews(args []string) error {
	o := viewOpts{}
	fs := flag.NewFlagSet("views", flag.ExitOnError)
	fs.IntVar(&o.spans, "spans", 500_000, "spans written per measurement")
	batch := fs.String("batch", "50000", "spans per INSERT (the group commit's max_size); a comma-separated list (5000,10000,50000) measures every view and no view at each size instead of one view at a time")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds: every configuration this many times, interleaved")
	fs.DurationVar(&o.settle, "settle", 8*time.Second, "how long the engine's CPU is still counted after the last INSERT (its merges)")
	fs.StringVar(&o.bin, "tracehouse", "", "tracehouse binary (default: <repo>/bin/tracehouse, built into a temp dir if missing)")
	fs.StringVar(&o.lib, "lib", "", "libchdb.so (default: <repo>/.deps/chdb/libchdb.so)")
	alter := fs.String("alter", "", "statements, separated by ';', run on each fresh engine after the migrations: a schema variant, measured with every view against the shipped schema at each -batch size (e.g. \"ALTER TABLE default.spans MODIFY COLUMN AttrStr Map(LowCardinality(String), String)\")")
	fs.Parse(args)
	for _, stmt := range strings.Split(*alter, ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			o.alter = append(o.alter, stmt)
		}
	}
	for _, f := range strings.Split(*batch, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("-batch: %q is not a positive number of spans", f)
		}
		o.batches = append(o.batches, n)
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "bench-views-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.bin, o.lib, err = binaries(root, tmp, o.bin, o.lib); err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "generating %d spans...\n", o.spans)
	batchesOf := map[int][]ptrace.Traces{}
	for _, size := range o.batches {
		// mergeRequests moves the requests' spans: the same spans anew
		// for each size.
		batchesOf[size] = mergeRequests(genTraces(o.spans, 500, 42), size)
	}

	// The views on spans, as the schema has them now.
	var views []string
	if err := withEngine(o, false, func(ch chHTTP, _ string, _ int) error {
		list, err := ch.query("SELECT name FROM system.tables WHERE database = 'default' AND engine = 'MaterializedView' " +
			"AND match(create_table_query, 'FROM default\\\\.spans\\\\b') ORDER BY name")
		views = strings.Fields(list)
		return err
	}); err != nil {
		return err
	}
	var configs []viewConfig
	for _, size := range o.batches {
		configs = append(configs, viewConfig{batch: size, name: "every view"})
		if len(o.alter) > 0 {
			// The variant against the shipped schema, every view on both.
			configs = append(configs, viewConfig{batch: size, name: "every view", altered: true})
			continue
		}
		if len(o.batches) == 1 {
			for _, v := range views {
				configs = append(configs, viewConfig{batch: size, drop: []string{v}, name: "without " + v})
			}
		}
		configs = append(configs, viewConfig{batch: size, drop: views, name: "no view on spans"})
	}

	perK := make([][]float64, len(configs))
	for round := range o.rounds {
		for i, c := range configs {
			fmt.Fprintf(os.Stderr, "== round %d of %d: INSERTs of %d, %s, %s\n", round+1, o.rounds, c.batch, c.name, schemaName(c.altered))
			var cpu float64
			err := withEngine(o, c.altered, func(ch chHTTP, dsn string, pid int) error {
				var err error
				cpu, err = measureWrite(ch, dsn, pid, c.drop, batchesOf[c.batch], o.settle)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			perK[i] = append(perK[i], cpu/float64(o.spans)*1000)
			fmt.Fprintf(os.Stderr, "   engine %.2f cpu-s, %.4f per 1k spans\n", cpu, perK[i][len(perK[i])-1])
		}
	}

	fmt.Printf("Engine CPU per materialized view: %d spans (the main runs' spans) written through storage/writer in INSERTs of %s, a fresh engine per measurement, CPU counted until %v after the last INSERT; %d round(s); %s, %d CPUs%s\n\n",
		o.spans, *batch, o.settle, o.rounds, time.Now().Format("2006-01-02"), numCPU(), alteredBy(o.alter))
	fmt.Println("| spans per INSERT | schema | views | engine CPU-s per 1k spans, each round | median | median − the shipped schema's with every view, same size |")
	fmt.Println("|---:|---|---|---|---:|---:|")
	all := map[int]float64{}
	for i, c := range configs {
		runs := make([]string, len(perK[i]))
		for j, v := range perK[i] {
			runs[j] = fmt.Sprintf("%.4f", v)
		}
		m := median(perK[i])
		diff := "—"
		if c.drop == nil && !c.altered {
			all[c.batch] = m
		} else {
			diff = fmt.Sprintf("%+.4f (%+.0f%%)", m-all[c.batch], (m-all[c.batch])/all[c.batch]*100)
		}
		fmt.Printf("| %d | %s | %s | %s | %.4f | %s |\n", c.batch, schemaName(c.altered), c.name, strings.Join(runs, ", "), m, diff)
	}
	return nil
}

func schemaName(altered bool) string {
	if altered {
		return "altered (-alter)"
	}
	return "shipped"
}

// alteredBy says which schema variant was measured.
func alteredBy(alter []string) string {
	if len(alter) == 0 {
		return ""
	}
	return "; schema altered by: " + strings.Join(alter, "; ")
}

// withEngine runs f against a fresh engine with the schema migrated (and,
// when altered, the -alter statements run).
func withEngine(o viewOpts, altered bool, f func(ch chHTTP, dsn string, pid int) error) error {
	tmp, err := os.MkdirTemp("", "bench-views-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	eng, ch, port, err := startEngine(tmp, o.bin, o.lib)
	if err != nil {
		return err
	}
	defer eng.stop(30 * time.Second)
	dsn := fmt.Sprintf("http://%s@127.0.0.1:%d/default?password_file=%s", embedded.DefaultUser, port, url.QueryEscape(ch.passwordFile))
	if out, err := exec.Command(o.bin, "migrate", "--clickhouse", dsn).CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %v\n%s", err, out)
	}
	for _, stmt := range o.alter {
		if !altered {
			break
		}
		if _, err := ch.query(stmt); err != nil {
			return fmt.Errorf("-alter %q: %w", stmt, err)
		}
	}
	return f(ch, dsn, eng.pid())
}

// measureWrite drops the views, writes the batches and returns the
// engine's CPU seconds from the first INSERT until settle after the last.
func measureWrite(ch chHTTP, dsn string, pid int, drop []string, batches []ptrace.Traces, settle time.Duration) (float64, error) {
	for _, v := range drop {
		if _, err := ch.query("DROP VIEW default." + v); err != nil {
			return 0, err
		}
	}
	ctx := context.Background()
	conn, err := storage.Open(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	w := writer.NewWriter(conn, writer.Options{})
	// The writer may keep what it is given: each measurement writes copies.
	copies := make([]ptrace.Traces, len(batches))
	for i, b := range batches {
		copies[i] = ptrace.NewTraces()
		b.CopyTo(copies[i])
	}
	debugGC()
	time.Sleep(2 * time.Second) // the engine's start and the migration settle
	before, err := cpuSeconds(pid)
	if err != nil {
		return 0, err
	}
	for _, b := range copies {
		if err := w.WriteTraces(ctx, b); err != nil {
			return 0, err
		}
	}
	time.Sleep(settle)
	after, err := cpuSeconds(pid)
	if err != nil {
		return 0, err
	}
	want := 0
	for _, b := range batches {
		want += b.SpanCount()
	}
	if n, err := ch.int("SELECT count() FROM default.spans"); err != nil || n != int64(want) {
		return 0, fmt.Errorf("spans stored: %d (%v), want %d", n, err, want)
	}
	return after - before, nil
}

// mergeRequests joins requests into batches of about size spans, as the
// group commit joins senders' requests.
func mergeRequests(reqs []ptraceotlp.ExportRequest, size int) []ptrace.Traces {
	var out []ptrace.Traces
	cur, n := ptrace.NewTraces(), 0
	for _, r := range reqs {
		td := r.Traces()
		if n > 0 && n+td.SpanCount() > size {
			out, cur, n = append(out, cur), ptrace.NewTraces(), 0
		}
		n += td.SpanCount()
		td.ResourceSpans().MoveAndAppendTo(cur.ResourceSpans())
	}
	if n > 0 {
		out = append(out, cur)
	}
	return out
}
