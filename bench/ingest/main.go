// Command ingest benchmarks the Tracehouse exporter against the contrib
// clickhouseexporter in one run on one machine: the same pre-generated
// OTLP traces and logs are sent over gRPC to one collector per
// (exporter, signal) — OTLP receiver, no processors, the exporter under
// test — and both write into one embedded engine (`tracehouse
// clickhouse`), each into its own database. It prints a markdown table.
//
//	cd bench/ingest && go run .            # from the repo root: make deps build first
//
// Flags: -spans, -logs, -workers, -tracehouse (binary), -lib (libchdb.so).
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tracehouse/tracehouse/storage/embedded"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "collector" {
		if err := runCollector(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "collector:", err)
			os.Exit(1)
		}
		return
	}
	o := opts{}
	// A million items make runs of 15–40 s: sustained ingest. With 300k a
	// Tracehouse run lasted 4–6 s, where the last batch's 1 s flush
	// timeout, the collector's first batches (growing its buffers) and
	// the engine's first merges weigh as much as the steady state.
	flag.IntVar(&o.spans, "spans", 1_000_000, "spans per traces run (5-span traces)")
	flag.IntVar(&o.logs, "logs", 1_000_000, "log records per logs run")
	flag.IntVar(&o.perReq, "per-request", 500, "spans / log records per OTLP request")
	flag.IntVar(&o.workers, "workers", 4, "concurrent OTLP senders")
	flag.StringVar(&o.bin, "tracehouse", "", "tracehouse binary for the engine (default: <repo>/bin/tracehouse, built into a temp dir if missing)")
	flag.StringVar(&o.lib, "lib", "", "libchdb.so (default: <repo>/.deps/chdb/libchdb.so)")
	flag.StringVar(&o.only, "only", "", "comma-separated runs, in this order (default th-traces,contrib-traces,th-logs,contrib-logs)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write each collector's CPU profile to DIR/<run>.pprof and its allocations to DIR/<run>.allocs.pprof (go tool pprof)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (engine data, configs, collector logs)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "longest wait for one run's rows to be visible")
	flag.StringVar(&o.overflow, "overflow", "block", "what a full sending queue does, in both exporters: block (the receiver waits for room: the rate the pipeline sustains) or refuse (RESOURCE_EXHAUSTED; the senders pause and retry, and their pauses count in the end-to-end time)")
	flag.Parse()
	if o.overflow != "block" && o.overflow != "refuse" {
		fmt.Fprintf(os.Stderr, "-overflow %q: want block or refuse\n", o.overflow)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/ingest:", err)
		os.Exit(1)
	}
}

type opts struct {
	overflow                     string
	spans, logs, perReq, workers int
	bin, lib, only, cpuProfile   string
	keep                         bool
	timeout                      time.Duration
}

// repoRoot walks up from the working directory to the product module.
func repoRoot() (string, error) {
	dir, _ := os.Getwd()
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/tracehouse/tracehouse\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run inside the tracehouse checkout")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type proc struct {
	cmd  *exec.Cmd
	done chan error
	once sync.Once
}

func start(logPath string, env []string, name string, args ...string) (*proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); lf.Close() }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

type result struct {
	name, exporter, signal string
	items                  int64 // accepted by the receiver
	stored                 int64 // rows visible at the end
	unique                 int64 // distinct items among them
	sendTime, e2e          time.Duration
	colCPU, engCPU         float64
	hwmKB                  int64
	bytes, bytesOpt        int64
	retries                int64
	err                    error
}

func run(o opts) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "bench-ingest-")
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
			fmt.Fprintln(os.Stderr, "building", o.bin)
			b := exec.Command("go", "build", "-o", o.bin, ".")
			b.Dir, b.Stdout, b.Stderr = root, os.Stderr, os.Stderr
			if err := b.Run(); err != nil {
				return fmt.Errorf("build tracehouse: %w", err)
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	// The engine.
	chPort, err := freePort()
	if err != nil {
		return err
	}
	eng, err := start(filepath.Join(tmp, "engine.log"), nil, o.bin, "clickhouse",
		"--data", filepath.Join(tmp, "data"), "--listen", fmt.Sprintf("127.0.0.1:%d", chPort), "--lib", o.lib)
	if err != nil {
		return err
	}
	defer eng.stop(30 * time.Second)
	// The engine generates its password into its data folder on start.
	ch := chHTTP{base: fmt.Sprintf("http://127.0.0.1:%d", chPort), hc: &http.Client{Timeout: 10 * time.Minute},
		passwordFile: filepath.Join(tmp, "data", embedded.PasswordFileName)}
	if err := ch.waitUp(60 * time.Second); err != nil {
		return fmt.Errorf("engine did not come up (see %s): %w", filepath.Join(tmp, "engine.log"), err)
	}
	version, _ := ch.query("SELECT version()")

	fmt.Fprintf(os.Stderr, "generating %d spans and %d log records...\n", o.spans, o.logs)
	traces := genTraces(o.spans, o.perReq, 42)
	logs := genLogs(o.logs, o.perReq, 43)
	debugGC()

	type runSpec struct {
		name, exporter, signal, db, table string
	}
	specs := []runSpec{
		{"th-traces", "tracehouse", "traces", "th_traces", "spans"},
		{"contrib-traces", "clickhouse", "traces", "contrib_traces", "otel_traces"},
		{"th-logs", "tracehouse", "logs", "th_logs", "logs"},
		{"contrib-logs", "clickhouse", "logs", "contrib_logs", "otel_logs"},
	}
	if o.only != "" { // a subset, in the order given
		var picked []runSpec
		for _, name := range strings.Split(o.only, ",") {
			for _, s := range specs {
				if s.name == strings.TrimSpace(name) {
					picked = append(picked, s)
				}
			}
		}
		specs = picked
	}
	var results []*result
	for _, s := range specs {
		r := &result{name: s.name, exporter: s.exporter, signal: s.signal}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "== %s\n", s.name)
		r.err = oneRun(o, tmp, self, ch, eng.pid(), chPort, s.exporter, s.signal, s.db, s.table, traces, logs, r)
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "   %s failed: %v\n", s.name, r.err)
			continue
		}
		fmt.Fprintf(os.Stderr, "   %d accepted, %d rows (%d unique), e2e %v (sending %v, %d requests refused and sent again), collector %.1f cpu-s, engine %.1f cpu-s, hwm %d MiB, %d B on disk\n",
			r.items, r.stored, r.unique, r.e2e.Round(time.Millisecond), r.sendTime.Round(time.Millisecond), r.retries, r.colCPU, r.engCPU, r.hwmKB/1024, r.bytes)
	}
	// Disk after OPTIMIZE … FINAL on every table of each database.
	for i, r := range results {
		if r.err != nil {
			continue
		}
		db := specDB(r.name)
		tables, err := ch.query(fmt.Sprintf("SELECT name FROM system.tables WHERE database = '%s' AND engine LIKE '%%MergeTree%%'", db))
		if err == nil {
			for _, t := range strings.Fields(tables) {
				if _, err := ch.query(fmt.Sprintf("OPTIMIZE TABLE %s.`%s` FINAL", db, t)); err != nil {
					fmt.Fprintln(os.Stderr, "optimize:", err)
				}
			}
		}
		results[i].bytesOpt, _ = ch.int(fmt.Sprintf("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '%s'", db))
		if o.keep {
			tb, _ := ch.query(fmt.Sprintf("SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts WHERE active AND database = '%s' GROUP BY table ORDER BY table", db))
			fmt.Fprintf(os.Stderr, "%s after OPTIMIZE FINAL:\n%s\n", db, tb)
		}
	}
	printTable(o, version, results)
	return nil
}

func specDB(name string) string {
	return map[string]string{"th-traces": "th_traces", "contrib-traces": "contrib_traces", "th-logs": "th_logs", "contrib-logs": "contrib_logs"}[name]
}

func collectorConfig(exporter, signal, db string, otlpPort int, ch chHTTP, chPort int, blockOnOverflow bool) (string, error) {
	var exp string
	if exporter == "tracehouse" {
		// The Tracehouse exporter's defaults: items queue of 200k, 2
		// consumers, batches of 10k–50k, 1s flush. It reads the
		// engine's password from its file.
		exp = fmt.Sprintf(`  tracehouse:
    endpoint: http://%s@127.0.0.1:%d/%s?password_file=%s
    sending_queue:
      block_on_overflow: %t
`, embedded.DefaultUser, chPort, db, url.QueryEscape(ch.passwordFile), blockOnOverflow)
	} else {
		// The contrib exporter over HTTP (clickhouse-go), its defaults
		// (create_schema, async_insert, lz4) except the queue, sized like
		// Tracehouse's with batches of 10k–20k, and the timeout, 30s like
		// Tracehouse's: with the default 5s a slow insert is retried after
		// the server stored it, duplicating rows.
		password, err := ch.password()
		if err != nil {
			return "", err
		}
		exp = fmt.Sprintf(`  clickhouse:
    endpoint: http://127.0.0.1:%d
    database: %s
    username: %s
    password: %q
    timeout: 30s
    sending_queue:
      enabled: true
      sizer: items
      queue_size: 200000
      num_consumers: 2
      block_on_overflow: %t
      batch:
        flush_timeout: 1s
        sizer: items
        min_size: 10000
        max_size: 20000
`, chPort, db, embedded.DefaultUser, password, blockOnOverflow)
	}
	return fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
exporters:
%sservice:
  pipelines:
    %s:
      receivers: [otlp]
      exporters: [%s]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
`, otlpPort, exp, signal, exporter), nil
}

func waitTCP(addr string, d time.Duration, p *proc) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("collector exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
