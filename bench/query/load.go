package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Databases of the layouts, all in the one engine.
const (
	dbTracehouse = "th"
	dbContrib    = "contrib"
	dbJaeger     = "jaeger"
)

// benchCollectorConfig is one collector that writes every request through
// both exporters (one pipeline per signal, two exporters each), so both
// layouts get exactly the same spans and logs. Queues block when full
// (the senders wait rather than retry). Tracehouse's exporter runs on its
// defaults; contrib's on its defaults (create_schema, async_insert) with
// the queue sized like Tracehouse's and a 30 s timeout, as in bench/ingest
// (with its default 5 s, slow inserts under load are retried after they
// were stored: duplicate rows).
func benchCollectorConfig(e *engine, otlpPort int) string {
	return fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
exporters:
  tracehouse:
    endpoint: %s
    sending_queue:
      block_on_overflow: true
  clickhouse:
    endpoint: http://%s
    username: %s
    password: %s
    database: %s
    timeout: 60s
    sending_queue:
      enabled: true
      sizer: items
      queue_size: 200000
      num_consumers: 2
      block_on_overflow: true
      batch:
        flush_timeout: 1s
        sizer: items
        min_size: 10000
        max_size: 20000
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [tracehouse, clickhouse]
    logs:
      receivers: [otlp]
      exporters: [tracehouse, clickhouse]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
`, otlpPort, e.dsn(dbTracehouse), e.addr(), e.user, e.password, dbContrib)
}

// collector is a running OTLP endpoint that writes one or more layouts.
type collector struct {
	name string
	p    *proc
	conn *grpc.ClientConn
}

func startCollector(name, dir string, cfgText string, port int, bin string, args ...string) (*collector, error) {
	cfg := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(cfg, []byte(cfgText), 0o600); err != nil {
		return nil, err
	}
	p, err := start(filepath.Join(dir, name+".log"), nil, bin, append(args, "--config", cfg)...)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitTCP(addr, 2*time.Minute, p); err != nil {
		p.stop(10 * time.Second)
		return nil, fmt.Errorf("%s collector: %w", name, err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		p.stop(10 * time.Second)
		return nil, err
	}
	return &collector{name: name, p: p, conn: conn}, nil
}

func (c *collector) stop() {
	c.conn.Close()
	c.p.stop(2 * time.Minute)
}

// exportRetrying sends one request, waiting and sending again while the
// collector says it is overloaded.
func exportRetrying(ctx context.Context, send func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := send(cctx)
		cancel()
		if err == nil {
			return nil
		}
		c := status.Code(err)
		if (c == codes.ResourceExhausted || c == codes.Unavailable || c == codes.DeadlineExceeded) && attempt < 600 && ctx.Err() == nil {
			time.Sleep(time.Duration(min(1000, 50*(attempt+1))) * time.Millisecond)
			continue
		}
		return err
	}
}

// parallel runs fn(k) for k in [from, to) on workers goroutines and
// returns the first error.
func parallel(ctx context.Context, workers, from, to int, fn func(ctx context.Context, k int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	next.Store(int64(from))
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= to || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, k); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// loadTraces sends requests [0, n) of sweep to every collector that takes
// traces: each request is made once and sent to all of them.
func loadTraces(ctx context.Context, d *dataset, sweep, n, workers int, cols []*collector) error {
	var done atomic.Int64
	t0 := time.Now()
	return parallel(ctx, workers, 0, n, func(ctx context.Context, k int) error {
		req := ptraceotlp.NewExportRequestFromTraces(d.traceRequest(sweep, k, n))
		for _, c := range cols {
			client := ptraceotlp.NewGRPCClient(c.conn)
			err := exportRetrying(ctx, func(ctx context.Context) error {
				resp, err := client.Export(ctx, req)
				if err == nil && resp.PartialSuccess().RejectedSpans() > 0 {
					return fmt.Errorf("%s rejected %d spans: %s", c.name, resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage())
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("send traces to %s: %w", c.name, err)
			}
		}
		if m := done.Add(1); m%200 == 0 {
			fmt.Fprintf(os.Stderr, "\r  traces: %d / %d requests (%.0f spans/s)   ", m, n, float64(m*tracesPerReq*spansPerTrace)/time.Since(t0).Seconds())
		}
		return nil
	})
}

// loadLogs sends log requests [0, n) of sweep to c.
func loadLogs(ctx context.Context, d *dataset, sweep, n, workers int, c *collector) error {
	var done atomic.Int64
	t0 := time.Now()
	client := plogotlp.NewGRPCClient(c.conn)
	return parallel(ctx, workers, 0, n, func(ctx context.Context, k int) error {
		req := plogotlp.NewExportRequestFromLogs(d.logRequest(sweep, k, n))
		err := exportRetrying(ctx, func(ctx context.Context) error {
			resp, err := client.Export(ctx, req)
			if err == nil && resp.PartialSuccess().RejectedLogRecords() > 0 {
				return fmt.Errorf("%s rejected %d log records: %s", c.name, resp.PartialSuccess().RejectedLogRecords(), resp.PartialSuccess().ErrorMessage())
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("send logs to %s: %w", c.name, err)
		}
		if m := done.Add(1); m%200 == 0 {
			fmt.Fprintf(os.Stderr, "\r  logs: %d / %d requests (%.0f records/s)   ", m, n, float64(m*logsPerReq)/time.Since(t0).Seconds())
		}
		return nil
	})
}

// waitRows waits until every table holds at least its expected rows.
func waitRows(e *engine, want map[string]int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for table, n := range want {
		for {
			got, err := e.int("SELECT count() FROM " + table)
			if err == nil && got >= n {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s holds %d rows of %d after %v (last error: %v)", table, got, n, timeout, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	return nil
}
