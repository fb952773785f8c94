package tracehouseexporter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// Over process_memory_limit_mib the exporter refuses data before it enters
// the queue, with RESOURCE_EXHAUSTED and the retry delay, and counts the
// refusal; under it the same data is accepted and stored. The limits are
// real: 1 MiB is below any process's resident set, 1 TiB above this one's.
func TestOverMemoryLimitIsResourceExhausted(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	ctx := context.Background()

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { tel.Shutdown(ctx) })
	cfg := testConfig(chtest.DSN(t, db), db)
	cfg.ProcessMemoryLimitMiB = 1
	cfg.QueueFullRetryAfter = 4 * time.Second
	tight := startTraces(t, cfg, tel)
	err := tight.ConsumeTraces(ctx, ingesttest.NumberedTraces(1, 4, services, time.Now()))
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		t.Fatalf("over the memory limit: %v, want RESOURCE_EXHAUSTED", err)
	}
	if delay := ingesttest.RetryDelay(st); delay != 4*time.Second {
		t.Errorf("RetryInfo delay %v, want 4s", delay)
	}
	if errors.Is(err, exporterhelper.ErrQueueIsFull) {
		t.Errorf("a memory refusal must not read as a full queue: %v", err)
	}
	if n := sumMetric(t, tel, metricRefused, attribute.String("signal", "traces"), attribute.String("reason", refusedMemory)); n != 4 {
		t.Errorf("refused_items{reason=memory} = %d, want 4", n)
	}
	if n := sumMetric(t, tel, metricRefused, attribute.String("reason", refusedQueueFull)); n != 0 {
		t.Errorf("refused_items{reason=queue_full} = %d, want 0", n)
	}

	cfg = testConfig(chtest.DSN(t, db), db)
	cfg.CreateSchema = false
	cfg.ProcessMemoryLimitMiB = 1 << 20
	roomy := startTraces(t, cfg, nil)
	if err := roomy.ConsumeTraces(ctx, ingesttest.NumberedTraces(101, 4, services, time.Now())); err != nil {
		t.Fatalf("under the memory limit: %v", err)
	}
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans", 4)
	if n := ingesttest.Count(t, conn, "SELECT count() FROM "+db+".spans WHERE reinterpretAsUInt64(reverse(SpanId)) < 100"); n != 0 {
		t.Fatalf("%d refused spans were stored", n)
	}
}

// The resident set read from /proc is a plausible size: at least a MiB,
// less than a terabyte.
func TestResidentBytes(t *testing.T) {
	rss, err := residentBytes()
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 1<<40 {
		t.Fatalf("resident set %d bytes", rss)
	}
}

func TestNegativeMemoryLimitIsInvalid(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.ProcessMemoryLimitMiB = -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "process_memory_limit_mib") {
		t.Fatalf("Validate: %v, want an error naming process_memory_limit_mib", err)
	}
}
