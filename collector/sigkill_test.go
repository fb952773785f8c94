package collector

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
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
// instead of the tests (see TestMain), so a test can SIGKILL a collector.
const childConfigEnv = "TRACEHOUSE_TEST_CHILD_COLLECTOR"

// runChildCollector is the child process: a collector until SIGTERM (or
// SIGKILL, which is the point).
func runChildCollector(yaml string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Str("process", "child collector").Logger()
	// As `tracehouse all-in-one` runs its pipeline.
	p, err := StartPipeline(ctx, PipelineSettings{ConfigYAML: yaml, Logger: log})
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

func startChild(t *testing.T, yaml, httpAddr string) *childCollector {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childConfigEnv+"="+yaml)
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
