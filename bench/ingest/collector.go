package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

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

// cpuProfileEnv names the file a collector writes its CPU profile to;
// heapProfileEnv, the prefix of the heap profiles it writes as it runs.
const (
	cpuProfileEnv  = "BENCH_INGEST_CPUPROFILE"
	heapProfileEnv = "BENCH_INGEST_HEAPPROFILE"
)

// heapProfileEvery spaces a collector's heap profiles: a run lasts 15–40 s.
const heapProfileEvery = 2 * time.Second

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
	// -heapprofile DIR: what the heap holds (as of the last GC), every
	// heapProfileEvery, to PREFIX-NN.pprof: the profiles near the peak
	// say where the collector's RSS goes.
	if prefix := os.Getenv(heapProfileEnv); prefix != "" {
		go func() {
			for i := 0; ; i++ {
				time.Sleep(heapProfileEvery)
				if f, err := os.Create(fmt.Sprintf("%s-%02d.pprof", prefix, i)); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
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
