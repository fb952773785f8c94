package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// oneRun starts a collector for one (exporter, signal, queue), sends the
// load, waits until every accepted item is a visible row and records the
// costs.
func oneRun(o opts, tmp, self string, ch chHTTP, engPID, chPort int, s runSpec,
	traces []ptraceotlp.ExportRequest, logs []plogotlp.ExportRequest, r *result) error {
	signal, db, table := s.signal, s.db(), s.table
	if _, err := ch.query("CREATE DATABASE IF NOT EXISTS " + db); err != nil {
		return err
	}
	otlpPort, err := freePort()
	if err != nil {
		return err
	}
	queueDir := ""
	if s.queue == "persistent" {
		// A fresh directory per run: no run replays another's queue.
		queueDir = filepath.Join(tmp, s.id()+"-queue")
		if !o.keep {
			defer os.RemoveAll(queueDir)
		}
	}
	cfg := filepath.Join(tmp, s.id()+".yaml")
	config, err := collectorConfig(o, s.exporter, signal, db, otlpPort, ch, chPort, queueDir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return err
	}
	logPath := filepath.Join(tmp, s.id()+".log")
	var env []string
	if o.cpuProfile != "" {
		if err := os.MkdirAll(o.cpuProfile, 0o755); err != nil {
			return err
		}
		abs, _ := filepath.Abs(filepath.Join(o.cpuProfile, s.id()+".pprof"))
		env = append(env, cpuProfileEnv+"="+abs)
	}
	if o.heapProfile != "" {
		if err := os.MkdirAll(o.heapProfile, 0o755); err != nil {
			return err
		}
		abs, _ := filepath.Abs(filepath.Join(o.heapProfile, s.id()+"-heap"))
		env = append(env, heapProfileEnv+"="+abs)
	}
	col, err := start(logPath, env, self, "collector", "--config", "file:"+cfg)
	if err != nil {
		return err
	}
	defer col.stop(30 * time.Second)
	addr := fmt.Sprintf("127.0.0.1:%d", otlpPort)
	if err := waitTCP(addr, 60*time.Second, col); err != nil {
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("collector not up: %w\n%s", err, tail(string(b), 3000))
	}
	time.Sleep(time.Second) // let start-up work (schema) settle
	if o.thNoViews && s.exporter == "tracehouse" {
		if err := dropViews(ch, db); err != nil {
			return err
		}
	}

	c0, err := cpuSeconds(col.pid())
	if err != nil {
		return err
	}
	e0, err := cpuSeconds(engPID)
	if err != nil {
		return err
	}
	w0, err := ioBytes(col.pid(), "write_bytes")
	if err != nil {
		return err
	}
	ev0, err := engineEvents(ch)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	t0 := time.Now()
	var sr sendResult
	if signal == "traces" {
		sr, err = sendTraces(ctx, addr, o.workers, traces)
	} else {
		sr, err = sendLogs(ctx, addr, o.workers, logs)
	}
	r.sendTime, r.items, r.retries = time.Since(t0), sr.accepted, sr.retries
	if err != nil {
		return fmt.Errorf("send: %w (accepted %d, rejected %d)", err, sr.accepted, sr.rejected)
	}
	count := fmt.Sprintf("SELECT count() FROM %s.%s", db, table)
	// A retried insert can store rows twice, so the run is over when the
	// distinct items, not the rows, reach what the receiver accepted.
	key := "TraceId, SpanId"
	if signal == "logs" {
		key = "Timestamp, Body"
	}
	uniq := fmt.Sprintf("SELECT uniqExact(%s) FROM %s.%s", key, db, table)
	for {
		n, err := ch.int(count)
		if err == nil && n >= r.items {
			if u, err := ch.int(uniq); err == nil && u >= r.items {
				r.stored, r.unique = n, u
				break
			}
		}
		if ctx.Err() != nil {
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("only %d of %d rows visible after %v (last error %v)\n%s", n, r.items, o.timeout, err, tail(string(b), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.e2e = time.Since(t0)
	c1, _ := cpuSeconds(col.pid())
	e1, _ := cpuSeconds(engPID)
	w1, _ := ioBytes(col.pid(), "write_bytes")
	r.colCPU, r.engCPU, r.diskWrites = c1-c0, e1-e0, w1-w0
	if ev1, err := engineEvents(ch); err == nil {
		r.inserts, r.partsMade = ev1.inserts-ev0.inserts, ev1.parts-ev0.parts
	}
	r.hwmKB, _ = statusKB(col.pid(), "VmHWM")
	// Of the resident memory at the end, how much is mapped files (the
	// persistent queue's bbolt file is mmapped) rather than the heap.
	r.rssFileKB, _ = statusKB(col.pid(), "RssFile")
	r.bytes, _ = ch.int(fmt.Sprintf("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '%s'", db))
	col.stop(30 * time.Second)
	if n, err := ch.int(count); err == nil {
		r.stored = n
	}
	if u, err := ch.int(uniq); err == nil {
		r.unique = u
	}
	if queueDir != "" {
		// The run measures the persistent queue only if the data went
		// through it: its files exist and the collector wrote to disk at
		// least as many bytes as the items it stored (a span is ~400
		// bytes of protobuf).
		if r.queueBytes, err = dirBytes(queueDir); err != nil || r.queueBytes == 0 {
			return fmt.Errorf("persistent queue not used: no files in %s (%v)", queueDir, err)
		}
		if r.diskWrites < r.unique {
			return fmt.Errorf("persistent queue not used: the collector wrote %d bytes to disk for %d items", r.diskWrites, r.unique)
		}
	}
	return nil
}

// dropViews drops every materialized view in db (-th-no-views). The
// collector has made its schema by now (it migrates before its receivers
// listen), so what it writes next lands in the tables alone.
func dropViews(ch chHTTP, db string) error {
	out, err := ch.query("SELECT name FROM system.tables WHERE database = '" + db + "' AND engine = 'MaterializedView' ORDER BY name")
	if err != nil {
		return err
	}
	views := strings.Fields(out)
	if len(views) == 0 {
		return fmt.Errorf("-th-no-views: no materialized view in %s", db)
	}
	for _, v := range views {
		if _, err := ch.query("DROP VIEW " + db + "." + v); err != nil {
			return fmt.Errorf("-th-no-views: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "-th-no-views: dropped %s from %s\n", strings.Join(views, ", "), db)
	return nil
}

// dirBytes is the size of the files in dir and below.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

// events are counters of the engine's system.events.
type events struct {
	inserts int64 // INSERT statements (InsertQuery)
	parts   int64 // parts written by INSERTs, in every table (materialized views' too)
}

// engineEvents reads the counters, in one query. The engine is the run's
// alone, so a difference over the run is the run's.
func engineEvents(ch chHTTP) (events, error) {
	out, err := ch.query("SELECT sumIf(value, name = 'InsertQuery'), " +
		"sumIf(value, name IN ('InsertedCompactParts', 'InsertedWideParts')) FROM system.events")
	if err != nil {
		return events{}, err
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return events{}, fmt.Errorf("system.events: unexpected answer %q", out)
	}
	var e events
	var err1, err2 error
	e.inserts, err1 = strconv.ParseInt(f[0], 10, 64)
	e.parts, err2 = strconv.ParseInt(f[1], 10, 64)
	return e, errors.Join(err1, err2)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func printTable(o opts, version string, results []*result) {
	fsync := "fsync on every write"
	if !o.fsync {
		fsync = "no fsync"
	}
	fmt.Printf("\nIngest benchmark: %d spans (5-span traces, ~10 attrs) / %d log records, %d per OTLP/gRPC request, %d senders, overflow %s; queues %s (persistent: file_storage, %s); %d round(s); engine: embedded chDB %s; %s, %d CPUs%s\n\n",
		o.spans, o.logs, o.perReq, o.workers, o.overflow, o.queues, fsync, o.runs, version, time.Now().UTC().Format("2006-01-02"), numCPU(), noViews(o))
	fmt.Println("| round | exporter | signal | queue | items accepted | rows stored (duplicates) | end-to-end s | items/s stored | items per collector CPU-s | collector CPU-s | engine CPU-s per 1k items | collector peak RSS MiB | collector disk writes MiB | queue files MiB | bytes/row on disk (as written) | bytes/row on disk (after OPTIMIZE FINAL) | INSERT statements | parts written |")
	fmt.Println("|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		s := r.spec
		if r.err != nil {
			fmt.Printf("| %d | %s | %s | %s | FAILED: %s |\n", s.round, s.exporter, s.signal, s.queue, strings.ReplaceAll(firstLine(r.err.Error()), "|", "/"))
			continue
		}
		rows := float64(r.stored)
		fmt.Printf("| %d | %s | %s | %s | %d | %d (%d) | %.2f | %.0f | %.0f | %.2f | %.3f | %.0f | %.1f | %.1f | %.1f | %.1f | %d | %d |\n",
			s.round, s.exporter, s.signal, s.queue, r.items, r.stored, r.stored-r.unique, r.e2e.Seconds(), r.rate(), r.perCPU(), r.colCPU,
			r.engCPU/(float64(r.unique)/1000), r.rssMiB(), float64(r.diskWrites)/(1<<20), float64(r.queueBytes)/(1<<20), float64(r.bytes)/rows, float64(r.bytesOpt)/rows, r.inserts, r.partsMade)
	}
	fmt.Println()
	fmt.Println("items = spans (traces) or log records (logs); rates count distinct items (uniqExact of TraceId,SpanId / Timestamp,Body), bytes are per stored row. End-to-end: first send until every accepted item is a visible row. CPU: utime+stime from /proc/PID/stat over that interval. Peak RSS: VmHWM of the collector process (one fresh collector per row). Collector disk writes: write_bytes of /proc/PID/io over the interval (the persistent queue; 0 with the queue in memory); queue files: their size after the run. Bytes on disk: sum(bytes_on_disk) of active parts of every table in the run's database (Tracehouse: spans + trace_index + red_1m + service-edge tables; contrib: otel_traces + otel_traces_trace_id_ts), right after the run and again after OPTIMIZE TABLE … FINAL. INSERT statements and parts written: differences of the engine's system.events (InsertQuery; InsertedCompactParts + InsertedWideParts, every table, the materialized views' included) over the run; contrib counts one statement per batch it sends (async inserts), and its parts are the server's flushes of them.")
	printSummary(results)
}

// noViews marks a table printed with -th-no-views.
func noViews(o opts) string {
	if !o.thNoViews {
		return ""
	}
	return "; Tracehouse WITHOUT its materialized views (-th-no-views: a ceiling, not the product)"
}

func (r *result) rate() float64   { return float64(r.unique) / r.e2e.Seconds() }
func (r *result) perCPU() float64 { return float64(r.unique) / r.colCPU }
func (r *result) rssMiB() float64 { return float64(r.hwmKB) / 1024 }
func (r *result) bytesPerRow() float64 {
	return float64(r.bytes) / float64(r.stored)
}

// printSummary prints, per (signal, queue), the medians of each exporter
// and the ratios Tracehouse ÷ contrib of the runs of one round: median,
// lowest and highest.
func printSummary(results []*result) {
	type key struct{ signal, queue string }
	type pair struct{ th, contrib *result }
	var keys []key
	byRound := map[key]map[int]*pair{}
	for _, r := range results {
		if r.err != nil {
			continue
		}
		k := key{r.spec.signal, r.spec.queue}
		if byRound[k] == nil {
			keys = append(keys, k)
			byRound[k] = map[int]*pair{}
		}
		p := byRound[k][r.spec.round]
		if p == nil {
			p = &pair{}
			byRound[k][r.spec.round] = p
		}
		if r.spec.exporter == "tracehouse" {
			p.th = r
		} else {
			p.contrib = r
		}
	}
	metrics := []struct {
		name string
		f    func(*result) float64
	}{
		{"items/s stored", (*result).rate},
		{"items per collector CPU-s", (*result).perCPU},
		{"collector peak RSS MiB", (*result).rssMiB},
		{"bytes/row as written", (*result).bytesPerRow},
	}
	fmt.Println()
	fmt.Println("Medians over the rounds, and Tracehouse ÷ contrib per round: median (lowest–highest) [rounds]")
	fmt.Println()
	fmt.Println("| signal | queue | metric | Tracehouse median | contrib median | Tracehouse ÷ contrib |")
	fmt.Println("|---|---|---|---:|---:|---:|")
	for _, k := range keys {
		rounds := byRound[k]
		for _, m := range metrics {
			var th, co, ratio []float64
			for _, p := range rounds {
				if p.th != nil {
					th = append(th, m.f(p.th))
				}
				if p.contrib != nil {
					co = append(co, m.f(p.contrib))
				}
				if p.th != nil && p.contrib != nil {
					ratio = append(ratio, m.f(p.th)/m.f(p.contrib))
				}
			}
			rs := "–"
			if len(ratio) > 0 {
				lo, hi := minMax(ratio)
				rs = fmt.Sprintf("%.2f× (%.2f–%.2f) [%d]", median(ratio), lo, hi, len(ratio))
			}
			fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", k.signal, k.queue, m.name, fmtMedian(th), fmtMedian(co), rs)
		}
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func minMax(v []float64) (lo, hi float64) {
	lo, hi = v[0], v[0]
	for _, x := range v[1:] {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

func fmtMedian(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	m := median(v)
	if m >= 100 {
		return fmt.Sprintf("%.0f", m)
	}
	return fmt.Sprintf("%.1f", m)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
