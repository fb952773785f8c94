package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/clickhouseexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/tracehouse/tracehouse/ingest/tracehouseexporter"
)

// cpuProfileEnv names the file a collector writes its CPU profile to.
const cpuProfileEnv = "BENCH_INGEST_CPUPROFILE"

// runCollector is the `collector --config FILE` subcommand: a collector
// with the OTLP receiver and both exporters under test, nothing else (no
// processors), so the two pipelines differ only in their exporter; and
// file_storage, which holds a persistent sending queue (-queue persistent).
func runCollector(args []string) error {
	// -cpuprofile DIR: the whole collector process's CPU profile, from start
	// to SIGTERM (start-up and shutdown are a second or two of idle time).
	if path := os.Getenv(cpuProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
		// …and, next to it, what was allocated where (alloc_space).
		defer func() {
			if mf, err := os.Create(strings.TrimSuffix(path, ".pprof") + ".allocs.pprof"); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(mf, 0)
				mf.Close()
			}
		}()
	}
	factories := func() (otelcol.Factories, error) {
		var err error
		f := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
		if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
			return f, err
		}
		if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](
			tracehouseexporter.NewFactory(),
			clickhouseexporter.NewFactory(),
		); err != nil {
			return f, err
		}
		f.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](filestorage.NewFactory())
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
