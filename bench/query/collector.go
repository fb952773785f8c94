package main

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/clickhouseexporter"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/tracehouse/tracehouse/ingest/tracehouseexporter"
)

// runCollector is the `collector --config FILE` subcommand: the OTLP
// receiver and the two exporters whose layouts are compared, nothing else,
// so both layouts are written by their own exporter from the same OTLP.
func runCollector(args []string) error {
	factories := func() (otelcol.Factories, error) {
		var err error
		f := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
		if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
			return f, err
		}
		f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](
			tracehouseexporter.NewFactory(),
			clickhouseexporter.NewFactory(),
		)
		return f, err
	}
	cmd := otelcol.NewCommand(otelcol.CollectorSettings{
		Factories: factories,
		BuildInfo: component.BuildInfo{Command: "bench-query-collector", Description: "query benchmark loader", Version: "bench"},
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
				DefaultScheme:     "file",
			},
		},
	})
	cmd.SetArgs(args)
	return cmd.Execute()
}
