// Package partialsuccessextension is a collector extension (type
// "partialsuccess") that lets the OTLP receiver answer with OTLP's
// partialSuccess: how many spans or log records of a request were
// rejected, and why.
//
// otlpreceiver builds its response itself and, up to v0.165 at least,
// never fills partialSuccess: a request is answered OK (empty
// partialSuccess) or with an error for all of it, whatever the pipeline
// knows (open-telemetry/opentelemetry-collector#9243 says the same of
// pipelines in general). Tracehouse's exporter finds items it can never
// store (a span starting after 2262) while the sender still waits, before
// it queues the rest (ingest/tracehouseexporter, admission.go); it records
// them with RejectSpans or RejectLogRecords on the request's context. This
// extension, configured as a middleware of the receiver's servers, gives
// each request a context to record into and writes what was recorded into
// the response:
//
//	extensions:
//	  partialsuccess:
//	receivers:
//	  otlp:
//	    protocols:
//	      grpc:
//	        middlewares: [{id: partialsuccess}]
//	      http:
//	        middlewares: [{id: partialsuccess}]
//	service:
//	  extensions: [partialsuccess]
//
// The context reaches the exporter only through processors that pass it
// on while the sender waits (memory_limiter does; the batch processor does
// not, and then the response stays as otlpreceiver made it). The rejected
// items are also counted and logged by the exporter, whether or not the
// sender is told.
package partialsuccessextension

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
)

// TypeStr is the extension's type in collector configs.
const TypeStr = "partialsuccess"

var componentType = component.MustNewType(TypeStr)

// NewFactory returns the factory of the partialsuccess extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(componentType, createDefaultConfig, createExtension, component.StabilityLevelAlpha)
}

func createDefaultConfig() component.Config { return &Config{} }

func createExtension(_ context.Context, set extension.Settings, _ component.Config) (extension.Extension, error) {
	return &partialSuccess{log: set.Logger}, nil
}
