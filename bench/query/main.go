// Command query compares query latency on three layouts of the same data in
// one embedded ClickHouse engine: Tracehouse's (its exporter, read through
// its query service), the contrib clickhouseexporter's (read with the
// queries its README recommends) and Jaeger v2's ClickHouse storage (its
// own exporter, read with its reader's query), beside the engine's floor
// for a point read and SELECT 1. It prints markdown tables; README.md says
// what is measured and how to read them.
//
//	cd bench/query && go run . -spans 1000000     # make deps build first
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/reader"
)

type options struct {
	spans, logs            []int
	rounds, passes         int
	workers                int
	bin, lib, jaegerBin    string
	jaeger, restart, keep  bool
	profile, reuse, only   string
	settle, visibleTimeout time.Duration
	seed                   uint64
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "collector" {
		if err := runCollector(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "collector:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var spans, logs string
	flag.StringVar(&spans, "spans", "1000000", "comma-separated cumulative span counts, e.g. 1000000,10000000 (each size is loaded on top of the previous one)")
	flag.StringVar(&logs, "logs", "", "log record counts, one per size (default: as many as spans)")
	flag.IntVar(&o.rounds, "rounds", 100, "timed rounds per pass (each round asks every question of every layout once; below 100, a pass's p99 is its slowest round)")
	flag.IntVar(&o.passes, "passes", 5, "passes per size; the table shows the median of the passes' p50 and p99, and every pass's ratios")
	flag.IntVar(&o.workers, "workers", 4, "concurrent OTLP senders while loading")
	flag.StringVar(&o.bin, "tracehouse", "", "tracehouse binary for the engine (default: <repo>/bin/tracehouse, built if missing)")
	flag.StringVar(&o.lib, "lib", "", "libchdb.so (default: <repo>/.deps/chdb/libchdb.so)")
	flag.BoolVar(&o.jaeger, "jaeger", true, "also load and query Jaeger v2's ClickHouse storage ("+jaegerVersion+", built from bench/query/jaeger)")
	flag.StringVar(&o.jaegerBin, "jaeger-bin", "", "a Jaeger v2 binary to use instead of building one")
	flag.BoolVar(&o.restart, "restart", true, "restart the engine on the loaded data before timing (as internal/bench/query does: right after a bulk load point reads are 2–3× slower)")
	flag.DurationVar(&o.settle, "settle", 5*time.Minute, "wait up to this long for merges to finish before timing")
	flag.DurationVar(&o.visibleTimeout, "timeout", 30*time.Minute, "longest wait for loaded rows to be visible")
	flag.StringVar(&o.profile, "profile", "", "write, per size, each question's system.events deltas and EXPLAIN indexes = 1 of every statement, per layout, to DIR/profile-<size>.txt")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (engine data, configs, logs, and the loaded state -reuse reads)")
	flag.StringVar(&o.reuse, "reuse", "", "time the questions again on a kept run's DIR (its last size) instead of loading: its engine data and state.json, no load")
	flag.StringVar(&o.only, "only", "", "time only the questions whose name contains this text (and the floor rows)")
	flag.Uint64Var(&o.seed, "seed", 42, "seed of the data and of the rounds' draws")
	flag.Parse()
	var err error
	if o.spans, err = parseSizes(spans); err == nil {
		o.logs = o.spans
		if logs != "" {
			o.logs, err = parseSizes(logs)
			if err == nil && len(o.logs) != len(o.spans) {
				err = errors.New("-logs needs one count per -spans size")
			}
		}
	}
	switch {
	case err == nil && o.reuse != "":
		err = rerun(o)
	case err == nil:
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/query:", err)
		os.Exit(1)
	}
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(f), "_", ""))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("size %q: want a positive count", f)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("sizes must grow: %d after %d", n, out[len(out)-1])
		}
		out = append(out, n)
	}
	return out, nil
}

func run(o options) error {
	ctx := context.Background()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "bench-query-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "temp dir:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if o.lib == "" {
		o.lib = filepath.Join(root, ".deps/chdb/libchdb.so")
	}
	if o.bin == "" {
		o.bin = filepath.Join(root, "bin/tracehouse")
		if _, err := os.Stat(o.bin); err != nil {
			o.bin = filepath.Join(tmp, "tracehouse")
			if err := goBuild(root, o.bin, "."); err != nil {
				return err
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	jaegerNote := ""
	if o.jaeger && o.jaegerBin == "" {
		fmt.Fprintln(os.Stderr, "building Jaeger", jaegerVersion)
		if o.jaegerBin, err = buildJaeger(root, tmp); err != nil {
			jaegerNote = err.Error()
			fmt.Fprintln(os.Stderr, "  Jaeger left out:", err)
			o.jaeger = false
		}
	}

	e, version, err := startEngine(o, filepath.Join(tmp, "data"), tmp)
	if err != nil {
		return err
	}
	defer e.stop()
	for _, db := range []string{dbTracehouse, dbContrib, dbJaeger} {
		if _, err := e.query("CREATE DATABASE IF NOT EXISTS " + db); err != nil {
			return err
		}
	}

	// The loaders: one collector writing both Tracehouse's and contrib's
	// layout from every request, and Jaeger.
	port, err := freePort()
	if err != nil {
		return err
	}
	bench, err := startCollector("collector", tmp, benchCollectorConfig(e, port), port, self, "collector")
	if err != nil {
		return err
	}
	defer bench.stop()
	traceCols := []*collector{bench}
	if o.jaeger {
		jport, err := freePort()
		if err == nil {
			var jc *collector
			jc, err = startCollector("jaeger", tmp, jaegerConfig(e, jport), jport, o.jaegerBin)
			if err == nil {
				defer jc.stop()
				traceCols = append(traceCols, jc)
			}
		}
		if err != nil {
			jaegerNote = "Jaeger did not start: " + firstLine(err.Error())
			fmt.Fprintln(os.Stderr, "  Jaeger left out:", err)
			o.jaeger = false
		}
	}

	now := time.Now()
	d := newDataset(now, o.seed)
	var results []sizeResult
	loadedSpans, loadedLogs := 0, 0
	for i := range o.spans {
		t0 := time.Now()
		nTrace := (o.spans[i] - loadedSpans) / (tracesPerReq * spansPerTrace)
		nLog := (o.logs[i] - loadedLogs) / logsPerReq
		fmt.Fprintf(os.Stderr, "size %d: loading %d spans and %d log records\n", i+1, nTrace*tracesPerReq*spansPerTrace, nLog*logsPerReq)
		if err := loadTraces(ctx, d, i, nTrace, o.workers, traceCols); err != nil {
			return err
		}
		if err := loadLogs(ctx, d, i, nLog, o.workers, bench); err != nil {
			return err
		}
		loadedSpans += nTrace * tracesPerReq * spansPerTrace
		loadedLogs += nLog * logsPerReq
		want := map[string]int64{
			dbTracehouse + ".spans": int64(loadedSpans), dbContrib + ".otel_traces": int64(loadedSpans),
			dbTracehouse + ".logs": int64(loadedLogs), dbContrib + ".otel_logs": int64(loadedLogs),
		}
		if o.jaeger {
			want[dbJaeger+".spans"] = int64(loadedSpans)
		}
		if err := waitRows(e, want, o.visibleTimeout); err != nil {
			return err
		}
		loadTime := time.Since(t0)
		fmt.Fprintf(os.Stderr, "\n  loaded in %v; waiting for merges\n", loadTime.Round(time.Second))
		e.settle(o.settle)
		if o.keep {
			if err := saveState(tmp, now, loadedSpans, loadedLogs, o.jaeger, d.samples()); err != nil {
				return err
			}
		}
		if o.restart {
			if err := e.restart(); err != nil {
				return err
			}
		}
		r, err := measureSize(ctx, o, e, d.samples(), now, loadedSpans, loadedLogs)
		if err != nil {
			return err
		}
		r.loadSeconds = loadTime.Seconds()
		results = append(results, r)
		printSize(os.Stderr, r)
	}

	printResults(version, jaegerNote, results)
	return nil
}

func printResults(version, jaegerNote string, results []sizeResult) {
	fmt.Printf("\n## Query latency by layout, same data, one engine (embedded chDB %s, %d CPUs, %s)\n",
		version, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
	if jaegerNote != "" {
		fmt.Printf("\nJaeger v2 left out: %s\n", jaegerNote)
	}
	for _, r := range results {
		printSize(os.Stdout, r)
	}
}

// startEngine runs the engine on dataDir (its log in logDir) and reads its
// version.
func startEngine(o options, dataDir, logDir string) (*engine, string, error) {
	e, err := newEngine(o.bin, o.lib, dataDir, logDir)
	if err != nil {
		return nil, "", err
	}
	if err := e.start(); err != nil {
		return nil, "", err
	}
	version, _ := e.query("SELECT version()")
	return e, version, nil
}

// rerun times the questions on a kept run's data (-reuse): the engine
// starts on its data folder, as -restart would, and the questions draw
// from the state the load saved.
func rerun(o options) error {
	st, samples, err := loadState(o.reuse)
	if err != nil {
		return err
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if o.lib == "" {
		o.lib = filepath.Join(root, ".deps/chdb/libchdb.so")
	}
	if o.bin == "" {
		o.bin = filepath.Join(root, "bin/tracehouse")
	}
	o.jaeger = st.Jaeger
	e, version, err := startEngine(o, filepath.Join(o.reuse, "data"), o.reuse)
	if err != nil {
		return err
	}
	defer e.stop()
	fmt.Fprintf(os.Stderr, "reusing %s: %d spans, %d log records, loaded at %s\n", o.reuse, st.Spans, st.Logs, st.Now.Format(time.RFC3339))
	r, err := measureSize(context.Background(), o, e, samples, st.Now, st.Spans, st.Logs)
	if err != nil {
		return err
	}
	printResults(version, "", []sizeResult{r})
	return nil
}

// measureSize opens the three read paths and times them.
func measureSize(ctx context.Context, o options, e *engine, samples []sample, now time.Time, spans, logs int) (sizeResult, error) {
	r := sizeResult{spans: spans, logs: logs, rounds: o.rounds, passes: o.passes}
	var prof *profiler
	if o.profile != "" {
		var err error
		if prof, err = newProfiler(o.profile, e, spans); err != nil {
			return r, err
		}
		defer prof.close()
	}
	clock := &stmtClock{}
	open := func(db string) (*recConn, error) {
		c, err := storage.Open(ctx, e.dsn(db))
		if err != nil {
			return nil, err
		}
		return &recConn{Conn: c, prof: prof, clock: clock}, nil
	}
	thConn, err := open(dbTracehouse)
	if err != nil {
		return r, err
	}
	defer thConn.Close()
	store, err := reader.New(thConn, reader.Options{Database: dbTracehouse})
	if err != nil {
		return r, err
	}
	rd := &readers{th: query.New(store, query.Options{}), thConn: thConn, jaegerOn: o.jaeger}
	contrib, err := open(dbContrib)
	if err != nil {
		return r, err
	}
	defer contrib.Close()
	rd.contrib = contrib
	if o.jaeger {
		jc, err := open(dbJaeger)
		if err != nil {
			return r, err
		}
		defer jc.Close()
		rd.jaeger = jc
	}
	r.qs = questions(rd)
	if o.only != "" {
		r.qs = slices.DeleteFunc(r.qs, func(q question) bool {
			return !strings.Contains(q.name, o.only) && q.name != qFloor && q.name != qSelect1
		})
	}
	t, sp, err := measure(ctx, r.qs, samples, now, o.rounds, o.passes, o.seed, clock)
	if err != nil {
		return r, err
	}
	r.t, r.split = t, sp
	if prof != nil {
		if err := prof.run(ctx, r.qs, input{s: samples[0], op: orderOps[0], phrase: phrases[0], now: now}); err != nil {
			return r, err
		}
	}
	r.disk, err = diskUsage(e, o.jaeger)
	return r, err
}

// diskUsage is each layout's rows and bytes on disk (active parts), span
// tables (with their lookup tables and views' targets) apart from logs.
func diskUsage(e *engine, jaeger bool) (map[string]diskUse, error) {
	out := map[string]diskUse{}
	get := func(layout, db, spansTable, logsTable string) error {
		var du diskUse
		var err error
		if du.spanRows, err = e.int("SELECT count() FROM " + db + "." + spansTable); err != nil {
			return err
		}
		if logsTable != "" {
			if du.logRows, err = e.int("SELECT count() FROM " + db + "." + logsTable); err != nil {
				return err
			}
			if du.logBytes, err = e.int(fmt.Sprintf("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '%s' AND table = '%s'", db, logsTable)); err != nil {
				return err
			}
		}
		du.spanBytes, err = e.int(fmt.Sprintf("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '%s' AND table != '%s'", db, logsTable))
		out[layout] = du
		return err
	}
	if err := get(lTracehouse, dbTracehouse, "spans", "logs"); err != nil {
		return nil, err
	}
	if err := get(lContrib, dbContrib, "otel_traces", "otel_logs"); err != nil {
		return nil, err
	}
	if jaeger {
		if err := get(lJaeger, dbJaeger, "spans", ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}
