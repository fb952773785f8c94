package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/storage/embedded"
)

func TestByteSizes(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1 << 20, "2GiB": 2 << 30, "512MiB": 512 << 20, "512mib": 512 << 20, "1.5GB": 1_500_000_000,
		"10 KiB": 10 << 10, "3TB": 3e12, "7b": 7,
	} {
		got, err := parseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1GiB", "2XB", "GiB", "1e30"} {
		if _, err := parseByteSize(bad); err == nil || !strings.Contains(err.Error(), "2GiB") {
			t.Errorf("%q: %v, want an error with an example", bad, err)
		}
	}
	for n, want := range map[int64]string{2 << 30: "2GiB", 1536 << 20: "1536MiB", 1000: "1000", 0: "0"} {
		if got := formatByteSize(n); got != want {
			t.Errorf("%d printed %q, want %q", n, got, want)
		}
	}
}

// all-in-one's budgets: a 2 GiB queue on disk unless told otherwise, and
// one memory limit split between the engine (60%) and the ingest gate
// (90%); both reach the collector through its configuration.
func TestAllInOneBudgets(t *testing.T) {
	cfg, err := parseAllInOne(nil, cli.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.queueBudget != 2<<30 {
		t.Errorf("default queue budget %d, want 2GiB", cfg.queueBudget)
	}
	if m := machineMemory(); m > 0 && cfg.memoryLimit != m*80/100 {
		t.Errorf("default memory limit %d, want 80%% of %d", cfg.memoryLimit, m)
	}
	if cfg.engine.ReadTimeout != embedded.DefaultReadTimeout || cfg.engine.ReadMaxMemory != 0 {
		t.Errorf("default read limits %v %d, want %v and 0 (the engine's default, which follows its memory limit)",
			cfg.engine.ReadTimeout, cfg.engine.ReadMaxMemory, embedded.DefaultReadTimeout)
	}

	env := cli.Env{Lookup: lookup(map[string]string{EnvQueueBudget: "512MiB", EnvReadQueue: "3"})}
	if !cfg.queueFsync {
		t.Error("the queue does not sync to disk by default")
	}
	cfg, err = parseAllInOne([]string{"--memory-limit", "10GiB", "--read-timeout", "0", "--read-max-memory", "0", "--read-queue-wait", "2s", "--queue-fsync=false"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.queueBudget != 512<<20 || cfg.memoryLimit != 10<<30 || cfg.engine.MemoryLimit != 6<<30 {
		t.Errorf("budgets %d %d %d, want 512MiB, 10GiB and 6GiB for the engine", cfg.queueBudget, cfg.memoryLimit, cfg.engine.MemoryLimit)
	}
	if cfg.engine.ReadTimeout >= 0 || cfg.engine.ReadMaxMemory >= 0 || cfg.engine.ReadQueue != 3 || cfg.engine.ReadQueueWait != 2*time.Second {
		t.Errorf("read limits %+v, want none, none, queue 3, wait 2s", cfg.engine)
	}
	overrides := strings.Join(cfg.collectorOverrides("http://127.0.0.1:8123/default", "/data dir/queue"), "\n")
	for _, want := range []string{
		`yaml:extensions::file_storage/queue::directory: "/data dir/queue"`,
		"yaml:exporters::tracehouse::sending_queue::queue_size: 536870912",
		"yaml:exporters::tracehouse::process_memory_limit_mib: 9216",
		"yaml:exporters::tracehouse::create_schema: false",
		"yaml:extensions::file_storage/queue::fsync: false",
	} {
		if !strings.Contains(overrides, want) {
			t.Errorf("collector overrides lack %q:\n%s", want, overrides)
		}
	}

	if _, err := parseAllInOne([]string{"--queue-budget", "0"}, cli.Env{}); err == nil {
		t.Error("a queue budget of 0 was accepted")
	}

	cfg, err = parseAllInOne([]string{"--otlp-grpc", "127.0.0.1:14317", "--collector-metrics", "127.0.0.1:18888"}, cli.Env{})
	if err != nil {
		t.Fatal(err)
	}
	overrides = strings.Join(cfg.collectorOverrides("dsn", "q"), "\n")
	for _, want := range []string{
		"yaml:receivers::otlp::protocols::grpc::endpoint: 127.0.0.1:14317",
		`yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: "127.0.0.1", port: 18888}}}}]`,
	} {
		if !strings.Contains(overrides, want) {
			t.Errorf("collector overrides lack %q:\n%s", want, overrides)
		}
	}
	if strings.Contains(overrides, "otlp::protocols::http") {
		t.Errorf("an address not given was overridden:\n%s", overrides)
	}
	if _, err := parseAllInOne([]string{"--jsonl", "4319"}, cli.Env{}); err == nil {
		t.Error("--jsonl 4319 (no host:port) was accepted")
	}
}

func TestClickHouseEngineLimits(t *testing.T) {
	fs, cfg, _ := clickHouseFlags(cli.Env{})
	if err := fs.Parse([]string{"--memory-limit", "4GiB", "--read-queue", "5", "--read-max-memory", "1GiB"}); err != nil {
		t.Fatal(err)
	}
	finishReadLimits(fs, cfg)
	if cfg.MemoryLimit != 4<<30 || cfg.ReadQueue != 5 || cfg.ReadMaxMemory != 1<<30 || cfg.ReadTimeout != embedded.DefaultReadTimeout {
		t.Errorf("engine config %+v", cfg)
	}
	for flag, want := range map[string]string{"read-queue": EnvReadQueue, "read-queue-wait": EnvReadQueueWait,
		"read-timeout": EnvReadTimeout, "read-max-memory": EnvReadMaxMemory, "memory-limit": "TRACEHOUSE_CLICKHOUSE_MEMORY_LIMIT", "index-cache": EnvIndexCache} {
		if got := fs.EnvVars(flag); len(got) != 1 || got[0] != want {
			t.Errorf("--%s: variables %q, want %s", flag, got, want)
		}
	}
}
