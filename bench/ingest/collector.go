package main

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/clickhouseexporter"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/tracehouse/tracehouse/ingest"
)

// runCollector is the `collector --config FILE` subcommand: a collector
// with the OTLP receiver and both exporters under test, nothing else (no
// processors), so the two pipelines differ only in their exporter.
func runCollector(args []string) error {
	factories := func() (otelcol.Factories, error) {
		var err error
		f := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
		if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
			return f, err
		}
		f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](
			ingest.NewFactory(),
			clickhouseexporter.NewFactory(),
		)
		return f, err
	}
	cmd := otelcol.NewCommand(otelcol.CollectorSettings{
		Factories: factories,
		BuildInfo: component.BuildInfo{Command: "bench-collector", Description: "ingest benchmark collector", Version: "bench"},
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), yamlprovider.NewFactory()},
				DefaultScheme:     "file",
			},
		},
	})
	cmd.SetArgs(args)
	return cmd.Execute()
}
