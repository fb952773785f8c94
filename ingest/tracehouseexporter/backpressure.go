package tracehouseexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// When the sending queue is full, exporterhelper returns a plain
// ErrQueueIsFull, which otlpreceiver answers with gRPC UNAVAILABLE / HTTP 503
// and no retry hint. Tracehouse answers RESOURCE_EXHAUSTED / HTTP 429 with
// RetryInfo (otlpreceiver turns it into Retry-After), as OTLP asks for
// throttling: senders back off for the given delay instead of hammering a
// collector that is already behind. The exporter's front (admission.go)
// applies it after taking out what can never be stored.
//
// The same answer refuses data while the process is over its memory limit
// (memgate.go), before it enters the queue. Refused data was never
// acknowledged, so nothing is lost: the sender keeps it and sends it again.
// Every refusal is counted (tracehouse.exporter.refused_items, by reason)
// and logged at most once per refusalLogEvery.

// Reasons data is refused, the reason attribute of the refused metric.
const (
	refusedQueueFull = "queue_full"
	refusedMemory    = "memory"
)

// refusalLogEvery spaces the log lines about refused data: under overload
// every request is refused, and a line each would flood the log.
const refusalLogEvery = 10 * time.Second

// admission decides whether data may enter the sending queue and tells
// senders to back off when it may not.
type admission struct {
	retryAfter time.Duration
	memory     *memoryGate // nil: no process memory limit
	refused    metric.Int64Counter
	signal     attribute.KeyValue
	log        *zap.Logger
	items      string // what is counted: "spans" or "log records"

	mu      sync.Mutex
	lastLog time.Time
	since   map[string]int64 // items refused since the last log line, by reason
}

func newAdmission(c *Config, set exporter.Settings, sig signal) (*admission, error) {
	refused, err := set.MeterProvider.Meter(meterScope).Int64Counter(metricRefused, metric.WithUnit("{item}"),
		metric.WithDescription("Spans or log records refused before entering the sending queue (senders were told to retry later), by reason: queue_full (the sending queue is at its size or disk budget), memory (the process is over process_memory_limit_mib)."))
	if err != nil {
		return nil, err
	}
	a := &admission{
		retryAfter: c.QueueFullRetryAfter,
		refused:    refused,
		signal:     attribute.String("signal", string(sig)),
		log:        set.Logger,
		items:      "spans",
		since:      map[string]int64{},
	}
	if sig == signalLogs {
		a.items = "log records"
	}
	if c.ProcessMemoryLimitMiB > 0 {
		a.memory = newMemoryGate(uint64(c.ProcessMemoryLimitMiB) << 20)
	}
	return a, nil
}

// consume hands data of n items to next unless the process is over its
// memory limit, and turns a full queue into a throttling answer.
func (a *admission) consume(ctx context.Context, n int, next func() error) error {
	if a.memory != nil {
		if rss, over := a.memory.over(); over {
			a.refuse(ctx, refusedMemory, n)
			return throttleError(fmt.Sprintf("tracehouse: the process uses %d MiB, over its memory limit of %d MiB (process_memory_limit_mib); retry in %v",
				rss>>20, a.memory.limit>>20, a.retryAfter), a.retryAfter, nil)
		}
	}
	err := next()
	if err == nil || !errors.Is(err, exporterhelper.ErrQueueIsFull) {
		return err
	}
	a.refuse(ctx, refusedQueueFull, n)
	return throttleError(fmt.Sprintf("tracehouse exporter: sending queue is full (ClickHouse is slower than the incoming data); retry in %v", a.retryAfter), a.retryAfter, err)
}

// refuse counts a refusal and logs it, at most once per refusalLogEvery.
func (a *admission) refuse(ctx context.Context, reason string, n int) {
	a.refused.Add(ctx, int64(n), metric.WithAttributes(a.signal, attribute.String("reason", reason)))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.since[reason] += int64(n)
	now := time.Now()
	if now.Sub(a.lastLog) < refusalLogEvery {
		return
	}
	fields := []zap.Field{zap.Duration("retry_after", a.retryAfter)}
	for r, count := range a.since {
		fields = append(fields, zap.Int64("refused_"+r, count))
	}
	switch reason {
	case refusedMemory:
		a.log.Warn("Refusing new "+a.items+" (senders retry): the process is over its memory limit; nothing accepted is dropped", fields...)
	default:
		a.log.Warn("Refusing new "+a.items+" (senders retry): the sending queue is full, ClickHouse is slower than the incoming data; nothing accepted is dropped", fields...)
	}
	a.lastLog = now
	clear(a.since)
}

// throttleError is a RESOURCE_EXHAUSTED status with a retry delay, wrapping
// cause (nil for none).
func throttleError(msg string, retryAfter time.Duration, cause error) error {
	st := status.New(codes.ResourceExhausted, msg)
	if retryAfter > 0 {
		if withDelay, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}); derr == nil {
			st = withDelay
		}
	}
	return &throttledError{st: st, cause: cause}
}

// throttledError is a gRPC status (otlpreceiver and jsonlreceiver read it
// with status.FromError) that still matches its cause, e.g.
// errors.Is(err, exporterhelper.ErrQueueIsFull).
type throttledError struct {
	st    *status.Status
	cause error
}

func (e *throttledError) Error() string              { return e.st.Message() }
func (e *throttledError) GRPCStatus() *status.Status { return e.st }
func (e *throttledError) Unwrap() error              { return e.cause }
