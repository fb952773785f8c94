// Package jsonlreceiver is a collector receiver (type "jsonl") for
// applications without an OpenTelemetry SDK: they POST newline-delimited
// JSON log lines, as zerolog, zap, slog, pino or bunyan write them, to
// /v1/logs/jsonl. Each line becomes one OTLP log record; see parse.go for
// the field mapping and receiver.go for the HTTP contract.
package jsonlreceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

// TypeStr is the receiver's type in collector configs.
const TypeStr = "jsonl"

var componentType = component.MustNewType(TypeStr)

// Defaults.
const (
	DefaultEndpoint          = "127.0.0.1:4319"
	DefaultPath              = "/v1/logs/jsonl"
	DefaultService           = "unknown_service"
	DefaultMaxLineSize       = 1 << 20
	DefaultMaxBodySize       = 16 << 20
	DefaultMaxReportedErrors = 100
	DefaultRetryAfter        = 5 * time.Second
)

// NewFactory returns the factory of the JSON-lines log receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(componentType, createDefaultConfig,
		receiver.WithLogs(createLogs, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = DefaultEndpoint
	server.MaxRequestBodySize = DefaultMaxBodySize
	return &Config{
		ServerConfig:      server,
		Path:              DefaultPath,
		DefaultService:    DefaultService,
		MaxLineSize:       DefaultMaxLineSize,
		MaxReportedErrors: DefaultMaxReportedErrors,
		RetryAfter:        DefaultRetryAfter,
	}
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return newReceiver(cfg.(*Config), set, next)
}
