package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// oneRun starts a collector for one (exporter, signal), sends the load,
// waits until every accepted item is a visible row and records the costs.
func oneRun(o opts, tmp, self string, ch chHTTP, engPID, chPort int, exporter, signal, db, table string,
	traces []ptraceotlp.ExportRequest, logs []plogotlp.ExportRequest, r *result) error {
	if _, err := ch.query("CREATE DATABASE IF NOT EXISTS " + db); err != nil {
		return err
	}
	otlpPort, err := freePort()
	if err != nil {
		return err
	}
	cfg := filepath.Join(tmp, r.name+".yaml")
	config, err := collectorConfig(exporter, signal, db, otlpPort, ch, chPort, o.overflow == "block")
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return err
	}
	logPath := filepath.Join(tmp, r.name+".log")
	var env []string
	if o.cpuProfile != "" {
		if err := os.MkdirAll(o.cpuProfile, 0o755); err != nil {
			return err
		}
		abs, _ := filepath.Abs(filepath.Join(o.cpuProfile, r.name+".pprof"))
		env = append(env, cpuProfileEnv+"="+abs)
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

	c0, err := cpuSeconds(col.pid())
	if err != nil {
		return err
	}
	e0, err := cpuSeconds(engPID)
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
	r.colCPU, r.engCPU = c1-c0, e1-e0
	r.hwmKB, _ = statusKB(col.pid(), "VmHWM")
	r.bytes, _ = ch.int(fmt.Sprintf("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '%s'", db))
	col.stop(30 * time.Second)
	if n, err := ch.int(count); err == nil {
		r.stored = n
	}
	if u, err := ch.int(uniq); err == nil {
		r.unique = u
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func printTable(o opts, version string, results []*result) {
	fmt.Printf("\nIngest benchmark: %d spans (5-span traces, ~10 attrs) / %d log records, %d per OTLP/gRPC request, %d senders; engine: embedded chDB %s; %s, %d CPUs\n\n",
		o.spans, o.logs, o.perReq, o.workers, version, time.Now().UTC().Format("2006-01-02"), numCPU())
	fmt.Println("| run | exporter | signal | items accepted | rows stored (duplicates) | end-to-end s | items/s stored | items per collector CPU-s | collector CPU-s | engine CPU-s per 1k items | collector peak RSS MiB | bytes/row on disk (as written) | bytes/row on disk (after OPTIMIZE FINAL) |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		if r.err != nil {
			fmt.Printf("| %s | %s | %s | FAILED: %s |\n", r.name, r.exporter, r.signal, strings.ReplaceAll(firstLine(r.err.Error()), "|", "/"))
			continue
		}
		n, rows := float64(r.unique), float64(r.stored)
		fmt.Printf("| %s | %s | %s | %d | %d (%d) | %.2f | %.0f | %.0f | %.2f | %.3f | %.0f | %.1f | %.1f |\n",
			r.name, r.exporter, r.signal, r.items, r.stored, r.stored-r.unique, r.e2e.Seconds(), n/r.e2e.Seconds(), n/r.colCPU, r.colCPU,
			r.engCPU/(n/1000), float64(r.hwmKB)/1024, float64(r.bytes)/rows, float64(r.bytesOpt)/rows)
	}
	fmt.Println()
	fmt.Println("items = spans (traces) or log records (logs); rates count distinct items (uniqExact of TraceId,SpanId / Timestamp,Body), bytes are per stored row. End-to-end: first send until every accepted item is a visible row. CPU: utime+stime from /proc/PID/stat over that interval. Peak RSS: VmHWM of the collector process (one fresh collector per row). Bytes on disk: sum(bytes_on_disk) of active parts of every table in the run's database (Tracehouse: spans + trace_index + red_1m + service-edge tables; contrib: otel_traces + otel_traces_trace_id_ts), right after the run and again after OPTIMIZE TABLE … FINAL.")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
