// Package collector is the Tracehouse OpenTelemetry Collector
// distribution: the components (components.go, in sync with
// builder-config.yaml), the shipped configurations (configs/), the
// collector command behind `tracehouse collector` and an in-process
// pipeline for `tracehouse all-in-one`.
package collector

import (
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/httpprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
	"go.uber.org/zap"
)

// Version is the distribution's version (set with -ldflags "-X …").
var Version = "dev"

// settings are the collector settings of this distribution. uris are the
// default configuration (a --config flag replaces them); logOpts redirect
// the collector's logs.
func settings(uris []string, logOpts ...zap.Option) otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		Factories: Components,
		BuildInfo: component.BuildInfo{
			Command:     "collector",
			Description: "Tracehouse collector: OTLP and JSON-lines logs into ClickHouse",
			Version:     Version,
		},
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				URIs: uris,
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
					yamlprovider.NewFactory(),
					httpprovider.NewFactory(),
				},
				DefaultScheme: "env",
			},
		},
		ProviderModules: map[string]string{
			"env":  "go.opentelemetry.io/collector/confmap/provider/envprovider v1.71.0",
			"file": "go.opentelemetry.io/collector/confmap/provider/fileprovider v1.71.0",
			"yaml": "go.opentelemetry.io/collector/confmap/provider/yamlprovider v1.71.0",
			"http": "go.opentelemetry.io/collector/confmap/provider/httpprovider v1.71.0",
		},
		LoggingOptions: logOpts,
	}
}

// NewCommand is the collector command of this distribution: otelcol's own
// command (run with --config FILE, and the validate, components,
// featuregate and print-config subcommands) with its logs sent to log.
// Without --config it runs the all-in-one configuration.
func NewCommand(log zerolog.Logger) *cobra.Command {
	return otelcol.NewCommand(settings([]string{"yaml:" + AllInOneConfig()}, zapToZerolog(log)))
}
