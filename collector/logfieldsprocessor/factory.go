// Package logfieldsprocessor is a collector processor (type "logfields")
// that maps log records from receivers outside OTLP — syslog, Fluent
// forward, tailed files — onto the fields Tracehouse filters on: the
// resource's service.name (service:), the record's severity (level:),
// flat attributes (attr.key:value) and log.source, the way in. It also
// counts and reports records a receiver could not parse (they carry the
// attribute log.parse_error) and drops binary junk. query/README.md
// ("Logs from syslog, Fluent and files") gives the mapping per receiver.
//
// It exists because the contrib transform and attributes processors are
// not available at the collector release Tracehouse is built on; what the
// receivers' own operators can do (parsing, moving fields) stays there.
package logfieldsprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
)

// TypeStr is the processor's type in collector configs.
const TypeStr = "logfields"

var componentType = component.MustNewType(TypeStr)

// NewFactory returns the factory of the logfields processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(componentType, createDefaultConfig,
		processor.WithLogs(createLogs, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config { return &Config{} }

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	p, err := newProcessor(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, p.process,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
