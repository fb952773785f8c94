package collector

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/kafkaexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/fluentforwardreceiver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/jaegerreceiver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/kafkareceiver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/syslogreceiver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/zipkinreceiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/tracehouse/tracehouse/collector/logfieldsprocessor"
	"github.com/tracehouse/tracehouse/ingest/browserguardextension"
	"github.com/tracehouse/tracehouse/ingest/jsonlreceiver"
	"github.com/tracehouse/tracehouse/ingest/partialsuccessextension"
	"github.com/tracehouse/tracehouse/ingest/tracehouseexporter"
)

// Module versions, as in builder-config.yaml (a test keeps the two and
// go.mod in agreement).
const (
	coreModules    = " v0.165.0"
	contribModules = " v0.165.1"
	thisModule     = "github.com/tracehouse/tracehouse v0.0.0"
)

// Components lists the factories of the Tracehouse collector distribution.
// Keep it in sync with builder-config.yaml.
func Components() (otelcol.Factories, error) {
	var err error
	f := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}

	f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](
		otlpreceiver.NewFactory(),
		jsonlreceiver.NewFactory(),
		kafkareceiver.NewFactory(),
		// Off unless configured; all-in-one turns them on with --zipkin,
		// --jaeger, --syslog, --fluent and --tail-logs (AllInOneReceivers).
		zipkinreceiver.NewFactory(),
		jaegerreceiver.NewFactory(),
		syslogreceiver.NewFactory(),
		fluentForwardFactory(),
		filelogreceiver.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	f.ReceiverModules = map[component.Type]string{
		otlpreceiver.NewFactory().Type():          "go.opentelemetry.io/collector/receiver/otlpreceiver" + coreModules,
		jsonlreceiver.NewFactory().Type():         thisModule,
		kafkareceiver.NewFactory().Type():         "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/kafkareceiver" + contribModules,
		zipkinreceiver.NewFactory().Type():        "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/zipkinreceiver" + contribModules,
		jaegerreceiver.NewFactory().Type():        "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/jaegerreceiver" + contribModules,
		syslogreceiver.NewFactory().Type():        "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/syslogreceiver" + contribModules,
		fluentforwardreceiver.NewFactory().Type(): "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/fluentforwardreceiver" + contribModules,
		filelogreceiver.NewFactory().Type():       "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver" + contribModules,
	}

	f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](
		memorylimiterprocessor.NewFactory(),
		batchprocessor.NewFactory(),
		logfieldsprocessor.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	f.ProcessorModules = map[component.Type]string{
		memorylimiterprocessor.NewFactory().Type(): "go.opentelemetry.io/collector/processor/memorylimiterprocessor" + coreModules,
		batchprocessor.NewFactory().Type():         "go.opentelemetry.io/collector/processor/batchprocessor" + coreModules,
		logfieldsprocessor.NewFactory().Type():     thisModule,
	}

	f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](
		tracehouseexporter.NewFactory(),
		otlpexporter.NewFactory(),
		otlphttpexporter.NewFactory(),
		debugexporter.NewFactory(),
		kafkaexporter.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	f.ExporterModules = map[component.Type]string{
		tracehouseexporter.NewFactory().Type(): thisModule,
		otlpexporter.NewFactory().Type():       "go.opentelemetry.io/collector/exporter/otlpexporter" + coreModules,
		otlphttpexporter.NewFactory().Type():   "go.opentelemetry.io/collector/exporter/otlphttpexporter" + coreModules,
		debugexporter.NewFactory().Type():      "go.opentelemetry.io/collector/exporter/debugexporter" + coreModules,
		kafkaexporter.NewFactory().Type():      "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/kafkaexporter" + contribModules,
	}

	f.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](
		healthcheckextension.NewFactory(),
		filestorage.NewFactory(),
		bearertokenauthextension.NewFactory(),
		partialsuccessextension.NewFactory(),
		browserguardextension.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	f.ExtensionModules = map[component.Type]string{
		healthcheckextension.NewFactory().Type(): "github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension" + contribModules,
		filestorage.NewFactory().Type():          "github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage" + contribModules,
		// Bearer tokens on the receivers (auth: authenticator: …) and on
		// the otlp exporters of agents that forward to a gateway.
		bearertokenauthextension.NewFactory().Type(): "github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension" + contribModules,
		partialsuccessextension.NewFactory().Type():  thisModule,
		browserguardextension.NewFactory().Type():    thisModule,
	}

	f.Connectors, err = otelcol.MakeFactoryMap[connector.Factory]()
	if err != nil {
		return otelcol.Factories{}, err
	}
	f.ConnectorModules = map[component.Type]string{}
	return f, nil
}
