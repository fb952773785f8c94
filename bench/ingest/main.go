// Command ingest benchmarks the Tracehouse exporter against the contrib
// clickhouseexporter in one run on one machine: the same pre-generated
// OTLP traces and logs are sent over gRPC to one collector per
// (exporter, signal) — OTLP receiver, no processors, the exporter under
// test — and both write into one embedded engine (`tracehouse
// clickhouse`), each into its own database. It prints a markdown table.
//
//	cd bench/ingest && go run .            # from the repo root: make deps build first
//
// Each exporter runs with its sending queue in memory and in file_storage
// (-queue), -runs times, interleaved.
//
// Flags: -spans, -logs, -workers, -queue, -runs, -fsync, -tracehouse
// (binary), -lib (libchdb.so); -h lists them all.
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
	if len(os.Args) > 1 && os.Args[1] == "views" {
		if err := runViews(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench/ingest views:", err)
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
	flag.StringVar(&o.heapProfile, "heapprofile", "", "write each collector's heap profile (in use as of the last GC) every 2 s to DIR/<run>-heap-NN.pprof (go tool pprof -sample_index=inuse_space): where its peak RSS goes")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (engine data, configs, collector logs)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "longest wait for one run's rows to be visible")
	flag.StringVar(&o.queues, "queue", "memory,persistent", "sending queues, in this order: memory (in memory) and/or persistent (file_storage in a fresh directory per run; durable all-in-one's queue)")
	flag.BoolVar(&o.fsync, "fsync", true, "persistent queue: sync every queue write to disk (file_storage fsync), as all-in-one does unless --queue-fsync=false")
	flag.IntVar(&o.runs, "runs", 1, "rounds: every run (-only × -queue) this many times, interleaved; the table shows every run, the medians and the ratios per round")
	flag.IntVar(&o.thMinSize, "th-min-size", 0, "the Tracehouse exporter's sending_queue.batch.min_size (0: its default)")
	flag.IntVar(&o.thMaxSize, "th-max-size", 0, "the Tracehouse exporter's sending_queue.batch.max_size (0: its default)")
	flag.BoolVar(&o.thNoViews, "th-no-views", false, "drop the materialized views from Tracehouse's database before each Tracehouse run: its ceiling without RED, trace index, peer and publish edges or attribute catalogue (what the views cost end to end; not a configuration anyone runs)")
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
	overflow, queues                   string
	spans, logs, perReq, workers, runs int
	bin, lib, only, cpuProfile         string
	heapProfile                        string
	keep, fsync                        bool
	timeout                            time.Duration
	// thMinSize and thMaxSize override the Tracehouse exporter's
	// sending_queue.batch min_size and max_size (0: its defaults).
	thMinSize, thMaxSize int
	// thNoViews drops Tracehouse's materialized views before its runs.
	thNoViews bool
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
	spec             runSpec
	items            int64 // accepted by the receiver
	stored           int64 // rows visible at the end
	unique           int64 // distinct items among them
	sendTime, e2e    time.Duration
	colCPU, engCPU   float64
	hwmKB, rssFileKB int64
	bytes, bytesOpt  int64
	retries          int64
	diskWrites       int64 // bytes the collector wrote to disk (/proc/PID/io write_bytes)
	queueBytes       int64 // size of the persistent queue's files after the run
	inserts          int64 // INSERT statements the engine ran during the run
	partsMade        int64 // parts the engine wrote for them, in every table
	err              error
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
	if o.bin, o.lib, err = binaries(root, tmp, o.bin, o.lib); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	specs, err := plan(o)
	if err != nil {
		return err
	}

	eng, ch, chPort, err := startEngine(tmp, o.bin, o.lib)
	if err != nil {
		return err
	}
	defer eng.stop(30 * time.Second)
	version, _ := ch.query("SELECT version()")

	fmt.Fprintf(os.Stderr, "generating %d spans and %d log records...\n", o.spans, o.logs)
	traces := genTraces(o.spans, o.perReq, 42)
	logs := genLogs(o.logs, o.perReq, 43)
	debugGC()

	var results []*result
	for _, s := range specs {
		r := &result{spec: s}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "== %s (%d of %d)\n", s.id(), len(results), len(specs))
		r.err = oneRun(o, tmp, self, ch, eng.pid(), chPort, s, traces, logs, r)
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "   %s failed: %v\n", s.id(), r.err)
			continue
		}
		fmt.Fprintf(os.Stderr, "   %d accepted, %d rows (%d unique), e2e %v (sending %v, %d requests refused and sent again), collector %.1f cpu-s, engine %.1f cpu-s, hwm %d MiB (mapped files at the end %d MiB), collector wrote %.1f MiB to disk (queue files %.1f MiB), %d B on disk, %d INSERTs, %d parts written\n",
			r.items, r.stored, r.unique, r.e2e.Round(time.Millisecond), r.sendTime.Round(time.Millisecond), r.retries, r.colCPU, r.engCPU, r.hwmKB/1024, r.rssFileKB/1024,
			float64(r.diskWrites)/(1<<20), float64(r.queueBytes)/(1<<20), r.bytes, r.inserts, r.partsMade)
		afterRun(o, ch, r)
	}
	printTable(o, version, results)
	return nil
}

// binaries are the tracehouse binary and libchdb.so to run: the ones
// given, else the repository's, building tracehouse into tmp when
// bin/tracehouse is missing.
func binaries(root, tmp, bin, lib string) (string, string, error) {
	if lib == "" {
		lib = filepath.Join(root, ".deps/chdb/libchdb.so")
	}
	if bin != "" {
		return bin, lib, nil
	}
	bin = filepath.Join(root, "bin/tracehouse")
	if _, err := os.Stat(bin); err == nil {
		return bin, lib, nil
	}
	bin = filepath.Join(tmp, "tracehouse")
	fmt.Fprintln(os.Stderr, "building", bin)
	b := exec.Command("go", "build", "-o", bin, ".")
	b.Dir, b.Stdout, b.Stderr = root, os.Stderr, os.Stderr
	if err := b.Run(); err != nil {
		return "", "", fmt.Errorf("build tracehouse: %w", err)
	}
	return bin, lib, nil
}

// startEngine runs `tracehouse clickhouse` on a data folder in tmp, on a
// free port, and waits until it answers. The engine generates its password
// into its data folder on start (ch reads it there).
func startEngine(tmp, bin, lib string) (*proc, chHTTP, int, error) {
	port, err := freePort()
	if err != nil {
		return nil, chHTTP{}, 0, err
	}
	data, logPath := filepath.Join(tmp, "data"), filepath.Join(tmp, "engine.log")
	eng, err := start(logPath, nil, bin, "clickhouse", "--data", data, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--lib", lib)
	if err != nil {
		return nil, chHTTP{}, 0, err
	}
	ch := chHTTP{base: fmt.Sprintf("http://127.0.0.1:%d", port), hc: &http.Client{Timeout: 10 * time.Minute},
		passwordFile: filepath.Join(data, embedded.PasswordFileName)}
	if err := ch.waitUp(60 * time.Second); err != nil {
		eng.stop(30 * time.Second)
		return nil, chHTTP{}, 0, fmt.Errorf("engine did not come up (see %s): %w", logPath, err)
	}
	return eng, ch, port, nil
}

// runSpec is one run: one exporter, one signal, one sending queue, one
// round.
type runSpec struct {
	name, exporter, signal, table string // name: th-traces, contrib-logs, …
	queue                         string // memory or persistent
	round                         int    // from 1
}

// id names the run's files (config, log, queue directory, profile).
func (s runSpec) id() string { return fmt.Sprintf("%s-%s-r%d", s.name, s.queue, s.round) }

// db is the run's database: each run writes into a fresh one.
func (s runSpec) db() string { return strings.ReplaceAll(s.id(), "-", "_") }

// plan lists the runs: for each round, for each queue, the -only runs
// (Tracehouse and contrib alternating), so that every exporter meets the
// same machine. Even rounds run the list backwards, so neither exporter
// always goes first.
func plan(o opts) ([]runSpec, error) {
	base := []runSpec{
		{name: "th-traces", exporter: "tracehouse", signal: "traces", table: "spans"},
		{name: "contrib-traces", exporter: "clickhouse", signal: "traces", table: "otel_traces"},
		{name: "th-logs", exporter: "tracehouse", signal: "logs", table: "logs"},
		{name: "contrib-logs", exporter: "clickhouse", signal: "logs", table: "otel_logs"},
	}
	if o.only != "" { // a subset, in the order given
		var picked []runSpec
		for _, name := range strings.Split(o.only, ",") {
			found := false
			for _, s := range base {
				if s.name == strings.TrimSpace(name) {
					picked, found = append(picked, s), true
				}
			}
			if !found {
				return nil, fmt.Errorf("-only %q: want some of th-traces,contrib-traces,th-logs,contrib-logs", name)
			}
		}
		base = picked
	}
	var queues []string
	for _, q := range strings.Split(o.queues, ",") {
		q = strings.TrimSpace(q)
		if q != "memory" && q != "persistent" {
			return nil, fmt.Errorf("-queue %q: want memory, persistent or both (memory,persistent)", q)
		}
		queues = append(queues, q)
	}
	if o.runs < 1 {
		return nil, fmt.Errorf("-runs %d: want at least 1", o.runs)
	}
	var round []runSpec
	for _, q := range queues {
		for _, s := range base {
			s.queue = q
			round = append(round, s)
		}
	}
	var specs []runSpec
	for n := 1; n <= o.runs; n++ {
		for i := range round {
			s := round[i]
			if n%2 == 0 {
				s = round[len(round)-1-i]
			}
			s.round = n
			specs = append(specs, s)
		}
	}
	return specs, nil
}

// afterRun measures the run's disk after OPTIMIZE … FINAL on every table
// of its database, then drops the database (unless -keep), so that its
// merges do not run, and count, in the runs after it.
func afterRun(o opts, ch chHTTP, r *result) {
	db := r.spec.db()
	tables, err := ch.query(fmt.Sprintf("SELECT name FROM system.tables WHERE database = '%s' AND engine LIKE '%%MergeTree%%'", db))
	if err == nil {
		for _, t := range strings.Fields(tables) {
			if _, err := ch.query(fmt.Sprintf("OPTIMIZE TABLE %s.`%s` FINAL", db, t)); err != nil {
				fmt.Fprintln(os.Stderr, "optimize:", err)
			}
		}
	}
	r.bytesOpt, _ = ch.int(fmt.Sprintf("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '%s'", db))
	if o.keep {
		tb, _ := ch.query(fmt.Sprintf("SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts WHERE active AND database = '%s' GROUP BY table ORDER BY table", db))
		fmt.Fprintf(os.Stderr, "%s after OPTIMIZE FINAL:\n%s\n", db, tb)
		return
	}
	if _, err := ch.query("DROP DATABASE " + db + " SYNC"); err != nil {
		fmt.Fprintln(os.Stderr, "drop:", err)
	}
}

// queueExtension is the file_storage extension that holds a persistent
// sending queue.
const queueExtension = "file_storage/queue"

// collectorConfig is one run's collector: the OTLP receiver and the
// exporter under test, its sending queue in memory or, with queueDir set,
// in file_storage in that directory.
func collectorConfig(o opts, exporter, signal, db string, otlpPort int, ch chHTTP, chPort int, queueDir string) (string, error) {
	blockOnOverflow, fsync := o.overflow == "block", o.fsync
	storage, extensions, service := "", "", ""
	if queueDir != "" {
		// The same file_storage settings for both exporters: those of
		// all-in-one's queue (fsync as -fsync says), without compaction
		// (the queue files are measured after the run).
		storage = "      storage: " + queueExtension + "\n"
		extensions = fmt.Sprintf(`extensions:
  %s:
    directory: %q
    create_directory: true
    timeout: 10s
    fsync: %t
`, queueExtension, queueDir, fsync)
		service = "  extensions: [" + queueExtension + "]\n"
	}
	var exp string
	if exporter == "tracehouse" {
		// The Tracehouse exporter's defaults: items queue of 200k, 2
		// consumers, batches of 10k–50k, 1s flush. It reads the
		// engine's password from its file. With a persistent queue it
		// merges requests into batches in front of the queue (its group
		// commit, ingest/tracehouseexporter/groupcommit.go).
		var batch string
		if o.thMinSize > 0 || o.thMaxSize > 0 {
			batch = "      batch:\n"
			if o.thMinSize > 0 {
				batch += fmt.Sprintf("        min_size: %d\n", o.thMinSize)
			}
			if o.thMaxSize > 0 {
				batch += fmt.Sprintf("        max_size: %d\n", o.thMaxSize)
			}
		}
		exp = fmt.Sprintf(`  tracehouse:
    endpoint: http://%s@127.0.0.1:%d/%s?password_file=%s
    sending_queue:
      block_on_overflow: %t
%s%s`, embedded.DefaultUser, chPort, db, url.QueryEscape(ch.passwordFile), blockOnOverflow, storage, batch)
	} else {
		// The contrib exporter over HTTP (clickhouse-go), its defaults
		// (create_schema, async_insert, lz4) except the queue, sized like
		// Tracehouse's with batches of 10k–20k, and the timeout, 30s like
		// Tracehouse's: with the default 5s a slow insert is retried after
		// the server stored it, duplicating rows. With a persistent queue
		// the senders' requests are queued and batched after the queue
		// (exporterhelper's way).
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
%s      batch:
        flush_timeout: 1s
        sizer: items
        min_size: 10000
        max_size: 20000
`, chPort, db, embedded.DefaultUser, password, blockOnOverflow, storage)
	}
	return fmt.Sprintf(`%sreceivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
exporters:
%sservice:
%s  pipelines:
    %s:
      receivers: [otlp]
      exporters: [%s]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
`, extensions, otlpPort, exp, service, signal, exporter), nil
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
