package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// childConfigEnv makes the test binary run a collector with the YAML in it
// instead of the tests (see TestMain), so a test can SIGKILL a collector;
// childOverridesEnv holds configuration URIs merged over it (a JSON list).
const (
	childConfigEnv    = "TRACEHOUSE_TEST_CHILD_COLLECTOR"
	childOverridesEnv = "TRACEHOUSE_TEST_CHILD_OVERRIDES"
)

// runChildCollector is the child process: a collector until SIGTERM (or
// SIGKILL, which is the point).
func runChildCollector(yaml string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Str("process", "child collector").Logger()
	var overrides []string
	if s := os.Getenv(childOverridesEnv); s != "" {
		if err := json.Unmarshal([]byte(s), &overrides); err != nil {
			fmt.Fprintln(os.Stderr, "child collector overrides:", err)
			return 1
		}
	}
	// As `tracehouse all-in-one` runs its pipeline.
	p, err := StartPipeline(ctx, PipelineSettings{ConfigYAML: yaml, Overrides: overrides, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child collector:", err)
		return 1
	}
	select {
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = p.Shutdown(shutdownCtx)
	case err = <-p.Done():
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child collector:", err)
		return 1
	}
	return 0
}

// childCollector is a collector in its own process.
type childCollector struct {
	cmd    *exec.Cmd
	output *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startChild(t *testing.T, yaml, httpAddr string, overrides ...string) *childCollector {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childConfigEnv+"="+yaml)
	if len(overrides) > 0 {
		list, err := json.Marshal(overrides)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(cmd.Env, childOverridesEnv+"="+string(list))
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// The child dies with the test binary, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childCollector{cmd: cmd, output: out}
	t.Cleanup(func() { c.kill() })
	empty, err := ptraceBody(ptrace.NewTraces())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child collector to listen", func() bool {
		code, err := postOnce(httpAddr, empty)
		return err == nil && code == 200
	})
	return c
}

// kill is SIGKILL: no shutdown, no flush, whatever was in flight.
func (c *childCollector) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// SIGKILL, twice, mid-stream: once with ClickHouse up (batches in flight
// may be stored and then sent again: duplicates, counted and reported)
// and once with ClickHouse down (the persistent queue on disk holds what
// senders were told was accepted). Every acknowledged span ends up stored.
func TestSIGKILLWithPersistentQueue(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	proxy := ingesttest.StartFaultProxy(t, chtest.Server(t).Addr())
	ep := newEndpoints(t)
	yaml := persistentQueueConfig(ep, proxy.DSN("default"), db, t.TempDir(), "50ms", 100, 500)

	child := startChild(t, yaml, ep.http)
	const requests, perRequest = 60, 50
	s := startSender(ep.http, requests, perRequest)

	s.waitProgress(t, 15)
	child.kill() // ClickHouse up: whatever was in flight is lost or stored
	child = startChild(t, yaml, ep.http)

	s.waitProgress(t, 30)
	proxy.SetMode(ingesttest.Refuse)
	s.waitProgress(t, 40)
	waitFor(t, "the exporter to hit the outage", func() bool { return proxy.Refused() > 0 })
	child.kill() // ClickHouse down: the queue is on disk only
	child = startChild(t, yaml, ep.http)

	s.waitProgress(t, 50)
	proxy.SetMode(ingesttest.Pass)
	if err := <-s.done; err != nil {
		t.Fatalf("sender: %v\nchild output:\n%s", err, child.output.String())
	}
	sent := uint64(requests * perRequest)
	rows := waitAllSpansStored(t, conn, db, sent)
	t.Logf("sent %d spans (%d client retries across 2 SIGKILLs); stored %d distinct in %d rows: %d duplicates from at-least-once delivery",
		sent, s.retries.Load(), sent, rows, rows-sent)
}

// The shipped all-in-one configuration, as `tracehouse all-in-one` runs it
// (its sending queue in DATA/queue, retries without end): SIGKILL with
// ClickHouse up, then ClickHouse down while senders are still answered
// (their data is on disk only) and SIGKILL again. The collector started
// after the crash, with nothing more sent to it, drains the queue: every
// acknowledged span is stored.
func TestSIGKILLAllInOne(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	proxy := ingesttest.StartFaultProxy(t, chtest.Server(t).Addr())
	ep := newEndpoints(t)
	queue := filepath.Join(t.TempDir(), "data", "queue")
	overrides := []string{
		"yaml:exporters::tracehouse::endpoint: " + proxy.DSN(db),
		"yaml:receivers::otlp::protocols::grpc::endpoint: " + ep.grpc,
		"yaml:receivers::otlp::protocols::http::endpoint: " + ep.http,
		"yaml:receivers::jsonl::endpoint: " + ep.jsonl,
		"yaml:extensions::health_check::endpoint: " + freeAddr(t),
		"yaml:service::telemetry::metrics::level: none",
		// What all-in-one overrides: the queue in its data folder.
		"yaml:extensions::file_storage/queue::directory: " + queue,
		"yaml:extensions::file_storage/queue::compaction::directory: " + queue,
		// Small batches, so that a few requests make several inserts.
		"yaml:exporters::tracehouse::sending_queue::batch::flush_timeout: 50ms",
		"yaml:exporters::tracehouse::sending_queue::batch::min_size: 100",
		"yaml:exporters::tracehouse::sending_queue::batch::max_size: 500",
		"yaml:exporters::tracehouse::retry_on_failure::initial_interval: 100ms",
		"yaml:exporters::tracehouse::retry_on_failure::max_interval: 500ms",
	}
	yaml := AllInOneConfig()

	child := startChild(t, yaml, ep.http, overrides...)
	const requests, perRequest = 60, 50
	s := startSender(ep.http, requests, perRequest)
	s.waitProgress(t, 15)
	child.kill() // ClickHouse up: whatever was in flight is lost or stored
	child = startChild(t, yaml, ep.http, overrides...)

	s.waitProgress(t, 30)
	proxy.SetMode(ingesttest.Refuse)
	if err := <-s.done; err != nil { // every request answered 200 with ClickHouse down
		t.Fatalf("sender: %v\nchild output:\n%s", err, child.output.String())
	}
	waitFor(t, "the exporter to hit the outage", func() bool { return proxy.Refused() > 0 })
	child.kill() // ClickHouse down: the queue on disk holds what was acknowledged
	sent := uint64(requests * perRequest)
	onDiskOnly := sent - ingesttest.Count(t, conn, "SELECT uniqExact(SpanId) FROM "+db+".spans")
	if onDiskOnly == 0 {
		t.Fatal("every span was stored before the crash; the test shows nothing about the queue")
	}

	proxy.SetMode(ingesttest.Pass)
	child = startChild(t, yaml, ep.http, overrides...) // nothing more is sent: the restart drains the queue
	rows := waitAllSpansStored(t, conn, db, sent)
	if _, err := os.Stat(filepath.Join(queue, "exporter_tracehouse__traces")); err != nil {
		t.Errorf("no traces queue in the data folder: %v", err)
	}
	t.Logf("sent %d spans (%d client retries across 2 SIGKILLs); %d were on disk only at the second kill; stored %d distinct in %d rows: %d duplicates from at-least-once delivery",
		sent, s.retries.Load(), onDiskOnly, sent, rows, rows-sent)
}
