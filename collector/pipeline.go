package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/collector/otelcol"
)

// PipelineSettings configure a collector started inside another process.
type PipelineSettings struct {
	// ConfigYAML is a whole collector configuration; empty means
	// AllInOneConfig(). ${env:…} references are resolved.
	ConfigYAML string
	// Overrides are more configuration URIs merged over it, in order, e.g.
	// "yaml:exporters::tracehouse::endpoint: http://127.0.0.1:9123/default".
	Overrides []string
	// Logger receives the collector's logs.
	Logger zerolog.Logger
}

// Pipeline is a running in-process collector.
type Pipeline struct {
	col  *otelcol.Collector
	done chan error
}

// StartPipeline starts a collector and returns once it is running (its
// receivers listen) or failed to start. ctx only bounds the start; stop the
// pipeline with Shutdown. The process's signals are left alone: the caller
// decides when to stop.
func StartPipeline(ctx context.Context, set PipelineSettings) (*Pipeline, error) {
	yaml := set.ConfigYAML
	if yaml == "" {
		yaml = AllInOneConfig()
	}
	uris := append([]string{"yaml:" + yaml}, set.Overrides...)
	cs := settings(uris, zapToZerolog(set.Logger))
	cs.DisableGracefulShutdown = true
	col, err := otelcol.NewCollector(cs)
	if err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	p := &Pipeline{col: col, done: make(chan error, 1)}
	go func() { p.done <- col.Run(context.Background()) }()

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-p.done:
			if err == nil {
				err = errors.New("stopped while starting")
			}
			return nil, fmt.Errorf("collector: %w", err)
		case <-ctx.Done():
			col.Shutdown()
			<-p.done
			return nil, fmt.Errorf("collector: start: %w", ctx.Err())
		case <-tick.C:
			if col.GetState() == otelcol.StateRunning {
				return p, nil
			}
		}
	}
}

// Done receives Run's result when the collector stops by itself (a
// component failed fatally) or after Shutdown.
func (p *Pipeline) Done() <-chan error { return p.done }

// Shutdown stops the collector gracefully (receivers first, then the
// queues drain as far as their exporters allow) and waits until it has
// stopped or ctx ends.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.col.Shutdown()
	select {
	case err := <-p.done:
		p.done <- err // Done still reports it
		return err
	case <-ctx.Done():
		return fmt.Errorf("collector: shutdown: %w", ctx.Err())
	}
}
